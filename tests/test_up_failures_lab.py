"""`up` failing the way hosts fail: never a traceback, always one summary, the --json report, the exit code.

Issue 10, items 6, 7 (the state-dir lock is in tests/test_cli.py), 12 and 13. These run `provisioner up`
against the lab with real sshd, sudo, apt/dpkg, tmpfs and links (the same failures without the lab:
tests/test_up_failures.py):

- sudo asking for a password (the node's sudoers without NOPASSWD), a full /tmp (a tiny tmpfs,
  filled) under the SFTP upload, the dpkg frontend lock held by another process, a command past
  its bound (--command-timeout), the link pulled mid-phase (SSH keepalive + dead-peer bound);
- a run killed with SIGKILL leaves its /tmp/.provisioner.* directory; the next run removes it;
- with ha1 powered off while it held the VIP, preflight says it cannot tell who owns the VIP
  (never "a foreign owner"), and `up`'s own preflight exits 3.

The messages come from the real programs in the lab's Debian 12 nodes (sudo 1.9, apt 2.6):
no stand-in is involved. One lab for the module (pristine_lab: rebooted before and after).
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from tests.support.cli import REPO, run_cli
from tests.support.lab_inventory import lab_cli_args, lab_inventory

# --------------------------------------------------------------------------- on the lab


@pytest.fixture(scope="module")
def cluster(pristine_lab, tmp_path_factory):
    base = tmp_path_factory.mktemp("upfail")
    return pristine_lab, lab_inventory(pristine_lab, base), base / "state"


@pytest.fixture(scope="module")
def prepped(cluster):
    """node1 after a successful prep (the package sources the runtime phase installs from)."""
    r = up(cluster, "--only", "prep", "--limit", "node1", "--json", "-")
    assert r.returncode == 0, r.stderr[-3000:]
    return cluster


def up(cluster, *args, env=None, timeout=300):
    lab, inv, state = cluster
    return run_cli("up", "-i", str(inv), *lab_cli_args(lab, state), *args, env=env, timeout=timeout)


def popen_up(cluster, *args, env=None):
    import os

    lab, inv, state = cluster
    return subprocess.Popen([sys.executable, "-m", "provisioner", "up", "-i", str(inv), *lab_cli_args(lab, state),
                             *args], cwd=REPO, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def outcome(r, report_path=None):
    """(exit code, all output, the JSON report) of a finished `up`; never a traceback."""
    text = r.stdout + r.stderr
    assert "Traceback" not in text, text[-4000:]
    report = json.loads(report_path.read_text() if report_path else r.stdout)
    assert report["exit_code"] == r.returncode, report
    return r.returncode, text, report


def wait_until(predicate, deadline: float, what: str, interval: float = 0.2):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"not within {deadline:g}s: {what}")


def leftovers(lab, node: str) -> list[str]:
    out = lab.node(node).exec("ls -d /tmp/.provisioner.* 2>/dev/null || true").stdout
    return out.split()


@contextlib.contextmanager
def sudo_needs_password(node, user="ops"):
    """The user's sudo rule without NOPASSWD (the user has no password: sudo -n can only refuse)."""
    path = node.path(f"/etc/sudoers.d/{user}")
    old = path.read_bytes()
    path.write_text(f"{user} ALL=(ALL) ALL\n")
    try:
        yield
    finally:
        path.write_bytes(old)


@contextlib.contextmanager
def tmp_full(node, size="64k"):
    """A small tmpfs over /tmp, filled to the last byte: the SFTP upload target dir is full."""
    node.exec(["mount", "-t", "tmpfs", "-o", f"size={size},mode=1777", "tmpfs", "/tmp"])
    try:
        node.exec("dd if=/dev/zero of=/tmp/.fill bs=4k 2>/dev/null; true")
        yield
    finally:
        node.exec(["umount", "-l", "/tmp"], check=False)


