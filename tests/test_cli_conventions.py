"""The CLI's conventions and its safety rails, as a user meets them (issue 21): state per cluster,
every bad path one line and exit 2, --version/-h/bare help, one host-selection option everywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.cli import REPO, run_cli

SEED = str(REPO / "inventories/seed-ha.yaml")


def _variant(tmp_path: Path, name: str, **changes) -> Path:
    data = yaml.safe_load((REPO / "inventories/seed-ha.yaml").read_text())
    data.update(changes)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _one_line_exit_2(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    return lines[0]


def test_two_clusters_of_one_name_never_share_a_state_directory(tmp_path):
    """Same cluster_name, other endpoint: the default state directories differ (other CA); one given
    --state-dir of the other cluster stops with exit 2 naming the cluster it belongs to."""
    env = {"PROVISIONER_STATE_DIR": str(tmp_path / "states")}
    other = _variant(tmp_path, "other", control_plane_endpoint={"name": "kubeapi", "address": "10.0.0.200"})
    for inv in (SEED, other):
        result = run_cli("render", "-i", str(inv), "-o", str(tmp_path / Path(inv).stem), env=env)
        assert result.returncode == 0, result.stderr
    dirs = sorted((tmp_path / "states").iterdir())
    assert len(dirs) == 2 and all(d.name.startswith("seed-") for d in dirs), dirs
    cas = {(d / "secrets.yaml").read_text().split("ca_cert_pem")[1][:200] for d in dirs}
    assert len(cas) == 2, "two clusters got one CA"
    ident = json.loads((dirs[0] / "cluster-id.json").read_text())
    assert ident["cluster"] == "seed" and dirs[0].name == f"seed-{ident['fingerprint'][:8]}"

    shared = tmp_path / "shared"
    assert run_cli("render", "-i", SEED, "-o", str(tmp_path / "a"), "--state-dir", str(shared)).returncode == 0
    for args in (["render", "-o", str(tmp_path / "b")], ["up", "--plan"], ["reset", "--yes"], ["verify"],
                 ["kubeconfig"], ["preflight"]):
        line = _one_line_exit_2(run_cli(*args, "-i", str(other), "--state-dir", str(shared)))
        assert line.startswith(f"{shared}: holds the state of cluster seed (endpoint kubeapi.example.org 10.0.0.100"), line
        assert "pass --state-dir DIR" in line, line


def test_state_of_an_earlier_release_is_never_reused_silently(tmp_path):
    """BASE/<cluster> without cluster-id.json (where every cluster of that name lived before): the command
    stops and says how to adopt it (mv) or to choose; after the mv the cluster's own CA is used again."""
    env = {"PROVISIONER_STATE_DIR": str(tmp_path)}
    old = tmp_path / "seed"
    assert run_cli("render", "-i", SEED, "-o", str(tmp_path / "a"), "--state-dir", str(old)).returncode == 0
    (old / "cluster-id.json").unlink()                   # as an earlier release left it
    ca = (old / "secrets.yaml").read_text()
    line = _one_line_exit_2(run_cli("render", "-i", SEED, "-o", str(tmp_path / "b"), env=env))
    assert line.startswith(f"{old}: state of a cluster named seed from an earlier release"), line
    new = Path(line.split("`mv ")[1].split("`")[0].split()[1])
    assert new.parent == tmp_path and new.name.startswith("seed-") and not new.exists()
    old.rename(new)
    assert run_cli("render", "-i", SEED, "-o", str(tmp_path / "b"), env=env).returncode == 0
    assert (new / "secrets.yaml").read_text() == ca and (new / "cluster-id.json").exists()


