"""Ctrl-C during a serial phase (no lab): the step running on the host finishes, nothing new starts; a second
Ctrl-C ends the process at once.

The engine runs in a child process (SIGINT at its default disposition, as in a terminal) over a stand-in
session whose only step sleeps, like a slow ``kubeadm join``. Before the engine ran serial phases in worker
threads, the KeyboardInterrupt landed inside the step itself (Fabric re-raises it in the thread running the
command when there is no pty: fabric/runners.py ``Remote.send_interrupt``), and the join was abandoned.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

from tests.support.cli import REPO

CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from types import SimpleNamespace
    from provisioner.engine import Engine, Reporter, UpOptions
    from provisioner.phases.base import Phase
    from provisioner.state import Journal
    from provisioner.steps import Change, FuncStep

    out, seconds = Path(sys.argv[1]), float(sys.argv[2])

    class Log:
        def note(self, host, text): pass
        def close(self): pass

    class Say(Reporter):
        def note(self, text): print(text, flush=True)

    def slow(sctx, change):
        (out / (sctx.remote.name + ".started")).write_text("")
        print("STEP-STARTED", sctx.remote.name, flush=True)
        time.sleep(seconds)                       # a kubeadm join in progress
        (out / (sctx.remote.name + ".done")).write_text("")

    def steps(ctx, host):
        return [FuncStep("join", None, lambda fact: Change("join"), slow)]

    hosts = [SimpleNamespace(hostname=n) for n in ("master2", "master3")]
    phase = Phase("join-control-planes", "one at a time", lambda inv: hosts, steps, serial=True)
    remotes = {h.hostname: SimpleNamespace(name=h.hostname, current_step="") for h in hosts}
    session = SimpleNamespace(remotes=remotes, redactor=lambda s: s)
    engine = Engine(SimpleNamespace(inv=None), session, Journal(out), UpOptions(), Say(), Log())
    try:
        engine.run_phase(phase)
        print("FINISHED", flush=True)
    except KeyboardInterrupt:
        print("INTERRUPTED", flush=True)
        sys.exit(130)
""")


def start(tmp_path, seconds: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path), str(seconds)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def read_until(proc: subprocess.Popen, marker: str, seen: list[str]) -> None:
    for line in proc.stdout:
        seen.append(line)
        if line.startswith(marker):
            return
    raise AssertionError(f"no {marker!r} in {''.join(seen)}{proc.stderr.read()}")


def test_first_ctrl_c_lets_the_running_step_finish_and_starts_nothing_new(tmp_path):
    proc = start(tmp_path, 2.0)
    seen: list[str] = []
    try:
        read_until(proc, "STEP-STARTED master2", seen)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = "".join(seen) + out + err
    assert proc.returncode == 130, text
    assert (tmp_path / "master2.done").exists(), "the step in progress was cut: " + text
    assert not (tmp_path / "master3.started").exists(), "a host started after Ctrl-C: " + text
    assert "interrupted: each host finishes the step it is in" in text


def test_second_ctrl_c_stops_at_once(tmp_path):
    proc = start(tmp_path, 60.0)
    seen: list[str] = []
    try:
        read_until(proc, "STEP-STARTED master2", seen)
        proc.send_signal(signal.SIGINT)
        read_until(proc, "interrupted:", seen)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, "".join(seen) + err
    assert not (tmp_path / "master2.done").exists()     # it did not wait for the 60 s step
    assert "interrupted again: stopping at once" in err