@contextlib.contextmanager
def dpkg_lock_held(node):
    """Another process holds /var/lib/dpkg/lock-frontend (an fcntl lock, as apt and dpkg take it)."""
    unit = "lab-dpkg-lock"
    node.exec(["rm", "-f", "/run/lab-dpkg-lock-held"])
    node.exec(["systemd-run", "--quiet", f"--unit={unit}", "python3", "-c",
               "import fcntl, time\nf = open('/var/lib/dpkg/lock-frontend', 'a')\nfcntl.lockf(f, fcntl.LOCK_EX)\n"
               "open('/run/lab-dpkg-lock-held', 'w').close()\ntime.sleep(3600)"])
    try:
        wait_until(lambda: node.exec(["test", "-e", "/run/lab-dpkg-lock-held"], check=False).returncode == 0,
                   15, "the dpkg lock taken")
        pid = node.exec(["systemctl", "show", "-p", "MainPID", "--value", unit]).stdout.strip()
        yield pid
    finally:
        node.exec(["systemctl", "stop", unit], check=False)
        node.exec(["systemctl", "reset-failed", unit], check=False)
        node.exec("pkill -x apt-get; true", check=False)    # a waiting apt of a killed run


def apt_waiting(node) -> bool:
    return node.exec(["pgrep", "-f", "apt-get .*install"], check=False).returncode == 0


def test_vip_with_ha1_powered_off_cannot_tell_and_up_exits_3(cluster, faults):
    """ha1 held the VIP and is powered off: ha2 still knows the VIP at ha1's MAC. preflight must not
    call that a foreign owner (it cannot know ha1's MAC); `up`'s own preflight exits 3 naming ha1."""
    lab, inv, state = cluster
    lab.node("ha1").exec(["ip", "addr", "add", f"{lab.vip}/24", "dev", "eth0"])
    lab.node("ha2").exec(["ping", "-c", "1", "-W", "2", lab.vip])       # ha2 learns the VIP's MAC (ha1's)
    faults.node_stopped("ha1")
    r = run_cli("preflight", "-i", str(inv), "--format", "json", "--timeout", "3", *lab_cli_args(lab, state))
    assert r.returncode == 3, r.stderr
    report = json.loads(r.stdout)
    ha2 = next(h for h in report["hosts"] if h["host"] == "ha2")
    vip = next(c for c in ha2["checks"] if c["id"] == "cluster.vip")
    assert "not one of our hosts" not in vip["observed"], vip
    assert vip["status"] != "fail" and vip["observed"].startswith("cannot tell") and "ha1" in vip["observed"], vip

    report_path = state.parent / "up-unreachable.json"
    code, text, data = outcome(up(cluster, "--timeout", "3", "--json", str(report_path)), report_path)
    assert code == 3, text[-3000:]
    assert "UNREACHABLE in phase preflight on ha1" in text
    assert data["failure"]["kind"] == "unreachable" and data["failure"]["host"] == "ha1"


def test_sudo_asking_for_a_password(cluster):
    lab, inv, state = cluster
    with sudo_needs_password(lab.node("node1")):
        code, text, report = outcome(up(cluster, "--only", "prep", "--limit", "node1", "--json", "-"))
    assert code == 1, text[-3000:]
    f = report["failure"]
    assert f["host"] == "node1" and f["kind"] == "step" and f["exit_code"] == 1
    assert f["phase"] and f["step"] and f["command"], f
    assert "sudo: a password is required" in f["tail"]
    assert "ops needs passwordless sudo" in f["hint"] and "NOPASSWD" in f["hint"]
    for line in ("FAILED in phase", "on node1", "step: ", "command: ", "exit code: 1", "hint: ops needs passwordless"):
        assert line in text, (line, text[-3000:])


def test_full_disk_under_the_upload(cluster):
    lab, inv, state = cluster
    with tmp_full(lab.node("node1")):
        code, text, report = outcome(up(cluster, "--only", "prep", "--limit", "node1", "--json", "-"))
    assert code == 1, text[-3000:]
    f = report["failure"]
    assert (f["host"], f["phase"], f["step"]) == ("node1", "prep", "write /etc/hosts"), f
    assert "no space left on /tmp" in f["message"] and f["command"].startswith("sftp put /tmp/.provisioner.")
    assert f["exit_code"] is None and "/tmp is full" in f["hint"] and "100% /tmp" in f["tail"]
    assert "FAILED in phase prep on node1" in text and "hint: /tmp is full" in text
    assert "/etc/hosts" not in lab.node("node1").exec("ls -a /etc/ | grep provisioner-new || true").stdout


