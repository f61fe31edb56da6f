"""Where and how to log in to a host, resolved the way OpenSSH does it.

>>> resolver = Resolver(SshConfig.load(None), user=None, port=None)   # doctest: +SKIP
>>> target = resolver.target(inv.host("master1"))                       # doctest: +SKIP
>>> target.user, target.port, [h.label for h in target.route.hops]       # doctest: +SKIP
('ops', 22, ['ops@172.31.250.178:22'])

Each value of a target comes from the first of: the command line (``--user``,
``--port``), the inventory host, the inventory's ``host_defaults``, the
ssh_config file (``~/.ssh/config`` then ``/etc/ssh/ssh_config``, or only
``--ssh-config FILE``, as OpenSSH's ``-F``), the defaults (root, 22, the SSH
agent and ~/.ssh/id_* keys). ssh_config is matched on the inventory hostname,
then on the address (first value obtained wins, as in OpenSSH). The
inventory's address is always the one dialled: a ``HostName`` for a target is
not used.

A jump host ("hop") is written ``[user@]host[:port]``, several joined by
commas (OpenSSH's ``-J``). Like OpenSSH, each hop is looked up in ssh_config
under its own name: its ``HostName``, ``Port``, ``User``, ``IdentityFile``,
``IdentitiesOnly`` apply; the first hop's own ``ProxyJump``/``ProxyCommand``
too (that is how OpenSSH reaches it). A hop's user is the one in the hop
spec, else its ssh_config ``User``, else the local login name (OpenSSH's
default); its keys are its ssh_config ``IdentityFile``, else the target's
``ssh.key``, else the agent and default keys.

Every value taken from ssh_config is checked like the inventory's (it reaches
remote commands and messages): a bad one is a one-line error naming the file,
the host and the option (exit 2).
"""

from __future__ import annotations

import getpass
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from provisioner import deferred

deferred.defer("invoke")     # paramiko/config.py imports it for `Match exec` only: see provisioner.deferred
import paramiko  # noqa: E402

from provisioner.errors import UsageError  # noqa: E402
from provisioner.hopspec import CONTROL_RE, HOSTNAME_RE, MAX_HOPS, USER_RE, HopSpec, parse_hops  # noqa: E402

DEFAULT_KEYS = ("~/.ssh/id_rsa", "~/.ssh/id_ecdsa", "~/.ssh/id_ed25519")   # OpenSSH's, the ones paramiko reads


@dataclass(frozen=True)
class Endpoint:
    """One SSH login on the way: a hop (or, with its own fields, a target)."""

    name: str                          # as the operator wrote it: the hop spec's host
    address: str                       # what is dialled (ssh_config HostName, else name)
    port: int
    user: str
    identity_files: tuple[str, ...] = ()
    identities_only: bool = False

    @property
    def label(self) -> str:
        return f"{self.user}@{self.address}:{self.port}"


@dataclass(frozen=True)
class Route:
    """How a target is reached: through ``hops`` in order; the first link (first hop, or the target
    itself without hops) through ``proxy_command`` when set. Hashable: the jump pool's key."""

    hops: tuple[Endpoint, ...] = ()
    proxy_command: str | None = None   # expanded, shell-quoted values; run as $SHELL -c 'exec ...'

    def __bool__(self) -> bool:
        return bool(self.hops or self.proxy_command)

    def describe(self) -> str:
        parts = [h.label for h in self.hops]
        if self.proxy_command:
            parts.insert(0, f"ProxyCommand {self.proxy_command}")
        return " -> ".join(parts)


@dataclass(frozen=True)
class SshTarget:
    """Where and how to log in to one host (resolved: see the module docstring)."""

    name: str          # inventory hostname, used in every message
    address: str
    port: int
    user: str
    key: str | None    # the inventory's ssh.key, expanded
    proxy_jump: str | None   # the hops as an OpenSSH -J list (display)
    sudo: bool
    identity_files: tuple[str, ...] = ()
    identities_only: bool = False
    route: Route = field(default_factory=Route)

    @classmethod
    def of(cls, host) -> "SshTarget":
        """The target from the inventory alone (no ssh_config, no overrides)."""
        return Resolver(SshConfig.empty()).target(host)

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(self.name, self.address, self.port, self.user, self.identity_files, self.identities_only)

    @property
    def privileged_prefix(self) -> str:
        """Prefix for commands that need root: none as root, ``sudo -n`` otherwise."""
        return "" if self.user == "root" else "sudo -n "


