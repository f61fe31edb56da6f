"""Bastion topologies: cluster nodes on a segment this machine cannot route to.

    lab = bastion_lab(hops=1).up()     # host -> bastion -> nodes of inventories/bastion.yaml
    lab = bastion_lab(hops=2).up()     # host -> bastion -> inner-bastion -> nodes
    proxy_jump(lab)                    # 'ops@172.31.250.178' / 'ops@172.31.250.178,ops@172.31.250.194'
    lab.route("cp1")                   # [(bastion, '172.31.250.178'), (cp1, '172.31.250.213')]

Address plan (inside the lab's 172.31.250.0/24, clear of the main lab's .100-.109, the
generated .10-.99 and .110-.159 and the self-tests' .224/28 and .240/28):

| segment | network | who |
|---|---|---|
| outer (bridge ``NAMEbr0``) | .176/28 | this machine .177 (mirrors, NTP), bastion .178 |
| mid (hidden, two hops only) | .192/28 | bastion .193, inner-bastion .194 |
| inner (hidden) | .208/28 | the last bastion .209 (relays), VIP .210, inventory nodes .211-.222 |

Hidden segments have no host address and an ``unreachable`` route: this machine cannot open a
connection to them, even with the main lab's 172.31.250.1/24 on ``labbr0``. The last bastion
relays the mirrors (TCP 8080) and NTP (UDP 123) on .209 (two hops: through the first bastion's
.193), so the inventory points ``package_mirrors`` and ``ntp_servers`` at 172.31.250.209.
Bastions are lab nodes (user ops, the lab key, known_hosts entries) but not inventory hosts.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

from . import config
from .lab import Lab

BASTION_INVENTORY = config.REPO_ROOT / "inventories" / "bastion.yaml"
OUTER = "172.31.250.177/28"            # this machine's address on the outer bridge
MID = "172.31.250.192/28"
INNER = "172.31.250.208/28"
RELAY = "172.31.250.209"               # the last bastion's inner leg: mirrors and NTP for the nodes
NAMES = {1: "bast1", 2: "bast2"}


def bastions(hops: int) -> tuple[config.NodeSpec, ...]:
    """The bastion nodes of a topology, outermost first."""
    host = str(ipaddress.ip_interface(OUTER).ip)
    if hops == 1:
        return (config.NodeSpec("bastion", "172.31.250.178", legs=(RELAY,), relay_to=host),)
    if hops == 2:
        return (config.NodeSpec("bastion", "172.31.250.178", legs=("172.31.250.193",), relay_to=host),
                config.NodeSpec("inner-bastion", "172.31.250.194", legs=(RELAY,),
                                relay_to="172.31.250.193"))
    raise ValueError(f"hops must be 1 or 2, not {hops}")


def bastion_lab(inventory: str | os.PathLike = BASTION_INVENTORY, hops: int = 1,
                name: str | None = None) -> Lab:
    """A Lab (not booted yet) with the inventory's hosts behind ``hops`` bastions."""
    inv = config.read_inventory(inventory)
    inner = ipaddress.ip_network(INNER)
    for spec in inv.nodes:
        if ipaddress.ip_address(spec.address) not in inner or spec.address == RELAY:
            raise ValueError(f"{inv.path}: {spec.hostname} {spec.address} must be in {INNER} "
                             f"(not {RELAY}, the bastion's) for a bastion lab")
    lab = Lab(nodes=(*bastions(hops), *inv.nodes), name=name or NAMES[hops], bridge_cidr=OUTER,
              segments=(MID, INNER) if hops == 2 else (INNER,), vip=inv.vip, domain=inv.domain)
    lab.inventory_path = Path(inv.path)
    return lab


def proxy_jump(lab: Lab) -> str:
    """The OpenSSH ``-J`` value (inventory ``ssh.proxy_jump``) that leads to the inner nodes."""
    inner = next(n for n in lab.nodes.values() if not n.spec.legs and not lab.reachable(n.address))
    return ",".join(f"ops@{address}" for _, address in lab.route(inner)[:-1])


def hop_nodes(lab: Lab) -> list:
    """The bastions (lab Nodes) on the way to the inner nodes, outermost first."""
    inner = next(n for n in lab.nodes.values() if not n.spec.legs and not lab.reachable(n.address))
    return [hop for hop, _ in lab.route(inner)[:-1]]