def test_dpkg_lock_held(prepped):
    cluster = prepped
    lab, inv, state = cluster
    with dpkg_lock_held(lab.node("node1")) as pid:
        code, text, report = outcome(up(cluster, "--only", "runtime", "--limit", "node1", "--json", "-",
                                        env={"PROVISIONER_APT_LOCK_TIMEOUT": "3"}))
    assert code == 1, text[-3000:]
    f = report["failure"]
    assert (f["host"], f["phase"], f["exit_code"]) == ("node1", "runtime", 100), f
    assert f["step"].startswith("packages docker-ce") and "apt-get" in f["command"]
    assert f"Could not get lock /var/lib/dpkg/lock-frontend. It is held by process {pid} (python3)" in f["tail"]
    assert f"process {pid} (python3) holds /var/lib/dpkg/lock-frontend" in f["hint"]
    assert "FAILED in phase runtime on node1" in text and "exit code: 100" in text


def test_command_past_its_timeout(prepped):
    cluster = prepped
    lab, inv, state = cluster
    node = lab.node("node1")
    with dpkg_lock_held(node):
        code, text, report = outcome(up(cluster, "--only", "runtime", "--limit", "node1", "--command-timeout", "8",
                                        "--json", "-"))
        assert not apt_waiting(node), "the timed-out apt-get was stopped on the host"
    assert code == 1, text[-3000:]
    f = report["failure"]
    assert (f["host"], f["phase"], f["signal"]) == ("node1", "runtime", "SIGTERM"), f
    assert f["message"] == "timed out after 8s" and f["exit_code"] == 124 and "apt-get" in f["command"]
    assert "--command-timeout" in f["hint"] and f["step"].startswith("packages docker-ce")
    assert "exit code: 124 (SIGTERM)" in text


def test_link_pulled_mid_phase_fails_naming_the_host(prepped, faults):
    """apt waits on the held lock (300 s); the cable is pulled: keepalive + the dead-peer bound end
    the run, exit 3, naming node1, report written - well before the 60 s deadline."""
    cluster = prepped
    lab, inv, state = cluster
    node = lab.node("node1")
    report_path = state.parent / "up-link.json"
    with dpkg_lock_held(node):
        proc = popen_up(cluster, "--only", "runtime", "--limit", "node1", "--json", str(report_path))
        try:
            wait_until(lambda: apt_waiting(node) or proc.poll() is not None, 120, "apt waiting for the lock")
            assert proc.poll() is None, proc.communicate()
            faults.link_down("node1")
            pulled = time.monotonic()
            out, err = proc.communicate(timeout=60)      # the bound: fails within 60 s
            print(f"up ended {time.monotonic() - pulled:.1f}s after node1's link was pulled")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    r = SimpleNamespace(returncode=proc.returncode, stdout=out, stderr=err)
    code, text, report = outcome(r, report_path)
    assert code == 3, text[-3000:]
    f = report["failure"]
    assert (f["host"], f["phase"], f["kind"]) == ("node1", "runtime", "unreachable"), f
    assert "node1: connection lost" in f["message"] and f["step"].startswith("packages docker-ce")
    assert "UNREACHABLE in phase runtime on node1" in text


def test_sigkill_leaves_a_dir_the_next_run_removes(prepped):
    """SIGKILL of `up` mid-phase (no chance to clean up) leaves its private /tmp dir; the next run's
    session start removes it (its sshd session is gone), and that run leaves none either."""
    cluster = prepped
    lab, inv, state = cluster
    node = lab.node("node1")
    assert leftovers(lab, "node1") == []
    # Files the phase uploads before its packages: the killed run has a private dir to leave behind.
    node.exec(["rm", "-f", "/etc/docker/daemon.json", "/etc/apt/sources.list.d/docker.list"])
    with dpkg_lock_held(node):
        proc = popen_up(cluster, "--only", "runtime", "--limit", "node1", env={"PROVISIONER_APT_LOCK_TIMEOUT": "5"})
        try:
            wait_until(lambda: apt_waiting(node) or proc.poll() is not None, 120, "apt waiting for the lock")
            assert proc.poll() is None, proc.communicate()
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    left = leftovers(lab, "node1")
    assert len(left) == 1, left                           # what the killed run could not remove
    wait_until(lambda: not apt_waiting(node), 60, "the orphaned apt gave up on the lock")
    r = up(cluster, "--only", "runtime", "--limit", "node1", "--json", "-")
    code, text, report = outcome(r)
    assert code == 0, text[-3000:]
    for name in lab.nodes:
        assert leftovers(lab, name) == [], name
