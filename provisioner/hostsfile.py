"""/etc/hosts lines outside our managed block that send a cluster name elsewhere.

The resolver answers with the FIRST line that names a host, so a stale
``172.31.250.199 master1`` above our block wins over it. prep comments such
lines out (with a marker saying why); preflight reports them as failures,
apart from names that are merely missing.

>>> wanted = {"master1": "10.0.0.101", "kubeapi": "10.0.0.100"}
>>> text = "127.0.0.1 localhost\\n10.0.0.199 master1 old\\n# BEGIN provisioner cluster c\\n10.0.0.101 master1\\n# END provisioner cluster c\\n"
>>> [(c.lineno, c.names, c.address) for c in conflicts(text, wanted, own=set())]
[(2, ['master1'], '10.0.0.199')]
>>> comment_out(text, wanted, own=set()).splitlines()[1]
'# provisioner: maps master1 elsewhere than the cluster block below: 10.0.0.199 master1 old'

Loopback lines for the host's OWN names (Debian's ``127.0.1.1 master1``) are
not conflicts: every Debian and Ubuntu host has one, and kubeadm is given the
node's address explicitly (advertiseAddress, node-ip), so it never resolves
its own name.
"""

from __future__ import annotations

from dataclasses import dataclass

BLOCK_BEGIN = "# BEGIN provisioner cluster "
BLOCK_END = "# END provisioner cluster "
MARKER = "# provisioner: maps {names} elsewhere than the cluster block below: "


@dataclass(frozen=True)
class Conflict:
    lineno: int
    line: str
    names: list[str]
    address: str

    def describe(self, path: str = "/etc/hosts") -> str:
        return f"{path}:{self.lineno}: '{self.line.strip()}' maps {', '.join(self.names)} to {self.address}"


def wanted_names(inv) -> dict[str, str]:
    """Every name our block writes (hosts, endpoint, registry; short and FQDN) -> its address."""
    from provisioner.render import hosts_entries

    return {name: str(e["address"]) for e in hosts_entries(inv) if e["address"] for name in e["names"]}


def own_names(inv, host) -> set[str]:
    return {host.hostname, inv.fqdn(host.hostname)}


def conflicts(text: str, wanted: dict[str, str], own: set[str]) -> list[Conflict]:
    """The lines outside our block that map a wanted name to another address."""
    out, inside = [], False
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.startswith(BLOCK_BEGIN):
            inside = True
        if inside:
            inside = not line.startswith(BLOCK_END)
            continue
        words = line.split("#", 1)[0].split()
        if len(words) < 2:
            continue
        address, names = words[0], words[1:]
        bad = [n for n in names if n in wanted and wanted[n] != address
               and not (n in own and address.startswith("127."))]
        if bad:
            out.append(Conflict(lineno, line, bad, address))
    return out


def comment_out(text: str, wanted: dict[str, str], own: set[str]) -> str:
    """``text`` with every conflicting line commented out behind a marker; the rest unchanged."""
    found = {c.lineno: c for c in conflicts(text, wanted, own)}
    if not found:
        return text
    lines = text.splitlines()
    for lineno, c in found.items():
        lines[lineno - 1] = MARKER.format(names=", ".join(c.names)) + lines[lineno - 1]
    return "\n".join(lines) + ("\n" if text.endswith("\n") else "")