class _RawTokens(paramiko.SSHConfig):
    """paramiko's parser, leaving ProxyCommand/ProxyJump unexpanded: their %h/%p/%r are filled in
    with the *resolved* port and user (inventory and --port/--user win), each shell-quoted."""

    def _allowed_tokens(self, key):          # paramiko.config.SSHConfig: per-key token list
        return [] if key in ("proxycommand", "proxyjump") else super()._allowed_tokens(key)


class SshConfig:
    """The ssh_config files in force: ``--ssh-config FILE`` alone, or ~/.ssh/config then /etc/ssh/ssh_config.

    >>> SshConfig.load(None).files                     # doctest: +SKIP
    [PosixPath('/home/me/.ssh/config')]
    """

    def __init__(self, parsed: paramiko.SSHConfig, files: list[Path]):
        self._parsed, self.files = parsed, files

    @classmethod
    def empty(cls) -> "SshConfig":
        return cls(_RawTokens(), [])

    @classmethod
    def load(cls, path: Path | None) -> "SshConfig":
        if path is not None:
            if not Path(path).is_file():
                raise UsageError(f"--ssh-config: {path}: no such file - give an ssh_config file (like ~/.ssh/config)")
            files = [Path(path)]
        else:
            files = [f for f in (Path(os.path.expanduser("~/.ssh/config")), Path("/etc/ssh/ssh_config"))
                     if f.is_file()]
        parsed = _RawTokens()
        for f in files:
            try:
                with f.open(encoding="utf-8") as fh:
                    parsed.parse(fh)
            except (OSError, UnicodeDecodeError, paramiko.ssh_exception.ConfigParseError) as exc:
                raise UsageError(f"{f}: cannot read it as ssh_config ({exc}) - fix the file, or pass "
                                 "--ssh-config FILE") from None
        return cls(parsed, files)

    @property
    def where(self) -> str:
        return ", ".join(str(f) for f in self.files) or "ssh_config"

    def lookup(self, *names: str) -> dict:
        """Options for the first of ``names`` that sets each one (OpenSSH: first obtained wins)."""
        merged: dict = {}
        for name in names:
            found = self._parsed.lookup(name)
            for key, value in found.items():
                if key == "hostname" and value == name:
                    continue            # paramiko fills HostName in with the name looked up: not a setting
                if key == "identityfile":
                    merged.setdefault(key, [])
                    merged[key] += [v for v in value if v not in merged[key]]
                else:
                    merged.setdefault(key, value)
        return merged


