"""The way to a host: jump hosts (one connection per hop per run, shared: :class:`HopPool`), a
ProxyCommand run as OpenSSH runs it, TCP bounds on every connection (:func:`bound`), and why a host
could not be reached, in one line (:func:`describe`, :func:`reason`)."""

from __future__ import annotations

import errno
import os
import select
import shlex
import socket
import threading

from provisioner import deferred

deferred.defer("invoke")     # before paramiko: its config module imports invoke for `Match exec` only
import paramiko  # noqa: E402

from provisioner.hostkeys import HostKeys, UnknownHostKey, fingerprint  # noqa: E402
from provisioner.sshauth import authenticated  # noqa: E402
from provisioner.sshconfig import Endpoint, Route  # noqa: E402

KEEPALIVE = 5      # seconds of silence before an SSH keepalive is sent
DEAD_PEER = 20     # seconds sent data may stay unacknowledged before the connection is declared dead


def bound(transport: paramiko.Transport | None, interval: float = KEEPALIVE, dead_peer: float = DEAD_PEER) -> None:
    if transport is None:
        return
    transport.set_keepalive(int(interval))
    sock = getattr(transport, "sock", None)
    if isinstance(sock, socket.socket) and hasattr(socket, "TCP_USER_TIMEOUT"):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(dead_peer * 1000))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        except OSError:
            pass    # not a TCP socket: the SSH keepalive alone must do


def describe(exc: BaseException, ep, timeout: float) -> str:
    """One line for why ``ep`` (a target or a hop: .name .user .address .port) could not be reached."""
    where = f"{ep.address}:{ep.port}"
    if isinstance(exc, paramiko.BadHostKeyException):
        return (f"host key CHANGED for {exc.hostname}: expected {fingerprint(exc.expected_key)}, got "
                f"{fingerprint(exc.key)} - if {ep.name} was rebuilt, remove its old line from known_hosts; "
                "otherwise someone may be intercepting the connection")
    if isinstance(exc, UnknownHostKey):
        return str(exc)
    if isinstance(exc, paramiko.AuthenticationException):
        notes = "; ".join(getattr(exc, "notes_for_user", []) or [])
        return (f"authentication failed for {ep.user}@{where}{' (' + notes + ')' if notes else ''} - check ssh.user "
                "and ssh.key in the inventory (or User/IdentityFile in ssh_config), or load the key into ssh-agent")
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"no answer on {where} within {timeout:g}s - is the host up and the port open?"
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError) and all(
            getattr(e, "errno", None) == errno.EHOSTUNREACH for e in exc.errors.values()):
        # paramiko folds "No route to host" (no ARP answer on the local network) in with a refusal
        return f"no route to {where} (nothing answered for its address) - is the host up and on this network?"
    if isinstance(exc, (ConnectionRefusedError, paramiko.ssh_exception.NoValidConnectionsError)):
        return f"connection refused on {where} - is sshd running?"
    if isinstance(exc, paramiko.ChannelException):
        return f"the jump host could not open a connection to {where} ({exc.text}) - is the host up, sshd running?"
    if isinstance(exc, paramiko.ProxyCommandFailure):
        return f"ProxyCommand failed: {exc.error}"
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"{os.strerror(exc.errno).lower()} ({where}) - check the address and routing"
    if isinstance(exc, paramiko.SSHException):
        return f"SSH error: {exc} - check sshd on {where}"
    return f"{type(exc).__name__}: {exc}"


class ProxyCommand(paramiko.ProxyCommand):
    """OpenSSH runs a ProxyCommand as ``$SHELL -c 'exec COMMAND'`` (openssh/openssh-portable
    sshconnect.c, ssh_proxy_connect); so do we. Its stderr is read back when it fails."""

    def __init__(self, command: str):
        shell = os.environ.get("SHELL") or "/bin/sh"
        self.command = command
        super().__init__(shlex.join([shell, "-c", f"exec {command}"]))

    def recv(self, size: int) -> bytes:
        """Like a socket: what is there (at least one byte), or b"" once the command's stdout ended.
        (paramiko's own recv spins until its timeout on an exited command.)"""
        timeout = self.timeout
        try:
            ready, _, _ = select.select([self.process.stdout], [], [], timeout)
            if not ready:
                raise socket.timeout()
            return os.read(self.process.stdout.fileno(), size)
        except OSError as exc:
            if isinstance(exc, socket.timeout):
                raise
            raise paramiko.ProxyCommandFailure(" ".join(self.cmd), exc.strerror) from None

    def failure(self) -> str:
        """The command's last stderr line (it is stopped first if still running)."""
        try:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(timeout=5)
            text = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
        except Exception:  # noqa: BLE001 - best effort: the message is a hint
            text = ""
        last = [line.strip() for line in text.splitlines() if line.strip()][-1:]
        code = self.process.returncode
        return f"ProxyCommand {self.command!r} exited {code}" + (f": {last[0]}" if last else "")


