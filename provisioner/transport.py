"""SSH for the whole product: one verified connection per host, shared by
preflight (through testinfra) and up (through Fabric).

>>> hk = HostKeys(Path("state/known_hosts"), accept_new=False)      # doctest: +SKIP
>>> with connect(host, hk, timeout=5) as conn:                        # doctest: +SKIP
...     conn.run("uname -r", hide=True).stdout

Host keys are always verified: against ~/.ssh/known_hosts and the cluster's
own known_hosts file. An unknown key is refused unless ``accept_new`` (trust
on first use, recorded in the cluster's file); a changed key is always
refused. Connection failures become :class:`Unreachable` with a one-line
reason, so one dead host never stalls or hides the others.

An open connection never waits forever on a host that vanished: SSH
keepalives go out every ``KEEPALIVE`` seconds of silence, and the socket's
``TCP_USER_TIMEOUT`` closes it once sent data (a keepalive included) stays
unacknowledged for ``DEAD_PEER`` seconds - a pulled cable or a powered-off
host ends the session within about ``KEEPALIVE + DEAD_PEER`` seconds instead
of the kernel's ~15 minutes of retransmissions.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shlex
import socket
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import fabric
import paramiko
from paramiko.hostkeys import HostKeys as ParamikoHostKeys

from provisioner.errors import ProvisionerError
from provisioner.inventory import Host


KEEPALIVE = 5      # seconds of silence before an SSH keepalive is sent
DEAD_PEER = 20     # seconds sent data may stay unacknowledged before the connection is declared dead


class Unreachable(ProvisionerError):
    """A host we could not open an SSH session to; ``reason`` says why in one line."""

    exit_code = 3
    label = "unreachable"

    def __init__(self, host: str, reason: str):
        self.host, self.reason = host, reason
        super().__init__(f"{host}: {self.label}: {reason}")


class ConnectionLost(Unreachable):
    """An open session to a host died (link down, host powered off, sshd killed) while we used it."""

    label = "connection lost"


def keep_alive(conn, interval: float = KEEPALIVE, dead_peer: float = DEAD_PEER) -> None:
    """Bound every wait on ``conn`` (an open Fabric connection; its jump host's too).

    >>> keep_alive(conn)          # doctest: +SKIP
    """
    for c in (conn, getattr(conn, "gateway", None)):
        transport = getattr(getattr(c, "client", None), "get_transport", lambda: None)()
        if transport is None:
            continue
        transport.set_keepalive(int(interval))
        sock = getattr(transport, "sock", None)
        if isinstance(sock, socket.socket) and hasattr(socket, "TCP_USER_TIMEOUT"):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(dead_peer * 1000))
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            except OSError:
                pass    # not a TCP socket (a ProxyCommand pipe): the SSH keepalive alone must do


def is_alive(conn) -> bool:
    """Whether ``conn``'s SSH transport is still up."""
    transport = getattr(getattr(conn, "client", None), "get_transport", lambda: None)()
    return bool(transport and transport.is_active())


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH-style ``SHA256:...`` fingerprint."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def known_hosts_name(address: str, port: int) -> str:
    return address if port == 22 else f"[{address}]:{port}"


class HostKeys:
    """The host keys we trust: the user's known_hosts plus the cluster's own file.

    New keys (with ``accept_new``) are appended to the cluster's file only,
    never to the user's. Thread-safe: hosts connect in parallel.
    """

    def __init__(self, path: Path, accept_new: bool = False, user_file: Path | None = None):
        self.path = Path(path)
        self.accept_new = accept_new
        self.user_file = Path(os.path.expanduser("~/.ssh/known_hosts")) if user_file is None else user_file
        self._lock = threading.Lock()
        self._keys = ParamikoHostKeys()
        for f in (self.user_file, self.path):
            if f and f.is_file():
                try:
                    self._keys.load(str(f))
                except (OSError, paramiko.SSHException):
                    pass  # an unreadable user file must not block the cluster's own keys

    def lookup(self, name: str) -> dict | None:
        with self._lock:
            return self._keys.lookup(name)

    def install(self, client: paramiko.SSHClient) -> None:
        """Give ``client`` our keys and our policy for keys it does not know."""
        with self._lock:
            for name, keys in self._keys.items():
                for key_type, key in keys.items():
                    client.get_host_keys().add(name, key_type, key)
        client.set_missing_host_key_policy(_Policy(self))

    def record(self, name: str, key: paramiko.PKey) -> None:
        with self._lock:
            self._keys.add(name, key.get_name(), key)
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            line = f"{name} {key.get_name()} {key.get_base64()}\n"
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a") as fh:
                fh.write(line)


class UnknownHostKey(paramiko.SSHException):
    pass


class _Policy(paramiko.MissingHostKeyPolicy):
    def __init__(self, keys: HostKeys):
        self.keys = keys

    def missing_host_key(self, client, hostname, key):
        if not self.keys.accept_new:
            raise UnknownHostKey(
                f"unknown host key {key.get_name()} {fingerprint(key)} - verify it, then re-run with "
                f"--accept-new-host-keys to trust and record it in {self.keys.path}")
        self.keys.record(hostname, key)


@dataclass(frozen=True)
class SshTarget:
    """Where and how to log in to one host (resolved from the inventory)."""

    name: str          # inventory hostname, used in every message
    address: str
    port: int
    user: str
    key: str | None
    proxy_jump: str | None
    sudo: bool

    @classmethod
    def of(cls, host: Host) -> "SshTarget":
        key = os.path.expanduser(host.ssh.key) if host.ssh.key else None
        return cls(host.hostname, str(host.address), int(host.ssh.port or 22), host.ssh.user or "root", key,
                   host.ssh.proxy_jump, bool(host.sudo))

    @property
    def privileged_prefix(self) -> str:
        """Prefix for commands that need root: none as root, ``sudo -n`` otherwise."""
        return "" if self.user == "root" else "sudo -n "


def _describe(exc: BaseException, target: SshTarget, timeout: float) -> str:
    if isinstance(exc, paramiko.BadHostKeyException):
        return (f"host key CHANGED for {exc.hostname}: expected {fingerprint(exc.expected_key)}, got "
                f"{fingerprint(exc.key)} - if {target.name} was rebuilt, remove its old line from known_hosts; "
                "otherwise someone may be intercepting the connection")
    if isinstance(exc, UnknownHostKey):
        return str(exc)
    if isinstance(exc, paramiko.AuthenticationException):
        return (f"authentication failed for {target.user}@{target.address}:{target.port} - check ssh.user and "
                "ssh.key in the inventory, or load the key into ssh-agent")
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"no answer on {target.address}:{target.port} within {timeout:g}s - is the host up and the port open?"
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused on {target.address}:{target.port} - is sshd running?"
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        return f"connection refused on {target.address}:{target.port} - is sshd running?"
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"{os.strerror(exc.errno).lower()} ({target.address}:{target.port}) - check the address and routing"
    if isinstance(exc, paramiko.SSHException):
        return f"SSH error: {exc} - check sshd on {target.address}:{target.port}"
    return f"{type(exc).__name__}: {exc}"


def _jump_connection(spec: str, keys: HostKeys, timeout: float, key: str | None) -> fabric.Connection:
    user, _, rest = spec.rpartition("@")
    host, _, port = rest.partition(":")
    gw = fabric.Connection(host=host, user=user or None, port=int(port) if port else None,
                           connect_timeout=timeout,
                           connect_kwargs={"key_filename": key} if key else {})
    keys.install(gw.client)
    return gw


def open_connection(target: SshTarget, keys: HostKeys, timeout: float = 10) -> fabric.Connection:
    """Open and return a verified Fabric connection, or raise :class:`Unreachable`.

    ``~/.ssh/config`` and ssh-agent are honoured (Fabric/paramiko); the
    inventory's user, port, key and jump host win over them.
    """
    connect_kwargs: dict = {"banner_timeout": timeout, "auth_timeout": timeout}
    if target.key:
        connect_kwargs["key_filename"] = target.key
    gateway = _jump_connection(target.proxy_jump, keys, timeout, target.key) if target.proxy_jump else None
    conn = fabric.Connection(host=target.address, user=target.user, port=target.port, connect_timeout=timeout,
                             connect_kwargs=connect_kwargs, gateway=gateway)
    if gateway is None and conn.gateway:
        # A ProxyJump from ~/.ssh/config: rebuild it so the jump host's key is verified too.
        conn.gateway = _jump_connection(str(conn.ssh_config.get("proxyjump")), keys, timeout, target.key)
    keys.install(conn.client)
    try:
        conn.open()
    except BaseException as exc:  # noqa: BLE001 - every failure becomes one line
        conn.close()
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise Unreachable(target.name, _describe(exc, target, timeout)) from None
    keep_alive(conn)
    return conn


@contextmanager
def connect(target: SshTarget, keys: HostKeys, timeout: float = 10) -> Iterator[fabric.Connection]:
    conn = open_connection(target, keys, timeout)
    try:
        yield conn
    finally:
        conn.close()


def quote(value: object) -> str:
    """Shell-quote a value for a remote command (every value that reaches a shell)."""
    return shlex.quote(str(value))
