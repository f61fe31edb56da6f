"""Host networking for the lab: one bridge, one netns + veth pair per node.

Names are derived from the lab name so that ``down`` can find leftovers
without any state file: netns ``<lab>-<hostname>``, host-side veth
``<lab>-h<octet>`` (peer ``<lab>-p<octet>`` until renamed eth0 in the netns).
"""

from __future__ import annotations

import json
import os

from .util import run


def netns_name(lab: str, hostname: str) -> str:
    return f"{lab}-{hostname}"


def veth_host(lab: str, octet: int) -> str:
    name = f"{lab}-h{octet}"
    if len(name) > 15:
        raise ValueError(f"lab name {lab!r} too long for interface names")
    return name


def netns_path(ns: str) -> str:
    return f"/run/netns/{ns}"


def list_netns() -> list[str]:
    try:
        return sorted(os.listdir("/run/netns"))
    except FileNotFoundError:
        return []


def links_on_network(network) -> list[str]:
    """Links in the root namespace with an IPv4 address on exactly ``network``
    (same prefix: a /28 slice beside a /24 lab is fine, longest prefix wins)."""
    import ipaddress
    out = run(["ip", "-j", "-4", "addr", "show"]).stdout
    found = []
    for link in json.loads(out or "[]"):
        for a in link.get("addr_info", []):
            if ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}").network == network:
                found.append(link["ifname"])
                break
    return found


def list_links() -> list[str]:
    out = run(["ip", "-j", "link", "show"]).stdout
    return [link["ifname"] for link in json.loads(out or "[]")]


def link_exists(name: str) -> bool:
    return run(["ip", "link", "show", "dev", name], check=False).returncode == 0


def ensure_bridge(bridge: str, cidr: str) -> None:
    """Create (idempotently) the bridge with the host address ``cidr``."""
    if not link_exists(bridge):
        run(["ip", "link", "add", bridge, "type", "bridge", "stp_state", "0",
             "forward_delay", "0"])
    run(["ip", "addr", "replace", cidr, "dev", bridge])
    run(["ip", "link", "set", bridge, "up"])


def ensure_hidden_bridge(bridge: str) -> None:
    """Create (idempotently) a bridge the host has NO address on, IPv4 or IPv6 (not even
    link-local): only nodes with a leg on it reach its nodes. See block_route for routing."""
    if not link_exists(bridge):
        run(["ip", "link", "add", bridge, "type", "bridge", "stp_state", "0",
             "forward_delay", "0"])
    no_ipv6(bridge)
    run(["ip", "link", "set", bridge, "up"])


def no_ipv6(link: str) -> None:
    """No IPv6 on a host link (no fe80:: address: the host could reach a hidden node over it)."""
    path = f"/proc/sys/net/ipv6/conf/{link}/disable_ipv6"
    if os.path.exists(path):
        with open(path, "w") as f:
            f.write("1\n")


def block_route(network) -> None:
    """An ``unreachable`` route for a hidden segment: the host answers "no route to host" at
    once instead of sending the packets out of its default route (off this machine) or ARPing
    on another lab's /24 bridge."""
    run(["ip", "route", "replace", "unreachable", str(network)])


def unblock_route(network) -> None:
    run(["ip", "route", "del", "unreachable", str(network)], check=False)


def blocked_routes() -> list[str]:
    """Networks with an ``unreachable`` route in the main table."""
    out = run(["ip", "-j", "route", "show", "type", "unreachable"], check=False).stdout
    return [r["dst"] for r in json.loads(out or "[]")]


def add_node_net(lab: str, bridge: str, hostname: str, octet: int,
                 address: str, prefixlen: int, mac: str, *, hidden: bool = False) -> str:
    """netns + veth for one node; returns the netns name. No default route."""
    ns = netns_name(lab, hostname)
    run(["ip", "netns", "add", ns])
    add_leg(lab, ns, bridge, "eth0", octet, address, prefixlen, mac, hidden=hidden)
    return ns


def add_leg(lab: str, ns: str, bridge: str, ifname: str, octet: int, address: str,
            prefixlen: int, mac: str, *, hidden: bool = False) -> None:
    """A veth from ``bridge`` into the netns ``ns`` named ``ifname`` with ``address``.
    On a hidden bridge the host end gets no IPv6 either."""
    host_if, peer = veth_host(lab, octet), f"{lab}-p{octet}"
    run(["ip", "link", "add", host_if, "type", "veth", "peer", "name", peer,
         "netns", ns])
    if hidden:
        no_ipv6(host_if)
    run(["ip", "link", "set", host_if, "master", bridge, "up"])
    batch = "\n".join([
        f"link set {peer} name {ifname}",
        f"link set {ifname} address {mac}",
        f"addr add {address}/{prefixlen} dev {ifname}",
        "link set lo up",
        f"link set {ifname} up",
    ]) + "\n"
    run(["ip", "-n", ns, "-batch", "-"], input=batch)


def del_node_net(lab: str, hostname: str, octet: int, *legs: int) -> None:
    """Remove a node's veths (eth0's and its legs') and netns (missing ones are fine)."""
    for o in (octet, *legs):
        host_if = veth_host(lab, o)
        if link_exists(host_if):
            run(["ip", "link", "del", host_if], check=False)
    ns = netns_name(lab, hostname)
    if os.path.exists(netns_path(ns)):
        run(["ip", "netns", "del", ns], check=False)


def del_bridge(bridge: str) -> None:
    if link_exists(bridge):
        run(["ip", "link", "del", bridge], check=False)
