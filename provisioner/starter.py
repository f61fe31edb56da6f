"""A commented starter inventory (``provisioner init``): addresses in, a file that validates out.

>>> text = starter_inventory(Starter(control_planes=["10.0.0.11"], workers=["10.0.0.21"]))
>>> "mode: none" in text and "hostname: cp1" in text
True
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from provisioner.errors import UsageError
from provisioner.versions import DEFAULT_VERSION

MODES = ("pair", "colocated", "none")


@dataclass(frozen=True)
class Starter:
    """What ``init`` asks for; each address may be written NAME=ADDRESS to choose the host's name."""

    control_planes: list[str]
    workers: list[str] = field(default_factory=list)
    load_balancers: list[str] = field(default_factory=list)
    mode: str | None = None            # None: pair with load balancers, colocated with 3+ control planes, else none
    vip: str | None = None
    cluster_name: str = "kubernetes"
    user: str | None = None


def split_addresses(values: list[str] | None) -> list[str]:
    """``--workers 10.0.0.21,10.0.0.22 --workers w3=10.0.0.23`` -> one entry per host."""
    return [v.strip() for value in values or [] for v in value.split(",") if v.strip()]


def _hosts(entries: list[str], prefix: str, option: str) -> list[tuple[str, ipaddress.IPv4Address]]:
    out = []
    for i, entry in enumerate(entries, 1):
        name, _, address = entry.rpartition("=")
        try:
            out.append((name or f"{prefix}{i}", ipaddress.IPv4Address(address)))
        except ValueError:
            raise UsageError(f"{option}: {entry!r} is not an IPv4 address - write it like 10.0.0.11 "
                             f"or {prefix}{i}=10.0.0.11") from None
    return out


def choose_mode(s: Starter) -> str:
    if s.mode:
        if s.mode not in MODES:
            raise UsageError(f"--mode: {s.mode!r} is not one of {', '.join(MODES)} - pick one")
        return s.mode
    if s.load_balancers:
        return "pair"
    return "colocated" if len(s.control_planes) > 1 else "none"


def _host_network(addresses: list[ipaddress.IPv4Address]) -> ipaddress.IPv4Network:
    """The smallest network of /24 or larger holding every address (validation derives a /24 by default)."""
    for prefix in range(24, 7, -1):
        net = ipaddress.IPv4Network(f"{addresses[0]}/{prefix}", strict=False)
        if all(a in net for a in addresses):
            return net
    raise UsageError("the addresses given are too far apart for one host network - check them")


def starter_inventory(s: Starter) -> str:
    """The inventory text: every choice commented, nothing a first cluster does not need."""
    mode = choose_mode(s)
    if not s.control_planes:
        raise UsageError("--control-planes: give at least one address (like --control-planes 10.0.0.11)")
    cps = _hosts(s.control_planes, "cp", "--control-planes")
    workers = _hosts(s.workers, "worker", "--workers")
    lbs = _hosts(s.load_balancers, "lb", "--load-balancers")
    if lbs and mode != "pair":
        raise UsageError(f"--load-balancers: mode {mode} has no load-balancer hosts - use --mode pair or drop them")
    vip = None
    if mode != "none":
        if not s.vip:
            raise UsageError(f"--vip: mode {mode} needs a virtual IP for the API - give a free address "
                             "on the hosts' network, like --vip 10.0.0.10")
        try:
            vip = ipaddress.IPv4Address(s.vip)
        except ValueError:
            raise UsageError(f"--vip: {s.vip!r} is not an IPv4 address - write it like 10.0.0.10") from None
    addresses = [a for _, a in cps + workers + lbs] + ([vip] if vip else [])
    net = _host_network(addresses)
    lines = [
        "# yaml-language-server: $schema=./inventory.schema.json",
        "# Written by `provisioner init`. Check it with `provisioner validate`; every key is described in",
        "# docs/inventory.md and in inventory.schema.json beside this file (editors complete from it).",
        f"cluster_name: {s.cluster_name}",
        f"kubernetes_version: \"{DEFAULT_VERSION}\"      # a full version, in quotes",
        "",
        "control_plane_endpoint:",
        "  name: kubeapi                # the API's name in /etc/hosts and its certificate",
    ]
    if vip:
        lines.append(f"  address: {vip}          # the virtual IP keepalived moves between the load balancers")
    lines += ["", "load_balancer:", f"  mode: {mode}" + {
        "pair": "                 # keepalived + haproxy on the lb hosts in front of the control planes",
        "colocated": "            # keepalived + haproxy on the control planes themselves (VIP port 8443)",
        "none": "                 # no load balancer: the endpoint is the control plane's own address"}[mode]]
    if net.prefixlen != 24 or ipaddress.IPv4Network(f"{addresses[0]}/24", strict=False) != net:
        lines += ["", "networking:", f"  host_network: {net}"]
    lines += ["", "host_defaults:", "  nic: eth0                    # the NIC on the cluster network (`ip -br addr` on a node)",
              "  ssh:", f"    user: {s.user or 'root'}                 # root, or a user with passwordless sudo",
              "    # key: ~/.ssh/id_ed25519   # default: ssh-agent and ~/.ssh", "", "hosts:"]
    only_cp = not workers
    for name, address in cps:
        roles = "[control-plane, worker]" if only_cp else "[control-plane]"
        lines.append(f"  - {{hostname: {name}, address: {address}, roles: {roles}}}")
    lines += [f"  - {{hostname: {name}, address: {address}, roles: [worker]}}" for name, address in workers]
    lines += [f"  - {{hostname: {name}, address: {address}, roles: [lb]}}" for name, address in lbs]
    if only_cp:
        lines.append("# No workers given: the control planes also run workloads (role worker removes their taint).")
    return "\n".join(lines) + "\n"
