"""SSH for the whole product: one verified connection per host, shared by
preflight (through testinfra) and up (through Fabric), and one per jump host,
shared by every host behind it.

>>> with Ssh(HostKeys(Path("state/known_hosts")), Resolver(SshConfig.load(None))) as ssh:  # doctest: +SKIP
...     conn = ssh.open(ssh.target(inv.host("master1")), timeout=5)
...     conn.run("uname -r", hide=True).stdout
...     session = ssh.session(ssh.target(inv.host("node1")), timeout=5)   # no Fabric: preflight's

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
"""

from __future__ import annotations

import base64
import hashlib
import os
import shlex
import socket
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from provisioner import deferred

deferred.defer("invoke")     # before paramiko: its config module imports invoke for `Match exec` only
import paramiko  # noqa: E402
from paramiko.auth_strategy import AuthStrategy, InMemoryPrivateKey  # noqa: E402
from paramiko.hostkeys import HostKeys as ParamikoHostKeys  # noqa: E402

from provisioner.errors import ProvisionerError  # noqa: E402
from provisioner.sshconfig import Endpoint, Resolver, Route, SshConfig, SshTarget  # noqa: E402

if TYPE_CHECKING:
    import fabric

__all__ = ["ConnectionLost", "HostKeys", "Ssh", "SshTarget", "Unreachable", "connect", "fingerprint",
           "is_alive", "keep_alive", "open_connection", "quote"]

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


def _bound(transport: paramiko.Transport | None, interval: float = KEEPALIVE, dead_peer: float = DEAD_PEER) -> None:
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


def keep_alive(conn, interval: float = KEEPALIVE, dead_peer: float = DEAD_PEER) -> None:
    """Bound every wait on ``conn`` (an open Fabric connection). Jump connections are bounded by the pool.

    >>> keep_alive(conn)          # doctest: +SKIP
    """
    _bound(getattr(getattr(conn, "client", None), "get_transport", lambda: None)(), interval, dead_peer)


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


