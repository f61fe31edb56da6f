"""The runtime phase on the lab against the stand-in Docker 29 (API 1.44-1.52): cri-dockerd 0.3.14
(client API 1.43) cannot start - the issue's bug - and the default pair can.

`validate` refuses 0.3.14 with Docker 29 (provisioner/compat.py), so the first test turns that
check off, and only that, in the CLI process it starts (compat.CHECK_PAIRS = False): a test-only
switch with no inventory field or flag a user could set, used to prove the table right.

Upstream: moby/moby daemon/server/middleware/version.go (the daemon's refusal), Mirantis/cri-dockerd
core/docker_service.go getDockerVersion (cri-dockerd exits on it), docker/for-win#14997 (seen live).
"""

from __future__ import annotations

import subprocess
import sys

import yaml

from tests.standins import build
from tests.support.cli import REPO, run_cli
from tests.support.lab_inventory import lab_cli_args, lab_inventory

NODE = "node1"
NO_PAIR_CHECK = ("import runpy, sys; import provisioner.compat as c; c.CHECK_PAIRS = False; "
                 "sys.argv[0] = 'provisioner'; runpy.run_module('provisioner', run_name='__main__')")


def sh(lab, command):
    with lab.ssh(NODE) as s:
        return s.sudo(command)


def test_cri_dockerd_0_3_14_fails_against_docker_29_and_the_default_pair_works(pristine_lab, tmp_path):
    lab = pristine_lab
    inv = lab_inventory(lab, tmp_path)
    state = tmp_path / "state"
    args = ["-i", str(inv), *lab_cli_args(lab, state), "--limit", NODE]
    r = run_cli("up", *args, "--only", "prep", timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]

    old = yaml.safe_load(inv.read_text())
    old["cri_dockerd_version"] = "0.3.14"
    old_inv = tmp_path / "inventory-0.3.14.yaml"
    old_inv.write_text(yaml.safe_dump(old, sort_keys=False))
    refused = run_cli("validate", "-i", str(old_inv))
    # For 1.35+ the minor's minimum speaks first (cri-dockerd 0.4.0: the CRI RuntimeConfig call); its fix also
    # mends the Docker API pair (compat.py). The pair's own message: tests/test_compat.py.
    assert refused.returncode == 2 and "use cri_dockerd_version 0.4.0 or newer" in refused.stdout + refused.stderr

    r = subprocess.run([sys.executable, "-c", NO_PAIR_CHECK, "up", "-i", str(old_inv),
                        *lab_cli_args(lab, state), "--limit", NODE, "--only", "runtime"],
                       capture_output=True, text=True, cwd=REPO, timeout=900)
    text = r.stdout + r.stderr
    assert r.returncode == 1, text[-4000:]
    assert "FAILED in phase runtime on node1" in text and "cri-docker.service" in text, text[-4000:]
    journal = sh(lab, "journalctl --no-pager -u cri-docker.service").stdout
    assert ("failed to get docker version from dockerd: Error response from daemon: client version 1.43 is too "
            "old. Minimum supported API version is 1.44") in journal, journal[-3000:]
    assert sh(lab, "docker version --format '{{.Server.Version}} {{.Server.MinAPIVersion}}'").stdout.split() == \
        [build.DOCKER_VERSION, build.DOCKER_MIN_API_VERSION]

    # The default pair, on the same node: cri-dockerd is replaced and starts.
    r = run_cli("up", *args, "--only", "runtime", timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert sh(lab, "systemctl is-active cri-docker.service").stdout.strip() == "active"
    assert sh(lab, "cri-dockerd --version").stdout.split()[:2] == ["cri-dockerd", build.CRI_DOCKERD_VERSION]
    held = set(sh(lab, "apt-mark showhold").stdout.split())
    assert {"docker-ce", "docker-ce-cli", "containerd.io"} <= held
    assert sh(lab, "dpkg-query -W -f='${Version}' docker-ce").stdout == f"5:{build.DOCKER_VERSION}-1~debian.12~bookworm"
    print(text[-1500:])
