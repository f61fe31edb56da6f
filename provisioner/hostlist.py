"""Words every report shares: compressed host lists, counted nouns, durations.

>>> compress(["master1", "master2", "master3", "node1", "node2", "node3", "ha1"])
'master[1-3], node[1-3], ha1'
>>> compress(["node1", "node3", "node4", "node10", "lb"])
'node[1,3-4,10], lb'
>>> expand("master[1-3], node[1,3-4,10], lb")
['master1', 'master2', 'master3', 'node1', 'node3', 'node4', 'node10', 'lb']
>>> plural(1, "worker"), plural(2, "worker"), plural(0, "change")
('1 worker', '2 workers', '0 changes')
>>> seconds(0.04), seconds(12.345), seconds(125)
('0.0s', '12.3s', '2m05.0s')

One spelling everywhere (preflight, up, verify): a reader who learns ``node[1-3]`` in one
report reads it in all of them, and a grep for a plain host name still finds a host
that stands alone (a group of one is never bracketed).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_NUMBERED = re.compile(r"^(.*?)(\d+)$")

IRREGULAR = {"is": "are", "was": "were", "has": "have", "this": "these", "it": "they"}


def compress(names: Iterable[str]) -> str:
    """Host names as ``prefix[ranges]`` groups, in order of first appearance.

    Names ending in a number share a group with the same prefix (and the same zero padding); others
    stand alone. Numbers are sorted inside a group; consecutive ones become ``a-b``.
    """
    groups: dict[tuple[str, int], list[int]] = {}
    order: list[tuple[str, int] | str] = []
    for name in dict.fromkeys(names):
        m = _NUMBERED.match(name)
        if not m:
            order.append(name)
            continue
        digits = m.group(2)
        # "node01" and "node1" are different spellings: keep the padding width in the key.
        key = (m.group(1), len(digits) if digits.startswith("0") and len(digits) > 1 else 0)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(int(digits))
    parts = []
    for item in order:
        if isinstance(item, str):
            parts.append(item)
            continue
        prefix, width = item
        numbers = sorted(set(groups[item]))
        fmt = (lambda n: f"{n:0{width}d}") if width else str
        if len(numbers) == 1:
            parts.append(f"{prefix}{fmt(numbers[0])}")
            continue
        parts.append(f"{prefix}[{','.join(_ranges(numbers, fmt))}]")
    return ", ".join(parts)


def expand(text: str) -> list[str]:
    """The host names a :func:`compress` list stands for (for tests and for tools reading our output)."""
    names: list[str] = []
    for part in re.findall(r"[^,\s\[]+(?:\[[^\]]*\])?", text):
        m = re.match(r"^(.*)\[(.*)\]$", part)
        if not m:
            names.append(part)
            continue
        for item in m.group(2).split(","):
            lo, _, hi = item.partition("-")
            if int(hi or lo) < int(lo):
                raise ValueError(f"{part}: the range {item} runs backwards")
            width = len(lo) if lo.startswith("0") else 0
            names.extend(f"{m.group(1)}{n:0{width}d}" if width else f"{m.group(1)}{n}"
                         for n in range(int(lo), int(hi or lo) + 1))
    return names


def _ranges(numbers: list[int], fmt) -> list[str]:
    out, start, prev = [], numbers[0], numbers[0]
    for n in numbers[1:] + [None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        out.append(fmt(start) if start == prev else f"{fmt(start)}-{fmt(prev)}")
        if n is not None:
            start = prev = n
    return out


def natural(name: str) -> tuple:
    """Sort key putting ``node2`` before ``node10``."""
    m = _NUMBERED.match(name)
    return (m.group(1), int(m.group(2)), name) if m else (name, -1, name)


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``count`` and ``noun``, the noun in the plural unless count is 1 ("1 host", "3 hosts")."""
    if count == 1:
        return f"{count} {noun}"
    if many is None:
        many = IRREGULAR.get(noun) or (noun[:-1] + "ies" if noun.endswith("y") and noun[-2:-1] not in "aeiou"
                                       else noun + "es" if noun.endswith(("s", "sh", "ch", "x")) else noun + "s")
    return f"{count} {many}"


def seconds(value: float) -> str:
    """A duration for people: one decimal, minutes from 60 s on."""
    if value < 60:
        return f"{value:.1f}s"
    minutes, rest = divmod(value, 60)
    return f"{int(minutes)}m{rest:04.1f}s"
