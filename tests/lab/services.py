"""Host-side daemons serving the lab from the bridge address: NTP (chronyd -x).

The HTTP package repository lives in repo.py. Both are detached processes
with pidfiles in the lab state dir, so ``down`` from another process (the
CLI) can stop them.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

from .util import log, wait_for


def start_chronyd(state_dir: Path, address: str, subnet: str) -> int | None:
    """chronyd serving local time to ``subnet`` on ``address``:123, never
    touching the host clock (-x). Returns its pid, None if chronyd is absent."""
    exe = shutil.which("chronyd")
    if exe is None:
        log.warning("chronyd not installed on the host: lab nodes get no NTP server")
        return None
    conf = state_dir / "chrony.conf"
    conf.write_text(
        "# provisioner-lab: NTP server for the nodes, host clock untouched (-x)\n"
        f"bindaddress {address}\nallow {subnet}\nlocal stratum 8\n"
        f"cmdport 0\nbindcmdaddress /\npidfile {state_dir / 'chronyd.self.pid'}\n")
    with open(state_dir / "chronyd.log", "ab") as logf:
        proc = subprocess.Popen([exe, "-x", "-d", "-f", str(conf)],
                                stdin=subprocess.DEVNULL, stdout=logf,
                                stderr=subprocess.STDOUT, start_new_session=True)
    (state_dir / "chronyd.pid").write_text(f"{proc.pid}\n")
    return proc.pid


def stop_pidfile(pidfile: Path, must_contain: str) -> None:
    """SIGTERM (then SIGKILL) the process named in ``pidfile`` if its command
    line contains ``must_contain`` (guards against recycled pids)."""
    try:
        pid = int(pidfile.read_text().split()[0])
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, IndexError):
        pidfile.unlink(missing_ok=True)
        return
    if must_contain.encode() in cmd:
        kill_and_wait(pid)
    pidfile.unlink(missing_ok=True)


def kill_and_wait(pid: int, timeout: float = 5) -> None:
    """SIGTERM, wait, SIGKILL, wait; reap it if it is our child."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        try:
            wait_for(lambda: gone(pid), timeout=timeout, interval=0.05,
                     what=f"pid {pid} to exit")
            return
        except Exception:  # noqa: BLE001 - escalate to SIGKILL
            continue


def gone(pid: int) -> bool:
    """True once ``pid`` has exited (reaped here if it is our child)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


def pids_with_cmdline(fragment: str) -> list[int]:
    """Host pids whose command line contains ``fragment``."""
    me = os.getpid()
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        try:
            cmd = Path(f"/proc/{d}/cmdline").read_bytes()
        except OSError:
            continue
        if fragment.encode() in cmd:
            out.append(int(d))
    return out
