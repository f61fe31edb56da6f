"""What `render` wrote is what `up` left on the lab's nodes: every file, byte for byte (secret-bearing ones by
their masked form), with its mode and owner; run-time files (fetched keys, the copied kubeconfig) by their
origin; transient kubeadm configs gone.

The module builds the cluster once with `up` on a freshly booted lab, then renders with the same state
directory (the secrets, and the OS each node reported), then reads every node over SSH.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shlex
import subprocess
from urllib.parse import urlparse

import pytest

from provisioner.secrets import SecretStore
from tests.support.cli import run_cli
from tests.support.lab_inventory import lab_cli_args, lab_inventory, sh

NODES = ["master1", "master2", "master3", "node1", "node2", "node3", "ha1", "ha2"]


def mask(text: str, secrets) -> str:
    """``text`` with every secret value of the cluster as ``<redacted>`` (the masked form)."""
    for value in sorted(secrets.values(), key=len, reverse=True):
        text = text.replace(value, "<redacted>")
    return text


@pytest.fixture(scope="module")
def built(pristine_lab, tmp_path_factory):
    base = tmp_path_factory.mktemp("desired")
    inv, state, out = lab_inventory(pristine_lab, base), base / "state", base / "out"
    r = run_cli("up", "-i", str(inv), *lab_cli_args(pristine_lab, state), timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    r = run_cli("render", "-i", str(inv), "-o", str(out), "--state-dir", str(state))
    assert r.returncode == 0, r.stdout + r.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    return pristine_lab, state, out, manifest


def read_node(lab, node: str, paths: list[str]) -> dict[str, tuple[str, bytes] | None]:
    """path -> ("MODE OWNER GROUP", content) as on the node (None: absent), in one SSH command."""
    script = "; ".join(
        f"echo @@; if [ -e {p} ]; then stat -c '%a %U %G' {p}; base64 -w0 {p}; echo; else echo absent; fi"
        for p in (path if path.startswith("~") else shlex.quote(path) for path in paths))
    out = sh(lab, node, script).stdout
    found = {}
    for path, block in zip(paths, out.split("@@\n")[1:]):
        lines = block.splitlines()
        found[path] = None if lines[0] == "absent" else (lines[0], base64.b64decode(lines[1] if len(lines) > 1 else ""))
    return found


def test_every_file_on_every_node_is_what_render_wrote(built):
    lab, state, out, manifest = built
    secrets = SecretStore(state).load()
    assert {f["host"] for f in manifest["files"]} == set(NODES)
    problems = []
    for node in NODES:
        entries = [f for f in manifest["files"] if f["host"] == node]
        on_node = read_node(lab, node, [f["path"] for f in entries])
        for f in entries:
            where, found = f"{node}:{f['path']}", on_node[f["path"]]
            if f.get("transient"):     # a kubeadm config holding the token: removed right after its command
                if found is not None:
                    problems.append(f"{where}: still on the node")
                continue
            if found is None:
                problems.append(f"{where}: absent")
                continue
            meta, content = found
            if meta != f"{int(f['mode'], 8):o} {f['owner']} {f['group']}":
                problems.append(f"{where}: {meta}, rendered {f['mode']} {f['owner']} {f['group']}")
            rendered = (out / f["source"]).read_bytes()
            if f["merge"] == "block":      # our block inside the node's own file (/etc/hosts)
                if rendered not in content:
                    problems.append(f"{where}: the rendered block is not in the node's file")
            elif f["secret"]:
                ours, theirs = mask(rendered.decode(), secrets), mask(content.decode(), secrets)
                if ours != theirs:
                    problems.append(f"{where} differs (masked):\n--- node\n{theirs}\n--- render\n{ours}")
            elif rendered != content:
                problems.append(f"{where} differs:\n--- node\n{content.decode(errors='replace')}\n"
                                f"--- render\n{rendered.decode()}")
    assert not problems, "\n".join(problems)


def test_run_time_files_are_where_render_says_with_their_origin(built):
    """A fetched key is the dearmored key served at its origin URL; the copied kubeconfig is admin.conf."""
    lab, _, _, manifest = built
    runtime = manifest.get("runtime", [])
    assert {(f["host"], f["path"]) for f in runtime} >= {("node1", "/etc/apt/keyrings/docker.gpg"),
                                                        ("master1", "~ops/.kube/config")}
    problems = []
    for node in sorted({f["host"] for f in runtime}):
        entries = [f for f in runtime if f["host"] == node]
        on_node = read_node(lab, node, [f["path"] for f in entries] + ["/etc/kubernetes/admin.conf"])
        for f in entries:
            where, found = f"{node}:{f['path']}", on_node[f["path"]]
            if found is None:
                problems.append(f"{where}: absent")
                continue
            meta, content = found
            mode, owner = meta.split()[:2]
            if (f"{int(mode, 8):04o}", owner) != (f["mode"], f["owner"]):
                problems.append(f"{where}: {meta}, rendered {f['mode']} {f['owner']}")
            if f["origin"].startswith("http"):
                served = lab.repo.root / urlparse(f["origin"]).path.lstrip("/")
                key = subprocess.run(["gpg", "--dearmor"], input=served.read_bytes(), capture_output=True,
                                     check=True).stdout
                if content != key:
                    problems.append(f"{where}: not the dearmored {f['origin']}")
            elif hashlib.sha256(content).digest() != hashlib.sha256(on_node[f["origin"]][1]).digest():
                problems.append(f"{where}: not a copy of {f['origin']}")     # (a secret: never printed)
    assert not problems, "\n".join(problems)


def test_every_file_up_wrote_is_one_render_wrote(built):
    """The other direction, from what `up` did: each file its run log says it created is in render's tree."""
    import re

    _, state, out, manifest = built
    (log,) = (state / "logs").glob("up-*.log")
    created = set(re.findall(r"^\S+ (\S+): [\w-]+: create (/\S+)$", log.read_text(), re.MULTILINE))
    assert ("node1", "/etc/docker/daemon.json") in created, created      # the log says what it did
    rendered = {(f["host"], f["path"]) for f in manifest["files"]}
    assert created - rendered == set()
