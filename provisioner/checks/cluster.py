"""Cross-node checks: what only shows when nodes are compared (cloned VMs, skewed clocks, a taken VIP).

Each check reads the facts of every reachable node and returns one result per
node it concerns, so a failure lands on the right host.
"""

from __future__ import annotations

import re
import statistics
from collections import defaultdict

from provisioner.checks.base import FAIL, PASS, SKIP, WARN, Node, Result
from provisioner.transport import quote

REACH_TIMEOUT = 2


def fact_commands(node_host, inv) -> dict[str, str]:
    """Facts the cross-node checks need from every host."""
    facts = {
        "id.product_uuid": "cat /sys/class/dmi/id/product_uuid 2>/dev/null || echo unreadable",
        "id.links": "ip -o link show",
        "name.hostname": "hostname",
        "ports.listen": "ss -Hltnp 2>/dev/null || ss -Hltn",
    }
    probes = []
    for cp in inv.control_planes:
        for port in sorted({int(cp.ssh.port or 22), 6443}):
            target = f"{cp.address}:{port}"
            probes.append(f"( timeout {REACH_TIMEOUT} bash -c {quote(f'</dev/tcp/{cp.address}/{port}')} 2>/dev/null "
                          f"&& echo {quote(target)} ok || echo {quote(target)} fail ) &")
    facts["reach.control_planes"] = " ".join(probes) + " wait"
    if node_host in inv.load_balancers and inv.vip:
        vip, port = quote(inv.vip), int(inv.api_port)
        facts["vip.probe"] = (f"if ip -o -4 addr show | grep -qw {vip}; then echo held; else "
                              f"timeout 1 bash -c {quote(f'</dev/tcp/{inv.vip}/{port}')} >/dev/null 2>&1; "
                              f"ip neigh show {vip}; fi")
    return facts


def _mac_of(node: Node) -> str | None:
    for line in node.facts.lines("id.links"):
        m = re.match(r"\d+:\s+([^:@]+)[@:].*link/ether\s+([0-9a-f:]{17})", line)
        if m and m.group(1) == node.host.nic:
            return m.group(2)
    return None


def _unique(nodes: list[Node], check: str, value_of, what: str, fix: str) -> list[Result]:
    groups: dict[str, list[str]] = defaultdict(list)
    values = {}
    for node in nodes:
        value = value_of(node)
        values[node.name] = value
        if value:
            groups[value].append(node.name)
    out = []
    for node in nodes:
        value = values[node.name]
        if not value:
            out.append(Result(check, SKIP, f"{what} unreadable (needs root)", "unique"))
            continue
        others = [n for n in groups[value] if n != node.name]
        if others:
            out.append(Result(check, FAIL, f"{value} also on {', '.join(others)}", f"unique {what}", fix))
        else:
            out.append(Result(check, PASS, value, f"unique {what}"))
    return out


def unique_product_uuid(nodes):
    return _unique(nodes, "cluster.product_uuid",
                   lambda n: None if n.facts.text("id.product_uuid") in ("", "unreadable") else n.facts.text("id.product_uuid").lower(),
                   "product_uuid", "give each VM its own SMBIOS UUID (clone with a new UUID); kubeadm needs it unique")


def unique_mac(nodes):
    return _unique(nodes, "cluster.mac", _mac_of, "MAC",
                   "give the NIC a unique MAC address (regenerate it on the cloned VM)")


def unique_hostname(nodes):
    return _unique(nodes, "cluster.hostname", lambda n: n.facts.text("name.hostname") or None, "hostname",
                   "set a unique hostname per host (prep sets the inventory's)")


def clock_skew(nodes, warn_s: float = 0.5, fail_s: float = 2.0):
    offsets = {n.name: n.clock_offset for n in nodes if n.clock_offset is not None}
    if len(offsets) < 2:
        return [Result("cluster.clock_skew", SKIP, "fewer than two clocks to compare", "") for _ in nodes]
    median = statistics.median(offsets.values())
    out = []
    for node in nodes:
        if node.clock_offset is None:
            out.append(Result("cluster.clock_skew", SKIP, "clock not read", ""))
            continue
        dev = node.clock_offset - median
        observed = f"{dev * 1000:+.0f} ms from the cluster median"
        expected = f"within {warn_s * 1000:.0f} ms"
        status = FAIL if abs(dev) > fail_s else WARN if abs(dev) > warn_s else PASS
        out.append(Result("cluster.clock_skew", status, observed, expected,
                          "" if status == PASS else "sync every node with chrony to the same NTP servers (certificates and etcd need agreeing clocks)"))
    return out