class Resolver:
    """Resolves inventory hosts into :class:`SshTarget` (see the module docstring for the order)."""

    def __init__(self, config: SshConfig | None = None, user: str | None = None, port: int | None = None):
        self.config = config or SshConfig.empty()
        self.user, self.port = user, port
        if user is not None and not USER_RE.fullmatch(user):
            raise UsageError(f"--user: {user!r} is not a login name - use a POSIX user name such as ops or root")

    # --- checks of values read from ssh_config -----------------------------------------------

    def _bad(self, host: str, option: str, value, fix: str):
        raise UsageError(f"{self.config.where}: Host {host}: {option} {value!r} {fix}")

    def _user(self, host: str, value: str | None) -> str | None:
        if value is not None and not USER_RE.fullmatch(value):
            self._bad(host, "User", value, "is not a login name - use a POSIX user name such as ops")
        return value

    def _port(self, host: str, value) -> int | None:
        if value is None:
            return None
        if not str(value).isdigit() or not 1 <= int(value) <= 65535:
            self._bad(host, "Port", value, "is not a port - use a number from 1 to 65535")
        return int(value)

    def _files(self, host: str, values) -> tuple[str, ...]:
        out = []
        for value in values or []:
            if CONTROL_RE.search(value):
                self._bad(host, "IdentityFile", value, "contains control characters - write a plain path")
            out.append(os.path.expanduser(value))
        return tuple(out)

    def _identities_only(self, host: str, value) -> bool:
        if value is None:
            return False
        if str(value).lower() not in ("yes", "no"):
            self._bad(host, "IdentitiesOnly", value, "is not yes or no - write IdentitiesOnly yes")
        return str(value).lower() == "yes"

    def _proxy(self, host: str, conf: dict) -> tuple[list[HopSpec] | None, str | None]:
        """The ProxyJump or ProxyCommand of ``conf``, whichever came first (OpenSSH: the first one
        obtained prevents the other). ``none`` disables both."""
        for key in conf:
            if key == "proxyjump":
                value = conf[key]
                if value is None or value.lower() == "none":
                    return None, None
                try:
                    return parse_hops(value), None
                except ValueError as exc:
                    self._bad(host, "ProxyJump", value, f"is not usable: {exc}")
            if key == "proxycommand":
                value = conf[key]
                if value is None:
                    return None, None
                if CONTROL_RE.search(value):
                    self._bad(host, "ProxyCommand", value, "contains control characters")
                return None, value
        return None, None

    def expand_proxy_command(self, host: str, command: str, *, address: str, port: int, user: str,
                             name: str) -> str:
        """OpenSSH's ProxyCommand tokens, each value shell-quoted: %h (address), %p, %r, %n, %%.

        >>> Resolver().expand_proxy_command("h", "ssh -W %h:%p %%x", address="10.0.0.1", port=22, user="ops", name="h")
        'ssh -W 10.0.0.1:22 %x'
        """
        values = {"h": address, "p": str(port), "r": user, "n": name}

        def one(m: re.Match) -> str:
            c = m.group(1)
            if c == "%":
                return "%"
            if c in values:
                return shlex.quote(values[c])
            self._bad(host, "ProxyCommand", command, f"uses %{c} - only %h, %p, %r, %n and %% are supported")
            return ""

        if re.search(r"%$", command.replace("%%", "")):
            self._bad(host, "ProxyCommand", command, "ends in a lone % - write %% for a literal %")
        return re.sub(r"%(.)", one, command)

    # --- resolution ----------------------------------------------------------------------------

    def hop(self, spec: HopSpec, fallback_key: str | None) -> tuple[Endpoint, dict]:
        conf = self.config.lookup(spec.host)
        address = conf.get("hostname", spec.host)
        if not HOSTNAME_RE.fullmatch(address):
            self._bad(spec.host, "HostName", address, "is not a host name or address - write it like 10.0.0.5")
        user = spec.user or self._user(spec.host, conf.get("user")) or getpass.getuser()
        port = spec.port or self._port(spec.host, conf.get("port")) or 22
        files = self._files(spec.host, conf.get("identityfile")) or ((fallback_key,) if fallback_key else ())
        return Endpoint(spec.host, address, port, user, files, self._identities_only(spec.host, conf.get("identitiesonly"))), conf

    def target(self, host) -> SshTarget:
        """Resolve one inventory :class:`~provisioner.inventory.Host`."""
        ssh = host.ssh
        conf = self.config.lookup(host.hostname, str(host.address))
        where = host.hostname
        user = self.user or ssh.user or self._user(where, conf.get("user")) or "root"
        port = self.port or ssh.port or self._port(where, conf.get("port")) or 22
        key = os.path.expanduser(ssh.key) if ssh.key else None
        files = tuple(dict.fromkeys(((key,) if key else ()) + self._files(where, conf.get("identityfile"))))
        identities_only = self._identities_only(where, conf.get("identitiesonly"))
        if ssh.proxy_jump:
            specs, command = parse_hops(ssh.proxy_jump), None
        else:
            specs, command = self._proxy(where, conf)
        if specs:
            route = self.route_for(specs, key, host.hostname)
        elif command:
            route = Route((), self.expand_proxy_command(where, command, address=str(host.address), port=port,
                                                        user=user, name=host.hostname))
        else:
            route = Route()
        jump = ",".join(str(HopSpec(h.user, h.address, h.port)) for h in route.hops) or None
        return SshTarget(host.hostname, str(host.address), int(port), user, key, jump, bool(host.sudo),
                         files, identities_only, route)

    def route_for(self, specs: list[HopSpec], key: str | None, target_name: str) -> Route:
        """Hops listed for a target, each reached through the ones before it; the first one's own
        ssh_config ProxyJump/ProxyCommand reaches it (recursively, bounded)."""
        chain: list[Endpoint] = [self.hop(s, key)[0] for s in specs]
        command = None
        conf = self.config.lookup(specs[0].host)
        for _ in range(MAX_HOPS):
            more, cmd = self._proxy(chain[0].name, conf)
            if cmd:
                first = chain[0]
                command = self.expand_proxy_command(first.name, cmd, address=first.address, port=first.port,
                                                    user=first.user, name=first.name)
                break
            if not more:
                break
            chain = [self.hop(s, key)[0] for s in more] + chain
            conf = self.config.lookup(more[0].host)
            if len(chain) > MAX_HOPS:
                break
        if len(chain) > MAX_HOPS:
            raise UsageError(f"{self.config.where}: the jump hosts of {target_name} go on past {MAX_HOPS} hops "
                             "- a ProxyJump loop? check the ProxyJump line of each hop")
        return Route(tuple(chain), command)
