#!/usr/bin/env python3
"""Boot and remove the namespace lab (tests/lab) for molecule's default scenario.

    python lab.py create --inventory INV --workdir DIR [--name molecule]
    python lab.py destroy --workdir DIR [--name molecule]

create boots INV's hosts as lab nodes and writes what the other steps need
into DIR (molecule's ephemeral directory):

    DIR/inventory.yaml              INV with the lab's SSH key (PROVISIONER_INVENTORY)
    DIR/state/<cluster>-<id>/known_hosts the lab's host keys (PROVISIONER_STATE_DIR=DIR/state,
                                    so provisioner's default --known-hosts is this file)
    DIR/lab.json                    key, known_hosts, nodes (for molecule's instance config)

The lab lock. Every lab on this machine shares 172.31.250.0/24, so whoever has
one up holds the flock on /run/lock/provisioner-lab.lock (pytest sessions and
the benchmarks take it too). molecule runs create and destroy as separate
processes, so create starts a small detached *lock holder* (this script,
``hold``) that takes the lock - waiting for another session to finish, up to
MOLECULE_LAB_LOCK_WAIT seconds (default 1800) - and keeps it exactly as long as
the lab is up: it lets go when destroy removes the lease file DIR/lab.lease,
when the lab disappears (``python -m tests.lab down --name molecule``), or when
create dies before the lab is up. So ``molecule test``, and step by step
``molecule create`` ... ``molecule destroy``, both hold the lock for the lab's
whole life, and an interrupted run keeps it until its lab is removed.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from provisioner.state import default_state_dir  # noqa: E402
from provisioner.validation import load_inventory  # noqa: E402

# The lock tests.lab.fixtures.session_lock takes (same path). MOLECULE_LAB_LOCK_PATH is for
# tests/test_molecule_default.py only: a lab booted under another lock is not protected.
LOCK = Path(os.environ.get("MOLECULE_LAB_LOCK_PATH")
            or Path("/run/lock" if os.path.isdir("/run/lock") else "/tmp") / "provisioner-lab.lock")
LOCK_WAIT = float(os.environ.get("MOLECULE_LAB_LOCK_WAIT", "1800"))


def say(text: str) -> None:
    print(f"molecule lab: {text}", flush=True)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def poll(condition, timeout: float, interval: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise SystemExit(f"molecule lab: timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


# --- the lock holder ------------------------------------------------------------------

def hold(name: str, workdir: Path) -> int:
    """Take the lab lock, then keep it while the lease says the lab is (being) up."""
    from tests.lab.lab import state_dir_for

    lease = workdir / "lab.lease"
    status = workdir / "lab.lock-status"
    lab_state = state_dir_for(name) / "state.json"

    def lease_text() -> str | None:
        try:
            return lease.read_text().strip()
        except OSError:
            return None

    def owner_gone(text: str) -> bool:
        if not text.startswith("booting "):
            return False
        return not alive(int(text.split()[1]))

    with open(LOCK, "w") as f:
        deadline = time.monotonic() + LOCK_WAIT
        waiting = False
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                text = lease_text()
                if text is None or owner_gone(text):
                    return 1          # create gave up meanwhile
                if not waiting:
                    status.write_text("waiting\n")
                    say(f"another lab session holds {LOCK}; waiting for it (up to {LOCK_WAIT:.0f}s)")
                    waiting = True
                if time.monotonic() >= deadline:
                    status.write_text("timeout\n")
                    return 1
                time.sleep(1)
        status.write_text("held\n")
        say(f"holding {LOCK} for lab {name}")
        seen_up = False
        while True:
            text = lease_text()
            if text is None:
                break                                 # destroy (or create's cleanup) released it
            if owner_gone(text):
                break                                 # create died before the lab was up
            if text == "up":
                if lab_state.exists():
                    seen_up = True
                elif seen_up:
                    break                             # the lab was removed behind our back
            time.sleep(0.5)
        fcntl.flock(f, fcntl.LOCK_UN)
    status.write_text("released\n")
    say(f"released {LOCK}")
    return 0


def start_holder(name: str, workdir: Path) -> int:
    """Start the detached lock holder; return once it holds the lock."""
    status = workdir / "lab.lock-status"
    status.unlink(missing_ok=True)
    with open(workdir / "lab.lock-holder.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, __file__, "hold", "--name", name, "--workdir", str(workdir)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True)
    (workdir / "lab.lock-holder.pid").write_text(f"{proc.pid}\n")
    told = False

    def got_it():
        nonlocal told
        state = status.read_text().strip() if status.exists() else ""
        if state == "waiting" and not told:
            say(f"another lab session holds {LOCK} (a pytest run or a benchmark); "
                f"waiting for it, up to {LOCK_WAIT:.0f}s (MOLECULE_LAB_LOCK_WAIT)")
            told = True
        if state in ("timeout",) or proc.poll() is not None:
            raise SystemExit(f"molecule lab: could not get {LOCK} within {LOCK_WAIT:.0f}s: another lab "
                             "session still holds it (only one lab can be up on this machine); try again later")
        return state == "held"

    poll(got_it, LOCK_WAIT + 30, 0.2, f"the lab lock {LOCK}")
    return proc.pid


def stop_holder(workdir: Path) -> None:
    """Release the lease and wait for the holder (the pid we started) to let go of the lock."""
    (workdir / "lab.lease").unlink(missing_ok=True)
    pidfile = workdir / "lab.lock-holder.pid"
    try:
        pid = int(pidfile.read_text())
    except (OSError, ValueError):
        return
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        cmdline = b""
    if b"lab.py\0hold" in cmdline:
        try:
            poll(lambda: not alive(pid), 15, 0.1, f"the lock holder (pid {pid}) to exit")
        except SystemExit:
            os.kill(pid, 15)
    pidfile.unlink(missing_ok=True)


# --- create / destroy -----------------------------------------------------------------

def create(name: str, inventory: Path, workdir: Path) -> int:
    from tests.lab.lab import Lab
    from tests.lab.requirements import missing_requirements
    from tests.support.lab_inventory import lab_inventory

    reasons = missing_requirements()
    if reasons:
        raise SystemExit("molecule lab: this machine cannot boot the lab: " + "; ".join(reasons))
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ["PROVISIONER_STATE_DIR"] = str(workdir / "state")
    state = default_state_dir(load_inventory(inventory))     # where provisioner looks by default
    shutil.rmtree(state, ignore_errors=True)   # a fresh lab: no journal, secrets or host keys of an old one
    lease = workdir / "lab.lease"
    lease.write_text(f"booting {os.getpid()}\n")
    start_holder(name, workdir)
    lab = Lab(inventory, name=name)
    try:
        lab.up()
        inv = lab_inventory(lab, workdir, source=inventory)
        state.mkdir(parents=True, mode=0o700)
        shutil.copyfile(lab.known_hosts_path, state / "known_hosts")
        info = {"name": name, "inventory": str(inv), "state_dir": str(state),
                "key": str(lab.key_path), "known_hosts": str(state / "known_hosts"),
                "nodes": [{"name": n.hostname, "address": n.address} for n in lab.nodes.values()]}
        (workdir / "lab.json").write_text(json.dumps(info, indent=1) + "\n")
        lease.write_text("up\n")
    except BaseException:
        lab.down()
        stop_holder(workdir)
        raise
    say(f"{len(lab.nodes)} nodes up; inventory {inv}, known_hosts {state / 'known_hosts'}")
    return 0


def destroy(name: str, workdir: Path) -> int:
    from tests.lab.lab import destroy as destroy_lab

    try:
        destroy_lab(name)
    finally:
        stop_holder(workdir)
    (workdir / "lab.json").unlink(missing_ok=True)
    say(f"lab {name} removed, lock released")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["create", "destroy", "hold"])
    parser.add_argument("--inventory", type=Path, help="the scenario's inventory (create)")
    parser.add_argument("--workdir", type=Path, required=True, help="molecule's ephemeral directory")
    parser.add_argument("--name", default="molecule", help="lab name (default molecule)")
    args = parser.parse_args(argv)
    if args.command == "hold":
        return hold(args.name, args.workdir)
    if args.command == "create":
        if not args.inventory:
            parser.error("create needs --inventory")
        return create(args.name, args.inventory.resolve(), args.workdir)
    return destroy(args.name, args.workdir)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
