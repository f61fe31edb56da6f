"""`up` failing the way hosts fail, without the lab: a command past its bound, a session that dies, a full
/tmp under an upload (a local bash and fake connections; the remote's wrapping is real), the hints for what
hosts say, and the VIP check when a load balancer was not audited. The same failures on real nodes:
tests/test_up_failures_lab.py."""

from __future__ import annotations

import subprocess
import time
from types import SimpleNamespace

import pytest

from provisioner.checks.base import Fact, Facts, Node
from provisioner.checks.cluster import vip_free
from provisioner.remote import Remote, StepFailed, diagnose
from provisioner.transport import ConnectionLost, SshTarget
from provisioner.validation import check_inventory
from tests.support.cli import REPO


class _Transport:
    def __init__(self, alive=True):
        self.alive = alive

    def is_active(self):
        return self.alive


class LocalConn:
    """A Fabric-like connection that runs commands in a local bash (the remote's wrapping is real)."""

    def __init__(self):
        self.transport = _Transport()
        self.client = SimpleNamespace(get_transport=lambda: self.transport)

    def run(self, command, hide=True, warn=True, in_stream=False, timeout=None):
        proc = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=timeout)
        return SimpleNamespace(exited=proc.returncode, stdout=proc.stdout, stderr=proc.stderr)

    def close(self):
        pass


def _remote(conn, user="root", **kw):
    return Remote(SshTarget("node1", "127.0.0.1", 22, user, None, None, user != "root"), conn, **kw)


def test_a_command_past_its_bound_is_stopped_on_the_host_and_named():
    """The remote `timeout` (coreutils) ends the command tree: exit 124 -> StepFailed with the bound,
    the signal and a hint; nothing keeps running."""
    remote = _remote(LocalConn(), command_timeout=1)
    remote.current_step = "install packages"
    marker = f"h4-sleeper-{time.monotonic_ns()}"
    with pytest.raises(StepFailed) as err:
        remote.run(f"echo started; exec -a {marker} sleep 30", why="package installation failed")
    exc = err.value
    assert (exc.rc, exc.signal, exc.step) == (124, "SIGTERM", "install packages")
    assert exc.why == "timed out after 1s" and "started" in exc.tail
    assert "--command-timeout" in exc.hint
    assert subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode == 1, "left running"


def test_a_session_that_dies_mid_command_is_connection_lost_not_exit_minus_1():
    conn = LocalConn()
    conn.run = lambda *a, **kw: (setattr(conn.transport, "alive", False),
                                 SimpleNamespace(exited=-1, stdout="", stderr=""))[1]
    with pytest.raises(ConnectionLost) as err:
        _remote(conn).run("apt-get install -y docker-ce")
    assert err.value.exit_code == 3 and err.value.host == "node1"
    assert "node1: connection lost: the SSH session ended" in str(err.value)


def test_an_upload_on_a_full_disk_says_so():
    """OpenSSH's sftp-server answers ENOSPC with a bare SSH_FX_FAILURE ("Failure", see
    openssh/openssh-portable sftp-server.c errno_to_portable): we ask df what happened."""
    conn = LocalConn()
    ran = []

    def run(command, **kw):
        ran.append(command)
        if command.startswith("df "):
            return SimpleNamespace(exited=0, stdout="tmpfs 64 64 0 100% /tmp\n", stderr="")
        return SimpleNamespace(exited=0, stdout="/tmp/.provisioner.abcd1234.42.XyZ123\n", stderr="")

    def sftp_open(path, mode):
        raise OSError("Failure")

    conn.run = run
    conn.sftp = lambda: SimpleNamespace(open=sftp_open)
    with pytest.raises(StepFailed) as err:
        _remote(conn, user="ops").put("/etc/hosts", "127.0.0.1 localhost\n")
    exc = err.value
    assert exc.rc is None and "no space left on /tmp" in exc.why and "/tmp is full" in exc.hint
    assert exc.command.startswith("sftp put /tmp/.provisioner.") and "0 100% /tmp" in exc.tail
    assert any(c.startswith("rm -f /tmp/.provisioner.") for c in ran), "the partial staged file is removed"


@pytest.mark.parametrize("tail,expected", [
    ("sudo: a password is required", "ops needs passwordless sudo"),
    ("E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (python3)\n"
     "E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is another process using it?",
     "process 4242 (python3) holds /var/lib/dpkg/lock-frontend"),
    ("cp: error writing '/etc/x': No space left on device", "file system on the host is full"),
])
def test_hints_for_what_hosts_say(tail, expected):
    assert expected in diagnose(tail, user="ops")


def _lb_node(inv, name, probe, mac):
    facts = Facts({"vip.probe": Fact(probe, 0), "id.links": Fact(f"2: eth0@if9: <UP> mtu 1500 link/ether {mac} brd "
                                                                  "ff:ff:ff:ff:ff:ff", 0)})
    return Node(inv.host(name), inv, facts)


def test_vip_check_cannot_tell_when_a_load_balancer_was_not_audited():
    inv, _ = check_inventory(REPO / "inventories/lab.yaml")
    ha1_mac = "02:4c:ac:1f:fa:6b"
    ha2 = _lb_node(inv, "ha2", f"172.31.250.100 dev eth0 lladdr {ha1_mac} REACHABLE", "02:4c:ac:1f:fa:6c")
    [verdict] = vip_free([ha2])                       # ha1 unreachable: only ha2 was read
    assert verdict.status == "warn" and verdict.observed.startswith("cannot tell")
    assert "ha1" in verdict.observed and "not one of our hosts" not in verdict.observed
    ha1 = _lb_node(inv, "ha1", "172.31.250.100 dev eth0 lladdr 02:00:00:00:00:01 REACHABLE", ha1_mac)
    ha2 = _lb_node(inv, "ha2", "172.31.250.100 dev eth0 lladdr 02:00:00:00:00:01 REACHABLE", "02:4c:ac:1f:fa:6c")
    verdicts = vip_free([ha1, ha2])                   # both read: a foreign MAC is a real alarm
    assert [v.status for v in verdicts] == ["fail", "fail"] and "not one of our hosts" in verdicts[0].observed
