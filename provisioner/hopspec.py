"""What a jump host list may say: OpenSSH's ``-J`` syntax, ``[user@]host[:port]`` hops joined by commas
(:func:`parse_hops`), and the user and host name rules it shares with ssh_config. No paramiko here: the
inventory model validates ``ssh.proxy_jump`` with it."""

from __future__ import annotations

import re
from dataclasses import dataclass

_USER = r"[a-z_][a-z0-9_-]{0,31}"
_HOSTNAME = r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?"
# [user@]host[:port]: no spaces, no leading '-', nothing a shell or ssh would read as an option.
HOP_RE = re.compile(rf"(?:(?P<user>{_USER})@)?(?P<host>{_HOSTNAME})(?::(?P<port>\d{{1,5}}))?")
USER_RE, HOSTNAME_RE = re.compile(_USER), re.compile(_HOSTNAME)
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
MAX_HOPS = 8             # a chain longer than this is a loop in ssh_config, not a network


@dataclass(frozen=True)
class HopSpec:
    """One ``[user@]host[:port]`` of a ProxyJump list, as written."""

    user: str | None
    host: str
    port: int | None

    def __str__(self) -> str:
        return f"{self.user + '@' if self.user else ''}{self.host}{':' + str(self.port) if self.port else ''}"


def parse_hops(spec: str) -> list[HopSpec]:
    """Split an OpenSSH ``-J`` list; raise ValueError (with the fix) for anything else.

    >>> parse_hops("ops@bastion:2222,inner")
    [HopSpec(user='ops', host='bastion', port=2222), HopSpec(user=None, host='inner', port=None)]
    >>> parse_hops("bastion -oProxyCommand=id")
    Traceback (most recent call last):
    ...
    ValueError: 'bastion -oProxyCommand=id' is not a jump host list - write [user@]host[:port] hops joined by commas, like ops@bastion:22,ops@inner
    """
    hops = []
    for part in spec.split(","):
        m = HOP_RE.fullmatch(part)
        port = int(m["port"]) if m and m["port"] else None
        if not m or (port is not None and not 1 <= port <= 65535):
            raise ValueError(f"{spec!r} is not a jump host list - write [user@]host[:port] hops joined by commas, "
                             "like ops@bastion:22,ops@inner")
        hops.append(HopSpec(m["user"], m["host"], port))
    if len(hops) > MAX_HOPS:
        raise ValueError(f"{spec!r} has {len(hops)} hops - at most {MAX_HOPS}")
    return hops