@pytest.mark.parametrize("args, words", [
    (["render", "-i", SEED, "-o", "FILE"], "-o {tmp}/FILE: is a file - give a directory"),
    (["render", "-i", SEED, "-o", "/proc/nope"], "-o /proc/nope: cannot write there"),
    (["render", "-i", SEED, "-o", "missing/out"], "does not exist - create it first"),
    (["render", "-i", SEED, "--state-dir", "FILE"], "--state-dir {tmp}/FILE: is a file - give a directory"),
    (["inventory", "schema", "-o", "missing/x.json"], "-o {tmp}/missing/x.json: directory {tmp}/missing does not exist"),
    (["inventory", "schema", "-o", "."], "-o {tmp}: is a directory - give a file name"),
    (["vagrantfile", "-i", SEED, "-o", "missing/Vagrantfile"], "directory {tmp}/missing does not exist"),
    (["up", "-i", SEED, "--plan", "--json", "missing/up.json"], "--json {tmp}/missing/up.json: directory"),
    (["verify", "-i", SEED, "--json", "missing/v.json"], "--json {tmp}/missing/v.json: directory"),
    (["preflight", "-i", SEED, "--format", "json", "-o", "missing/p.json"], "-o {tmp}/missing/p.json: directory"),
])
def test_every_bad_output_path_is_one_line_exit_2(tmp_path, args, words):
    (tmp_path / "FILE").write_text("mine\n")
    args = [str(tmp_path / a) if a in ("FILE", "missing/out", "missing/x.json", "missing/Vagrantfile", ".",
                                       "missing/up.json", "missing/v.json", "missing/p.json") else a for a in args]
    if "--state-dir" not in args:
        args += ["--state-dir", str(tmp_path / "state")] if args[0] not in ("inventory", "vagrantfile") else []
    line = _one_line_exit_2(run_cli(*args, timeout=60))
    assert words.format(tmp=tmp_path) in line, line
    assert not (tmp_path / "missing").exists(), "a missing parent was created"
    assert (tmp_path / "FILE").read_text() == "mine\n"


def test_version_short_help_and_bare_command():
    version = run_cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("provisioner "), version.stderr
    for args in (["-h"], [], ["inventory"], ["up", "-h"], ["inventory", "schema", "-h"]):
        result = run_cli(*args)
        assert result.returncode == 0 and result.stdout.startswith("Usage:"), (args, result.stderr)
    helptext = run_cli("up", "-h").stdout
    assert "<list" not in helptext and "--limit, --host HOSTS" in helptext and "--only PHASE" in helptext


def test_one_host_selection_option_everywhere(tmp_path):
    """--limit (alias --host) on render, preflight, up and reset: commas, ranges, repeats, one line for a stranger."""
    state = ["--state-dir", str(tmp_path / "s")]
    out = tmp_path / "out"
    result = run_cli("render", "-i", SEED, "-o", str(out), "--limit", "master[1-2]", "--host", "ha1", *state)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["ha1", "manifest.json", "master1", "master2"]
    for command in (["preflight"], ["up", "--plan"], ["reset", "--yes"], ["render", "-o", str(out)]):
        for option in ("--limit", "--host"):
            line = _one_line_exit_2(run_cli(*command, "-i", SEED, option, "node[1-4]", *state))
            assert line.startswith(f"{'--limit'}: unknown host node4 - choose from master1"), (command, line)
    for bad in ("node[a-c]", "node[3-1]"):
        assert "cannot read" in _one_line_exit_2(run_cli("up", "-i", SEED, "--limit", bad, *state))
    for empty in ("", ","):       # never "every host"
        assert "names no host" in _one_line_exit_2(run_cli("reset", "-i", SEED, "--yes", "--limit", empty, *state))


def test_completion_offers_phases_formats_and_the_inventorys_hosts(tmp_path):
    """Shell completion (bash protocol of click) of --only, --format and --limit."""
    # Completion keys on the program's name: run the entry point as the `provisioner` script would.
    script = "import sys; sys.argv[0] = 'provisioner'; from provisioner.cli import main; main()"

    def complete(words: str) -> list[str]:
        env = {**os.environ, "_PROVISIONER_COMPLETE": "complete_bash", "COMP_WORDS": f"provisioner {words}",
               "COMP_CWORD": str(len(words.split()))}
        return subprocess.run([sys.executable, "-c", script], env=env, cwd=REPO, capture_output=True, text=True, timeout=60).stdout.split()

    assert "join-workers" in complete("up --only j") or "join-control-planes" in complete("up --only j")
    assert complete("preflight --format j") == ["json", "junit"]
    assert complete(f"up -i {SEED} --limit mas") == ["master1", "master2", "master3"]
