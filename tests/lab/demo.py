"""The main job, end to end, on this machine: boot the lab, `provisioner up` the lab's
inventory (inventories/lab.yaml, passed with -i) on it, prove it with `provisioner verify --failover`.

    sudo .venv/bin/python -m tests.lab demo [--keep]

Kubernetes binaries are the stand-ins from tests/standins (served by the
lab's package repositories); keepalived, haproxy, chrony, sshd, sudo,
systemd and apt are real. Output and state go to ./demo/ (inventory copy
with the lab's key, the cluster's state directory, the JSON reports).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from .config import REPO_ROOT
from .fixtures import session_lock
from .lab import Lab


def run(*args: str) -> int:
    print("$ provisioner " + " ".join(args), flush=True)
    return subprocess.call([sys.executable, "-m", "provisioner", *args], cwd=REPO_ROOT)


def demo(keep: bool = False, directory: Path = REPO_ROOT / "demo") -> int:
    from tests.support.lab_inventory import lab_cli_args, lab_inventory

    directory.mkdir(exist_ok=True)
    lab = Lab()
    with session_lock(lab.name):
        try:
            lab.up()
            inv = lab_inventory(lab, directory)
            # lab.up() booted brand-new machines (new machine-ids, host keys, empty disks): the state of a
            # cluster built on an earlier lab (its CA, tokens, known_hosts, journal) belongs to machines
            # that no longer exist. A new lab gets a new state directory.
            state = directory / "state"
            if state.exists():
                print(f"new lab: removing the state of the previous demo's cluster ({state})")
                shutil.rmtree(state)
            common = [*lab_cli_args(lab, state)]
            rc = run("up", "-i", str(inv), *common, "--json", str(directory / "up.json"))
            if rc == 0:
                rc = run("up", "-i", str(inv), *common)          # the re-run: 0 changed
            if rc == 0:
                rc = run("verify", "-i", str(inv), *common, "--failover", "--json", str(directory / "verify.json"))
            print(f"\nreports: {directory}/up.json, {directory}/verify.json; state: {state}")
            if keep:
                print("lab kept: `python -m tests.lab ssh master1`, `python -m tests.lab down` when done")
            return rc
        finally:
            if not keep:
                lab.down()
