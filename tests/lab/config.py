"""Lab configuration: fixed paths, node specs, inventory and mirror parsing.

The inventory is read with plain PyYAML on purpose: the product's own model is
written concurrently and the lab must not depend on it.
"""

from __future__ import annotations

import glob
import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_INVENTORY = REPO_ROOT / "inventories" / "lab.yaml"

CACHE_DIR = Path(os.environ.get("LAB_CACHE_DIR", "/var/cache/provisioner-lab"))
LIB_DIR = Path(os.environ.get("LAB_LIB_DIR", "/var/lib/provisioner-lab"))
STATE_ROOT = LIB_DIR / "state"
CGROUP_NAME = "provisioner-lab"

LAB_NET = ipaddress.ip_network("172.31.250.0/24")
DEFAULT_NAME = "lab"
DEFAULT_BRIDGE = "labbr0"
DEFAULT_BRIDGE_CIDR = "172.31.250.1/24"
REPO_PORT = 8080
DEFAULT_MIRROR = "http://deb.debian.org/debian"
SUITE = "bookworm"


NODE_OSES = ("debian12", "rocky9", "alma10")


@dataclass(frozen=True)
class NodeSpec:
    """One host to boot: its name, lab address and (informational) roles."""

    hostname: str
    address: str
    roles: tuple[str, ...] = field(default=())
    # More interfaces (eth1, eth2, ...): one address per further segment the node is on. A node
    # with legs is a bastion: it never routes between them (ip_forward 0).
    legs: tuple[str, ...] = field(default=())
    # With legs: forward the lab's package mirror (TCP 8080) and NTP (UDP 123), listening on each
    # leg address, to this upstream address (the host's bridge address, or the previous bastion).
    relay_to: str | None = None
    # "debian12", or an EL-like node (tests/lab/eltree.py): "rocky9", "alma10"
    os: str = "debian12"

    def __post_init__(self) -> None:
        if self.os not in NODE_OSES:
            raise ValueError(f"{self.hostname}: os {self.os!r} is not one of {', '.join(NODE_OSES)}")
        if not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?", self.hostname):
            raise ValueError(f"bad lab hostname {self.hostname!r}")
        for a in (self.address, *self.legs, *([self.relay_to] if self.relay_to else [])):
            if ipaddress.ip_address(a) not in LAB_NET:
                raise ValueError(f"{a} is outside {LAB_NET}")
        if self.relay_to and not self.legs:
            raise ValueError(f"{self.hostname}: relay_to needs a leg to listen on")

    @property
    def addresses(self) -> tuple[str, ...]:
        """eth0's address, then each leg's (eth1, ...)."""
        return (self.address, *self.legs)

    @property
    def octet(self) -> int:
        """Last octet of the address: names the host-side veth."""
        return int(self.address.rsplit(".", 1)[1])

    @property
    def mac(self) -> str:
        """eth0's MAC, derived from the address (locally administered)."""
        return mac_for(self.address)


def mac_for(address: str) -> str:
    """A lab interface's MAC: ``02:4c:`` + the address's four bytes (locally administered)."""
    return "02:4c:" + ":".join(f"{b:02x}" for b in ipaddress.ip_address(address).packed)


@dataclass(frozen=True)
class Inventory:
    """What the lab needs from an inventory file."""

    path: Path
    nodes: tuple[NodeSpec, ...]
    vip: str | None
    domain: str | None
    host_network: str | None


def read_inventory(path: str | os.PathLike = DEFAULT_INVENTORY) -> Inventory:
    """Read hosts, VIP, domain and host network from an inventory YAML."""
    p = Path(path)
    data = yaml.safe_load(p.read_text()) or {}
    nodes = tuple(
        NodeSpec(hostname=str(h["hostname"]), address=str(h["address"]),
                 roles=tuple(h.get("roles") or ()))
        for h in data.get("hosts") or []
    )
    if not nodes:
        raise ValueError(f"{p}: no hosts")
    cpe = data.get("control_plane_endpoint") or {}
    net = (data.get("networking") or {}).get("host_network")
    if net and not ipaddress.ip_network(net).subnet_of(LAB_NET):
        raise ValueError(f"{p}: host_network {net} is not inside {LAB_NET}")
    return Inventory(path=p, nodes=nodes, vip=cpe.get("address"),
                     domain=data.get("domain"), host_network=net)


def node_specs(items) -> tuple[NodeSpec, ...]:
    """Normalize NodeSpecs, (hostname, address) pairs or dicts to NodeSpecs."""
    out = []
    for it in items:
        if isinstance(it, NodeSpec):
            out.append(it)
        elif isinstance(it, dict):
            out.append(NodeSpec(str(it["hostname"]), str(it["address"]),
                                tuple(it.get("roles") or ()), tuple(it.get("legs") or ()),
                                it.get("relay_to"), it.get("os") or "debian12"))
        else:
            host, addr = it
            out.append(NodeSpec(str(host), str(addr)))
    names = [n.hostname for n in out]
    addrs = [a for n in out for a in n.addresses]
    if len(set(names)) != len(names) or len(set(addrs)) != len(addrs):
        raise ValueError("duplicate hostname or address in node specs")
    return tuple(out)


# Free for generated nodes (benchmarks): the lab inventory holds .100-.109, the VM and bastion labs' smaller
# segments start at .160.
GENERATED_OCTETS = (*range(10, 100), *range(110, 160))


def generated_nodes(count: int, prefix: str = "gen", first: int = 10) -> tuple[NodeSpec, ...]:
    """``count`` nodes named PREFIXN on 172.31.250.10-.99, then .110-.159, from ``first`` on."""
    octets = [o for o in GENERATED_OCTETS if o >= first]
    if count < 1 or first not in GENERATED_OCTETS or count > len(octets):
        raise ValueError(f"generated nodes must fit in 172.31.250.10-.99 and .110-.159 ({len(GENERATED_OCTETS)})")
    return tuple(NodeSpec(f"{prefix}{i + 1}", f"172.31.250.{octets[i]}") for i in range(count))


def debian_mirror() -> str:
    """The Debian mirror for bookworm in this machine's apt sources."""
    for src in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        for stanza in re.split(r"\n\s*\n", Path(src).read_text()):
            fields = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line:
                    continue
                k, v = line.split(":", 1)
                fields[k.strip().lower()] = v.strip()
            if ("deb" in fields.get("types", "").split()
                    and SUITE in fields.get("suites", "").split()
                    and fields.get("uris")):
                return fields["uris"].split()[0].rstrip("/")
    lists = ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]
    for lst in lists:
        if not os.path.exists(lst):
            continue
        for line in Path(lst).read_text().splitlines():
            words = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
            if len(words) >= 3 and words[0] == "deb" and words[2] == SUITE:
                return words[1].rstrip("/")
    return DEFAULT_MIRROR