def reason(exc: BaseException, sock, ep, timeout: float) -> str:
    """Why ``ep`` (a target or a hop) failed to open over ``sock``: when a ProxyCommand carried it and the
    failure is not about the key or the login, the command's own error output says more than the
    socket error it caused; else :func:`describe`."""
    if isinstance(sock, ProxyCommand) and not isinstance(
            exc, (paramiko.BadHostKeyException, UnknownHostKey, paramiko.AuthenticationException)):
        return sock.failure()
    return describe(exc, ep, timeout)


class HopFailure(Exception):
    def __init__(self, index: int, total: int, hop: Endpoint, reason: str):
        self.index, self.total, self.hop, self.reason = index, total, hop, reason
        super().__init__(self.text)

    @property
    def text(self) -> str:
        return f"via {self.hop.name} (hop {self.index} of {self.total}, {self.hop.label}): {self.reason}"


class HopPool:
    """One SSH connection per jump host per run, shared by every target behind it.

    Keyed by the chain that reaches the hop (its ProxyCommand and the hops before it, then itself):
    ``ha1`` reached directly and ``ha1`` reached through ``bastion`` are two connections. A hop that
    failed is not tried again in the run: every target behind it gets the same one-line reason.
    Thread-safe (preflight opens hosts in parallel); closed with :meth:`close`.
    """

    def __init__(self, keys: HostKeys):
        self.keys = keys
        self._lock = threading.RLock()
        self._open: dict[tuple, paramiko.SSHClient | HopFailure] = {}

    def _client(self, route: Route, n: int, timeout: float) -> paramiko.SSHClient:
        """The open client of ``route.hops[n-1]``, opening the ones before it as needed."""
        key = (route.proxy_command, route.hops[:n])
        entry = self._open.get(key)
        if isinstance(entry, HopFailure):        # tried once this run: same reason, this route's hop count
            raise HopFailure(entry.index, len(route.hops), entry.hop, entry.reason)
        if entry is not None and entry.get_transport() is not None and entry.get_transport().is_active():
            return entry
        hop, total = route.hops[n - 1], len(route.hops)
        sock = None
        try:
            if n > 1:
                before = self._client(route, n - 1, timeout)
                try:
                    sock = before.get_transport().open_channel("direct-tcpip", (hop.address, hop.port), ("", 0),
                                                               timeout=timeout)
                except (paramiko.ChannelException, paramiko.SSHException, OSError) as exc:
                    raise HopFailure(n, total, hop, describe(exc, hop, timeout)) from None
            elif route.proxy_command:
                sock = ProxyCommand(route.proxy_command)
            client = paramiko.SSHClient()
            self.keys.install(client, f"{hop.name} (hop {n} of {total}, {hop.label})", hop.address, hop.port)
            try:
                authenticated(client, hop, sock, timeout)
            except Exception as exc:  # noqa: BLE001 - every failure becomes one line
                client.close()
                raise HopFailure(n, total, hop, reason(exc, sock, hop, timeout)) from None
        except HopFailure as failure:
            self._open[key] = failure
            raise
        bound(client.get_transport())
        self._open[key] = client
        return client

    def channel(self, route: Route, address: str, port: int, timeout: float):
        """A socket-like object to ``address:port`` through ``route`` (None: dial directly)."""
        if not route.hops:
            return ProxyCommand(route.proxy_command) if route.proxy_command else None
        with self._lock:
            last = self._client(route, len(route.hops), timeout)
        try:
            return last.get_transport().open_channel("direct-tcpip", (address, port), ("", 0), timeout=timeout)
        except (paramiko.ChannelException, paramiko.SSHException, OSError) as exc:
            hop = route.hops[-1]
            n = len(route.hops)
            raise HopFailure(n, n, hop, describe(exc, Endpoint(hop.name, address, port, "-"), timeout)) from None

    def close(self) -> None:
        with self._lock:
            for entry in reversed(list(self._open.values())):
                if isinstance(entry, paramiko.SSHClient):
                    entry.close()
            self._open.clear()


class Gateway:
    """What Fabric calls to reach a target (``gateway.open()``, ``gateway.transport.open_channel(...)``),
    answered by the pool: also a reconnect of the same Connection goes through the route, never around it."""

    def __init__(self, pool: HopPool, route: Route, timeout: float):
        self.pool, self.route, self.timeout = pool, route, timeout
        self.sock = None

    def open(self) -> None:
        pass            # the pool opens the hops, once

    @property
    def transport(self) -> "Gateway":
        return self

    def open_channel(self, kind: str, dest_addr: tuple, src_addr: tuple):
        self.sock = self.pool.channel(self.route, dest_addr[0], int(dest_addr[1]), self.timeout)
        return self.sock