def reach_control_planes(nodes):
    listening = {}
    for n in nodes:
        if n.is_control_plane:
            listening[str(n.host.address)] = any(re.search(r":6443\s", line + " ") for line in n.facts.lines("ports.listen"))
    out = []
    for node in nodes:
        failed = []
        checked = 0
        for line in node.facts.lines("reach.control_planes"):
            target, _, state = line.rpartition(" ")
            address, _, port = target.rpartition(":")
            if port == "6443" and not listening.get(address, False):
                continue  # the API port only counts once an apiserver is up there
            checked += 1
            if state != "ok":
                failed.append(target)
        if failed:
            out.append(Result("cluster.reach", FAIL, "cannot reach " + ", ".join(failed), "every control plane reachable",
                              "open these ports between the nodes (firewall, security groups, routing)"))
        else:
            out.append(Result("cluster.reach", PASS, f"{checked} control-plane ports reachable", "every control plane reachable"))
    return out


def vip_free(nodes):
    lbs = [n for n in nodes if n.is_lb]
    if not lbs or not lbs[0].inv.vip:
        return []
    inv = lbs[0].inv
    holders = [n.name for n in lbs if n.facts.text("vip.probe").startswith("held")]
    our_macs = {m: n.name for n in nodes if (m := _mac_of(n))}
    audited = {n.name for n in nodes}
    # Only a load balancer can hold the VIP (keepalived runs there): one we could not read may be the owner.
    unaudited = [h.hostname for h in inv.load_balancers if h.hostname not in audited]
    out = []
    for node in lbs:
        text = node.facts.text("vip.probe")
        if holders:
            out.append(Result("cluster.vip", PASS, f"{inv.vip} held by {', '.join(holders)} (ours)", "free or ours"))
            continue
        m = re.search(r"lladdr ([0-9a-f:]{17}) (REACHABLE|STALE|DELAY|PROBE)", text)
        if m and m.group(1) not in our_macs and unaudited:
            # The MAC may be that of a host we could not read (down, sshd stopped, not selected):
            # no verdict beats a false "foreign owner" alarm.
            out.append(Result("cluster.vip", WARN,
                              f"cannot tell: {inv.vip} answers ARP from {m.group(1)}, and load balancer "
                              f"{_some(unaudited)} could not be audited (unreachable or not selected), so that MAC "
                              "may be theirs", "free or ours",
                              f"make {_some(unaudited)} reachable and run preflight on every host"))
        elif m and m.group(1) not in our_macs:
            out.append(Result("cluster.vip", FAIL, f"{inv.vip} answers ARP from {m.group(1)}, not one of our hosts",
                              "free", "pick a free address for control_plane_endpoint.address (something else owns this one)"))
        elif m:
            out.append(Result("cluster.vip", PASS, f"{inv.vip} on {our_macs[m.group(1)]} (ours)", "free or ours"))
        else:
            out.append(Result("cluster.vip", PASS, f"{inv.vip} free (no ARP answer)", "free or ours"))
    return out


def _some(names: list[str], n: int = 3) -> str:
    return ", ".join(names[:n]) + (f" (+{len(names) - n} more)" if len(names) > n else "")


def _every(nodes: list[Node]) -> list[Node]:
    return nodes


def _load_balancers(nodes: list[Node]) -> list[Node]:
    return [n for n in nodes if n.is_lb]


# (check, which nodes its results are for, in order)
CLUSTER_CHECKS = (
    (unique_product_uuid, _every),
    (unique_mac, _every),
    (unique_hostname, _every),
    (clock_skew, _every),
    (reach_control_planes, _every),
    (vip_free, _load_balancers),
)
