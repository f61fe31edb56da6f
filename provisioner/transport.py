"""SSH for the whole product: one verified connection per host, shared by
preflight (testinfra on its paramiko client) and up (Fabric's Connection on
the same client), and one per jump host, shared by every host behind it.

>>> with Ssh(HostKeys(Path("state/known_hosts")), Resolver(SshConfig.load(None))) as ssh:  # doctest: +SKIP
...     conn = ssh.open(ssh.target(inv.host("master1")), timeout=5)
...     conn.fabric().run("uname -r", hide=True).stdout

How a host is reached (user, port, keys, jump hosts, ProxyCommand) is
resolved like OpenSSH: see :mod:`provisioner.sshconfig`.

Host keys are always verified, the targets' and every jump host's: against
~/.ssh/known_hosts and the cluster's own known_hosts file. An unknown key is
refused unless ``accept_new`` (trust on first use, recorded in the cluster's
file and printed with its SHA256 fingerprint); a changed key is always
refused. A failure on the way names the hop (``via bastion (hop 1 of 2,
ops@10.0.0.5:22): host key CHANGED ...``). Connection failures become
:class:`Unreachable` with a one-line reason, so one dead host never stalls or
hides the others.

Keys offered: the target's identity files (inventory ``ssh.key``, then
ssh_config ``IdentityFile``), else ~/.ssh/id_*; and the SSH agent's keys when
``SSH_AUTH_SOCK`` is set - only those matching an identity file with
``IdentitiesOnly yes``, as OpenSSH does.

An open connection never waits forever on a host that vanished: SSH
keepalives go out every ``KEEPALIVE`` seconds of silence, and the socket's
``TCP_USER_TIMEOUT`` closes it once sent data (a keepalive included) stays
unacknowledged for ``DEAD_PEER`` seconds - a pulled cable or a powered-off
host ends the session within about ``KEEPALIVE + DEAD_PEER`` seconds instead
of the kernel's ~15 minutes of retransmissions.

At scale: at most ``CONNECT_SLOTS`` handshakes of a run are in flight (sized to the
machine: the key exchange is CPU on both ends, and lab nodes share our CPUs); a host's
connect timeout starts when its handshake starts, and a handshake that got no answer
(timeout, reset, no banner) is tried once more before the host is called unreachable.
"""

from __future__ import annotations

import os
import shlex
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from provisioner import deferred

deferred.defer("invoke")     # before paramiko: its config module imports invoke for `Match exec` only
import paramiko  # noqa: E402

from provisioner.errors import UNREACHABLE, ProvisionerError  # noqa: E402
from provisioner.hops import Gateway, HopFailure, HopPool, bound, reason  # noqa: E402
from provisioner.hostkeys import HostKeys, UnknownHostKey  # noqa: E402
from provisioner.sshauth import authenticated  # noqa: E402
from provisioner.sshconfig import Resolver, SshConfig, SshTarget  # noqa: E402

if TYPE_CHECKING:
    import fabric

# handshakes in flight per run: 4 per CPU we may use (the --parallel hosts beyond them wait, untimed)
CONNECT_SLOTS = max(4, 4 * len(os.sched_getaffinity(0)))
# before the second attempt at a host that did not answer: time for a neighbour (ARP) entry that failed under
# load, or an sshd that was restarting, to come back (bench/up at 98 nodes lost a host to one such moment)
RETRY_PAUSE_S = 1.0

__all__ = ["CONNECT_SLOTS", "ConnectionLost", "HostConnection", "HostKeys", "Ssh", "SshTarget", "Unreachable", "is_alive",
           "quote"]


class Unreachable(ProvisionerError):
    """A host we could not open an SSH session to; ``reason`` says why in one line."""

    exit_code = UNREACHABLE
    label = "unreachable"
    transient = False        # True when no answer came (worth one more attempt), set by _failure

    def __init__(self, host: str, reason: str):
        self.host, self.reason = host, reason
        super().__init__(f"{host}: {self.label}: {reason}")


class ConnectionLost(Unreachable):
    """An open session to a host died (link down, host powered off, sshd killed) while we used it."""

    label = "connection lost"


def is_alive(conn) -> bool:
    """Whether ``conn``'s SSH transport is still up."""
    transport = getattr(getattr(conn, "client", None), "get_transport", lambda: None)()
    return bool(transport and transport.is_active())


# --- one run's SSH ---------------------------------------------------------------------------------