def _stderr_line(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class HostKeys:
    """The host keys we trust: the user's known_hosts plus the cluster's own file.

    New keys (with ``accept_new``) are appended to the cluster's file only,
    never to the user's, and announced once each (``announce``: a line on
    stderr by default) with their fingerprint and whose they are.
    Thread-safe: hosts connect in parallel.
    """

    def __init__(self, path: Path, accept_new: bool = False, user_file: Path | None = None,
                 announce: Callable[[str], None] = _stderr_line):
        self.path = Path(path)
        self.accept_new = accept_new
        self.announce = announce
        self.user_file = Path(os.path.expanduser("~/.ssh/known_hosts")) if user_file is None else user_file
        self._lock = threading.Lock()
        self._keys = ParamikoHostKeys()
        for f in (self.user_file, self.path):
            if f and f.is_file():
                try:
                    self._keys.load(str(f))
                except (OSError, paramiko.SSHException):
                    pass  # an unreadable user file must not block the cluster's own keys

    @property
    def files(self) -> list[Path]:
        """Both known_hosts files, the user's first (what ``ssh -o UserKnownHostsFile`` gets)."""
        return [f for f in (self.user_file, self.path) if f]

    def lookup(self, name: str) -> dict | None:
        with self._lock:
            return self._keys.lookup(name)

    def install(self, client: paramiko.SSHClient, whose: str, address: str, port: int) -> None:
        """Give ``client`` our keys for ``address``:``port`` and our policy for keys it does not know (``whose``:
        for messages).

        Only the keys of the name paramiko will look up (paramiko/client.py ``SSHClient.connect``: the address,
        or ``[address]:port`` off port 22): not every known host's keys into every client - each ``add`` scans
        what is there, so that was cubic in the hosts.
        """
        name = known_hosts_name(address, port)
        with self._lock:
            found = self._keys.lookup(name)
            for key_type, key in (found or {}).items():
                client.get_host_keys().add(name, key_type, key)
        client.set_missing_host_key_policy(_Policy(self, whose))

    def record(self, name: str, key: paramiko.PKey, whose: str = "") -> None:
        with self._lock:
            known = self._keys.lookup(name)
            if known is not None and key.get_name() in known and known[key.get_name()] == key:
                return          # accepted meanwhile on another connection: recorded and announced once
            self._keys.add(name, key.get_name(), key)
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            line = f"{name} {key.get_name()} {key.get_base64()}\n"
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a") as fh:
                fh.write(line)
        self.announce(f"{whose or name}: accepted new host key {key.get_name()} {fingerprint(key)} "
                      f"for {name}, recorded in {self.path}")


class UnknownHostKey(paramiko.SSHException):
    pass


class _Policy(paramiko.MissingHostKeyPolicy):
    def __init__(self, keys: HostKeys, whose: str):
        self.keys, self.whose = keys, whose

    def missing_host_key(self, client, hostname, key):
        if not self.keys.accept_new:
            raise UnknownHostKey(
                f"unknown host key {key.get_name()} {fingerprint(key)} for {hostname} - verify it, then re-run "
                f"with --accept-new-host-keys to trust and record it in {self.keys.path}")
        self.keys.record(hostname, key, self.whose)


# --- authentication ----------------------------------------------------------------------------

def _public_blob(path: str) -> bytes | None:
    """The public key of an identity file without its private part: ``FILE.pub``, or FILE itself
    when it holds a public key (OpenSSH accepts both for agent keys with IdentitiesOnly)."""
    for candidate in (f"{path}.pub", path):
        try:
            fields = Path(candidate).read_text(encoding="utf-8", errors="replace").split()
        except OSError:
            continue
        if len(fields) >= 2 and not fields[0].startswith("-----"):
            try:
                return base64.b64decode(fields[1])
            except ValueError:
                continue
    return None


class _Keys(AuthStrategy):
    """Public-key authentication as OpenSSH orders it: agent keys matching an identity file, the
    identity files themselves, then (without IdentitiesOnly) the agent's other keys."""

    def __init__(self, endpoint: Endpoint):
        super().__init__(ssh_config=None)
        self.endpoint = endpoint
        self.agent: paramiko.Agent | None = None
        self.notes: list[str] = []

    def keys(self) -> list[paramiko.PKey]:
        ep = self.endpoint
        files = list(ep.identity_files) or [p for p in map(os.path.expanduser, ("~/.ssh/id_rsa", "~/.ssh/id_ecdsa",
                                                                                 "~/.ssh/id_ed25519"))
                                            if os.path.exists(p)]
        loaded: list[paramiko.PKey] = []
        wanted: list[bytes] = []
        for path in files:
            try:
                key = paramiko.PKey.from_path(path)
                loaded.append(key)
                wanted.append(key.asbytes())
            except paramiko.PasswordRequiredException:
                self.notes.append(f"{path} is encrypted (load it into ssh-agent)")
                blob = _public_blob(path)
                if blob:
                    wanted.append(blob)
            except (OSError, paramiko.SSHException, ValueError) as exc:
                blob = _public_blob(path)
                if blob:
                    wanted.append(blob)     # e.g. only FILE.pub here, its private key in the agent
                else:
                    self.notes.append(f"{path}: {getattr(exc, 'strerror', None) or exc}")
        agent_keys: list[paramiko.PKey] = []
        if os.environ.get("SSH_AUTH_SOCK"):
            try:
                self.agent = paramiko.Agent()
                agent_keys = list(self.agent.get_keys())
            except paramiko.SSHException as exc:
                self.notes.append(f"ssh-agent: {exc}")
        by_blob = {k.asbytes(): k for k in agent_keys}
        ordered = [by_blob[b] for b in wanted if b in by_blob]
        ordered += [k for k in loaded if k.asbytes() not in by_blob]
        if not ep.identities_only:
            ordered += [k for k in agent_keys if k not in ordered]
        seen: set[bytes] = set()
        return [k for k in ordered if not (k.asbytes() in seen or seen.add(k.asbytes()))]

    def get_sources(self):
        for key in self.keys():
            yield InMemoryPrivateKey(self.endpoint.user, key)

    def close(self) -> None:
        if self.agent is not None:
            self.agent.close()
            self.agent = None


def aead_first(sock, disabled_algorithms=None) -> paramiko.Transport:
    """A paramiko Transport that offers AES-GCM first (``SSHClient.connect``'s ``transport_factory``).

    paramiko's own order starts with aes-ctr, whose HMAC every received packet has checked by a Python loop
    (paramiko/util.py constant_time_bytes_eq); with AES-GCM (an AEAD, OpenSSH's aes128-gcm@openssh.com,
    offered by sshd since 6.2) the tag is checked inside the cipher, in C. The other ciphers stay offered
    after it, in paramiko's order, for a server that does not take GCM."""
    transport = paramiko.Transport(sock, disabled_algorithms=disabled_algorithms)
    options = transport.get_security_options()
    offered = list(options.ciphers)
    gcm = [c for c in offered if c.endswith("-gcm@openssh.com")]
    options.ciphers = tuple(gcm + [c for c in offered if c not in gcm])
    return transport


def _authenticated(client: paramiko.SSHClient, ep: Endpoint, sock, timeout: float) -> None:
    """``client.connect`` to ``ep`` over ``sock`` (None: TCP), host key checked first."""
    strategy = _Keys(ep)
    try:
        client.connect(ep.address, port=ep.port, username=ep.user, sock=sock, timeout=timeout,
                       banner_timeout=timeout, auth_timeout=timeout, auth_strategy=strategy,
                       transport_factory=aead_first)
    except paramiko.AuthenticationException as exc:
        exc.notes_for_user = strategy.notes    # type: ignore[attr-defined]
        raise
    finally:
        strategy.close()


# --- failures in one line ------------------------------------------------------------------------

def _describe(exc: BaseException, ep, timeout: float) -> str:
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


class _ProxyCommand(paramiko.ProxyCommand):
    """OpenSSH runs a ProxyCommand as ``$SHELL -c 'exec COMMAND'`` (openssh/openssh-portable
    sshconnect.c, ssh_proxy_connect); so do we. Its stderr is read back when it fails."""

    def __init__(self, command: str):
        shell = os.environ.get("SHELL") or "/bin/sh"
        self.command = command
        super().__init__(shlex.join([shell, "-c", f"exec {command}"]))

    def recv(self, size: int) -> bytes:
        """Like a socket: what is there (at least one byte), or b"" once the command's stdout ended.
        (paramiko's own recv spins until its timeout on an exited command.)"""
        import select

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


# --- the jump pool -------------------------------------------------------------------------------

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
                    raise HopFailure(n, total, hop, _describe(exc, hop, timeout)) from None
            elif route.proxy_command:
                sock = _ProxyCommand(route.proxy_command)
            client = paramiko.SSHClient()
            self.keys.install(client, f"{hop.name} (hop {n} of {total}, {hop.label})", hop.address, hop.port)
            try:
                _authenticated(client, hop, sock, timeout)
            except Exception as exc:  # noqa: BLE001 - every failure becomes one line
                client.close()
                raise HopFailure(n, total, hop, _reason(exc, sock, hop, timeout)) from None
        except HopFailure as failure:
            self._open[key] = failure
            raise
        _bound(client.get_transport())
        self._open[key] = client
        return client

    def channel(self, route: Route, address: str, port: int, timeout: float):
        """A socket-like object to ``address:port`` through ``route`` (None: dial directly)."""
        if not route.hops:
            return _ProxyCommand(route.proxy_command) if route.proxy_command else None
        with self._lock:
            last = self._client(route, len(route.hops), timeout)
        try:
            return last.get_transport().open_channel("direct-tcpip", (address, port), ("", 0), timeout=timeout)
        except (paramiko.ChannelException, paramiko.SSHException, OSError) as exc:
            hop = route.hops[-1]
            n = len(route.hops)
            raise HopFailure(n, n, hop, _describe(exc, Endpoint(hop.name, address, port, "-"), timeout)) from None

    def close(self) -> None:
        with self._lock:
            for entry in reversed(list(self._open.values())):
                if isinstance(entry, paramiko.SSHClient):
                    entry.close()
            self._open.clear()


class _Gateway:
    """What Fabric calls to reach a target (``gateway.open()``, ``gateway.transport.open_channel(...)``),
    answered by the pool: also a reconnect of the same Connection goes through the route, never around it."""

    def __init__(self, pool: HopPool, route: Route, timeout: float):
        self.pool, self.route, self.timeout = pool, route, timeout
        self.sock = None

    def open(self) -> None:
        pass            # the pool opens the hops, once

    @property
    def transport(self) -> "_Gateway":
        return self

    def open_channel(self, kind: str, dest_addr: tuple, src_addr: tuple):
        self.sock = self.pool.channel(self.route, dest_addr[0], int(dest_addr[1]), self.timeout)
        return self.sock


# --- one run's SSH ---------------------------------------------------------------------------------

class Ssh:
    """One run's SSH: the trusted host keys, how each host is reached, the shared jump connections.

    >>> with Ssh(HostKeys(state / "known_hosts"), Resolver(SshConfig.load(None), user="ops")) as ssh:  # doctest: +SKIP
    ...     ssh.bind(inv)
    ...     conn = ssh.open(ssh.target(inv.host("node1")), timeout=10)
    """

    def __init__(self, keys: HostKeys, resolver: Resolver | None = None):
        self.keys = keys
        self.resolver = resolver or Resolver(SshConfig.load(None))
        self.hops = HopPool(keys)
        self._targets: dict[str, SshTarget] = {}
        self._lock = threading.Lock()

    @classmethod
    def of(cls, keys: "Ssh | HostKeys") -> "Ssh":
        """``keys`` itself when it is an :class:`Ssh`; else a new one (~/.ssh/config, no overrides)."""
        return keys if isinstance(keys, Ssh) else cls(keys)

    def bind(self, inv) -> "Ssh":
        """Resolve every host of ``inv`` now (bad ssh_config values fail here, exit 2) and write the
        resolved user and port back to ``host.ssh``: checks and steps read them (who needs sudo, whose
        ~/.kube/config)."""
        for host in inv.hosts:
            self.target(host)
        return self

    def target(self, host) -> SshTarget:
        with self._lock:
            target = self._targets.get(host.hostname)
            if target is None:
                target = self._targets[host.hostname] = self.resolver.target(host)
                fields = host.ssh.model_fields_set
                host.ssh = type(host.ssh).model_construct(_fields_set=fields, user=target.user, port=target.port,
                                                          key=host.ssh.key, proxy_jump=host.ssh.proxy_jump)
            return target

    def open(self, target: SshTarget, timeout: float = 10) -> fabric.Connection:
        """Open and return a verified Fabric connection to ``target``, or raise :class:`Unreachable`."""
        import fabric       # with invoke (~30 ms): only for commands that run steps; preflight uses session()

        gateway = _Gateway(self.hops, target.route, timeout) if target.route else False
        strategy = _Keys(target.endpoint)
        conn = fabric.Connection(host=target.address, user=target.user, port=target.port, connect_timeout=timeout,
                                 gateway=gateway, config=fabric.Config(ssh_config=paramiko.SSHConfig()),
                                 connect_kwargs={"banner_timeout": timeout, "auth_timeout": timeout,
                                                 "transport_factory": aead_first,
                                                 "auth_strategy": strategy})
        self.keys.install(conn.client, target.name, target.address, target.port)
        try:
            conn.open()
        except BaseException as exc:  # noqa: BLE001 - every failure becomes one line
            conn.close()
            if isinstance(exc, KeyboardInterrupt):
                raise
            if isinstance(exc, paramiko.AuthenticationException):
                exc.notes_for_user = strategy.notes     # type: ignore[attr-defined]
            raise _failure(exc, target, gateway, timeout) from None
        finally:
            strategy.close()
        keep_alive(conn)
        return conn

    def session(self, target: SshTarget, timeout: float = 10) -> "Session":
        """Open a verified SSH session to ``target`` without Fabric, or raise :class:`Unreachable`.

        The same route (jump pool, ProxyCommand), host-key checks, keys and one-line reasons as
        :meth:`open`, which makes the same ``SSHClient.connect`` call through Fabric
        (fabric/connection.py ``Connection.open``: connect_kwargs, user, host, port, the gateway's
        channel as ``sock``, connect_timeout). Preflight reads over it with testinfra; it skips
        importing Fabric and invoke.
        """
        gateway = _Gateway(self.hops, target.route, timeout) if target.route else None
        client = paramiko.SSHClient()
        self.keys.install(client, target.name, target.address, target.port)
        try:
            sock = gateway.open_channel("direct-tcpip", (target.address, target.port), ("", 0)) if gateway else None
            _authenticated(client, target.endpoint, sock, timeout)
        except BaseException as exc:  # noqa: BLE001 - every failure becomes one line
            if isinstance(exc, KeyboardInterrupt):
                client.close()
                raise
            failure = _failure(exc, target, gateway, timeout)    # before close: a ProxyCommand's stderr
            client.close()
            raise failure from None
        _bound(client.get_transport())
        return Session(target.address, target.user, target.port, client)

    def close(self) -> None:
        self.hops.close()

    def __enter__(self) -> "Ssh":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass
class Session:
    """An open, verified SSH session without Fabric (:meth:`Ssh.session`): what testinfra needs.

    >>> session.client.exec_command("true")      # doctest: +SKIP
    """

    host: str
    user: str
    port: int
    client: paramiko.SSHClient

    def close(self) -> None:
        self.client.close()


def _failure(exc: BaseException, target: SshTarget, gateway: "_Gateway | None | bool", timeout: float) -> Unreachable:
    """The :class:`Unreachable` for a failed open of ``target``: a jump host's reason, a ProxyCommand's
    own error output, else :func:`_describe`."""
    if isinstance(exc, HopFailure):
        return Unreachable(target.name, exc.text)
    return Unreachable(target.name, _reason(exc, gateway.sock if gateway else None, target, timeout))


def _reason(exc: BaseException, sock, ep, timeout: float) -> str:
    """Why ``ep`` (a target or a hop) failed to open over ``sock``: when a ProxyCommand carried it and the
    failure is not about the key or the login, the command's own error output says more than the
    socket error it caused; else :func:`_describe`."""
    if isinstance(sock, _ProxyCommand) and not isinstance(
            exc, (paramiko.BadHostKeyException, UnknownHostKey, paramiko.AuthenticationException)):
        return sock.failure()
    return _describe(exc, ep, timeout)


def open_connection(target: SshTarget, keys: "Ssh | HostKeys", timeout: float = 10) -> fabric.Connection:
    """Open a verified connection to ``target`` (see :meth:`Ssh.open`). With a bare :class:`HostKeys`,
    jump connections opened for it close with the returned connection."""
    if isinstance(keys, Ssh):
        return keys.open(target, timeout)
    ssh = Ssh(keys, Resolver())
    conn = ssh.open(target, timeout)
    close = conn.close

    def close_all() -> None:
        close()
        ssh.close()

    conn.close = close_all      # type: ignore[method-assign]
    return conn


@contextmanager
def connect(target: SshTarget, keys: "Ssh | HostKeys", timeout: float = 10) -> Iterator[fabric.Connection]:
    conn = open_connection(target, keys, timeout)
    try:
        yield conn
    finally:
        conn.close()


def quote(value: object) -> str:
    """Shell-quote a value for a remote command (every value that reaches a shell)."""
    return shlex.quote(str(value))
