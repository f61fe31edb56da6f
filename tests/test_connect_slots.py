"""Connections at scale: a host is never called unreachable because of our own queueing.

A real listening socket on 127.0.0.1 stands for a saturated machine: it answers one
connection at a time, each after a delay (as sshd does when the CPUs are busy with every
other handshake), with an SSH banner and then a close. Many hosts point at it at once. Every
host must get the server's own answer (the close after the banner), none "no answer within":
connections in flight are bounded (the timeout starts when a slot is ours) and a timed-out
attempt is tried once more before the host is called unreachable.
"""

from __future__ import annotations

import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from provisioner import transport
from provisioner.hostkeys import HostKeys
from provisioner.sshconfig import SshTarget
from provisioner.transport import Ssh, Unreachable

TIMEOUT = 1.0
# paramiko's words for a banner that did not come in time (transport.py _check_banner), and ours for a connect
TIMED_OUT = ("within", "reading SSH protocol banner")
HOSTS = 64


class SlowSshd:
    """Accepts one connection at a time, each ``delay`` seconds after the last, then says its banner and closes."""

    def __init__(self, delay: float):
        self.delay, self.served = delay, 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.stop.wait(self.delay)
            try:
                conn.sendall(b"SSH-2.0-SlowSshd\r\n")
            except OSError:
                pass
            conn.close()
            self.served += 1

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()


@pytest.fixture
def sshd():
    slots = getattr(transport, "CONNECT_SLOTS", 4)
    server = SlowSshd(delay=TIMEOUT / (4 * slots))    # a slot's worth of waiting stays well inside the timeout
    yield server
    server.close()


def test_many_hosts_queued_none_unreachable_by_queueing(sshd, tmp_path):
    ssh = Ssh(HostKeys(tmp_path / "known_hosts", user_file=tmp_path / "none"))
    targets = [SshTarget(f"node{i}", "127.0.0.1", sshd.port, "root", None, None, False) for i in range(HOSTS)]

    def attempt(target):
        try:
            ssh.open(target, TIMEOUT).close()
        except Unreachable as exc:
            return exc.reason
        return "connected"

    with ThreadPoolExecutor(max_workers=HOSTS) as pool:      # every host queued at once, as --parallel 64
        reasons = list(pool.map(attempt, targets))
    timed_out = [f"{t.name}: {r}" for t, r in zip(targets, reasons) if any(w in r for w in TIMED_OUT)]
    assert not timed_out, f"{len(timed_out)} of {HOSTS} called unreachable by our own queueing: {timed_out[:3]}"
    assert all(r != "connected" for r in reasons)       # each got the server's answer: the close after its banner


def test_a_host_that_did_not_answer_gets_a_second_attempt_with_twice_the_timeout(tmp_path, monkeypatch):
    """A handshake starved of CPU answers late, not never: the retry waits RETRY_PAUSE_S outside the slot, then
    allows twice the timeout; a refused key or host key is never retried."""
    monkeypatch.setattr(transport, "RETRY_PAUSE_S", 0)
    ssh = Ssh(HostKeys(tmp_path / "known_hosts", user_file=tmp_path / "none"))
    asked: list[float] = []

    def late(target, timeout):
        asked.append(timeout)
        if len(asked) == 1:
            exc = Unreachable("w78", "no answer")
            exc.transient = True
            raise exc
        return "connected"

    assert ssh._attempt(late, None, 10) == "connected" and asked == [10, 20]
    asked.clear()

    def refused_key(target, timeout):
        asked.append(timeout)
        raise Unreachable("w78", "authentication failed")      # transient stays False

    with pytest.raises(Unreachable):
        ssh._attempt(refused_key, None, 10)
    assert asked == [10]