class Ssh:
    """One run's SSH: the trusted host keys, how each host is reached, the shared jump connections.

    >>> with Ssh(HostKeys(state / "known_hosts"), Resolver(SshConfig.load(None), user="ops")) as ssh:  # doctest: +SKIP
    ...     ssh.bind(inv)
    ...     conn = ssh.open(ssh.target(inv.host("node1")), timeout=10)   # a HostConnection
    """

    def __init__(self, keys: HostKeys, resolver: Resolver | None = None):
        self.keys = keys
        self.resolver = resolver or Resolver(SshConfig.load(None))
        self.hops = HopPool(keys)
        self._targets: dict[str, SshTarget] = {}
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(CONNECT_SLOTS)

    @classmethod
    def of(cls, keys: "Ssh | HostKeys") -> "Ssh":
        """``keys`` itself when it is an :class:`Ssh`; else a new one (~/.ssh/config, no overrides)."""
        return keys if isinstance(keys, Ssh) else cls(keys)

    def bind(self, inv) -> "Ssh":
        """Resolve every host of ``inv`` now: bad ssh_config values fail here (exit 2), before any
        connection. The inventory is left as it is; the resolved targets are this object's."""
        for host in inv.hosts:
            self.target(host)
        return self

    def target(self, host) -> SshTarget:
        """How ``host`` is reached (resolved once per run): its own frozen object, the login user included."""
        with self._lock:
            target = self._targets.get(host.hostname)
            if target is None:
                target = self._targets[host.hostname] = self.resolver.target(host)
            return target

    def logins(self) -> dict[str, str]:
        """The resolved login user of every host resolved so far, by hostname."""
        with self._lock:
            return {name: target.user for name, target in self._targets.items()}

    def open(self, target: SshTarget, timeout: float = 10) -> "HostConnection":
        """Open a verified SSH connection to ``target``, or raise :class:`Unreachable`: the one connection
        preflight reads over (testinfra on its paramiko client) and steps run over (:meth:`HostConnection.fabric`)."""
        return self._attempt(self._open, target, timeout)

    def _attempt(self, how, target: SshTarget, timeout: float):
        """``how(target, timeout)`` inside one of the run's :data:`CONNECT_SLOTS`, tried once more
        when it failed for want of an answer, then with twice the timeout (a host starved of CPU by the
        run's own scripts on a small machine answers late, not never). The timeout starts once the slot
        is ours: a host waiting behind the others' handshakes is never called unreachable for that wait."""
        for retry in (True, False):
            with self._slots:
                try:
                    return how(target, timeout if retry else 2 * timeout)
                except Unreachable as exc:
                    if not (retry and exc.transient):
                        raise
            time.sleep(RETRY_PAUSE_S)     # outside the slot: a neighbour (ARP) or listener that was not ready
        raise AssertionError("unreachable")     # pragma: no cover - the loop returns or raises

    def _open(self, target: SshTarget, timeout: float) -> "HostConnection":
        gateway = Gateway(self.hops, target.route, timeout) if target.route else None
        client = paramiko.SSHClient()
        self.keys.install(client, target.name, target.address, target.port)
        try:
            sock = gateway.open_channel("direct-tcpip", (target.address, target.port), ("", 0)) if gateway else None
            authenticated(client, target.endpoint, sock, timeout)
        except BaseException as exc:  # noqa: BLE001 - every failure becomes one line
            if isinstance(exc, KeyboardInterrupt):
                client.close()
                raise
            failure = _failure(exc, target, gateway, timeout)    # before close: a ProxyCommand's stderr
            client.close()
            raise failure from None
        bound(client.get_transport())
        return HostConnection(target.address, target.user, target.port, client)

    def close(self) -> None:
        self.hops.close()

    def __enter__(self) -> "Ssh":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass
class HostConnection:
    """One host's open, verified SSH connection (:meth:`Ssh.open`): one login, one paramiko client.

    Preflight reads over ``client`` with testinfra; commands that run steps use :meth:`fabric`, Fabric's
    Connection on this same client, made on first use so that preflight never imports Fabric and invoke.

    >>> conn.fabric().run("uname -r", hide=True).stdout     # doctest: +SKIP
    """

    host: str
    user: str
    port: int
    client: paramiko.SSHClient
    _fabric: "fabric.Connection | None" = field(default=None, init=False, repr=False)

    @property
    def is_connected(self) -> bool:
        transport = self.client.get_transport()
        return bool(transport and transport.is_active())

    def fabric(self) -> "fabric.Connection":
        """Fabric's Connection over this client (fabric/connection.py: ``open()`` returns at once while
        ``transport.active``, so Fabric never logs in a second time or applies a key policy of its own)."""
        if self._fabric is None:
            import fabric       # with invoke (~30 ms): only for commands that run steps

            conn = fabric.Connection(host=self.host, user=self.user, port=self.port,
                                     config=fabric.Config(ssh_config=paramiko.SSHConfig()))
            conn.client, conn.transport = self.client, self.client.get_transport()
            self._fabric = conn
        return self._fabric

    def close(self) -> None:
        if self._fabric is not None:
            self._fabric.close()        # its SFTP session too
        self.client.close()


def _failure(exc: BaseException, target: SshTarget, gateway: "Gateway | None | bool", timeout: float) -> Unreachable:
    """The :class:`Unreachable` for a failed open of ``target``: a jump host's reason, a ProxyCommand's
    own error output, else :func:`provisioner.hops.describe`."""
    if isinstance(exc, HopFailure):
        return Unreachable(target.name, exc.text)
    failure = Unreachable(target.name, reason(exc, gateway.sock if gateway else None, target, timeout))
    # no answer, a reset, a banner that did not come: worth one more attempt; a refused key or host key is not
    failure.transient = not isinstance(exc, (paramiko.AuthenticationException, paramiko.BadHostKeyException,
                                             UnknownHostKey))
    return failure


def quote(value: object) -> str:
    """Shell-quote a value for a remote command (every value that reaches a shell)."""
    return shlex.quote(str(value))
