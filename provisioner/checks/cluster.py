"""Cross-node checks: what only shows when nodes are compared (cloned VMs, skewed clocks, a taken VIP).

Each check reads the facts of every reachable node and returns one result per
node it concerns, so a failure lands on the right host.
"""

from __future__ import annotations

import re
import statistics
from collections import defaultdict

from provisioner.checks import reachability
from provisioner.checks.base import FAIL, PASS, SKIP, WARN, Node, Result
from provisioner.checks.network import HOSTNAME, LISTENERS
from provisioner.transport import quote


def fact_commands(node_host, inv) -> dict[str, str]:
    """Facts the cross-node checks need from every host."""
    facts = {
        "id.product_uuid": "read -r _u 2>/dev/null </sys/class/dmi/id/product_uuid && echo \"$_u\" || echo unreadable",
        "id.links": "ip -o link show",
        "name.hostname": HOSTNAME,
        "ports.listen": LISTENERS,
    }
    facts.update(reachability.fact_commands(node_host, inv))    # the ports this host will connect to
    if node_host in inv.load_balancers and inv.vip:
        facts["vip.probe"] = vip_probe(str(inv.vip), int(inv.api_port))
    return facts


# How long a load balancer waits for the VIP's ARP answer. A host on the segment answers in well under
# a millisecond (the kernel replies from softirq); a free address never answers, so this bound is paid
# exactly when the VIP is free, and only by load balancers that do not hold it themselves.
VIP_WAIT = 0.25


def vip_probe(vip: str, port: int, wait: float = VIP_WAIT) -> str:
    """The load balancer's read of who answers ARP for the VIP, as bash builtins.

    A TCP connect to the VIP makes the kernel resolve its MAC (a connect to an address of this host
    resolves nothing). The connect runs in a process substitution: ``read -t`` returns as soon as it
    ends (an answer: reset or accept, or an error) and at the latest after ``wait`` seconds. Then the
    VIP's line of the ARP table: ``arp FLAGS MAC`` (flags 0x2: complete; an unanswered request leaves
    0x0 and a zero MAC), read at once (see hw.nproc: /proc text read line by line can shift between
    lines). Whether one of OUR hosts holds the VIP comes from their ``net.addresses``."""
    target = quote(f"/dev/tcp/{vip}/{port}")
    return (f"exec {{_f}}< <(exec 2>/dev/null 3<>{target}); read -t {wait:g} -u $_f _x; kill $! 2>/dev/null; "
            f"exec {{_f}}<&-; mapfile -t _arp </proc/net/arp; for _l in \"${{_arp[@]}}\"; do "
            f"read -r _ip _hw _fl _mac _r <<<\"$_l\"; [ \"$_ip\" = {quote(vip)} ] && "
            f"echo \"arp $_fl $_mac\"; done; true")


def holds_vip(node: Node, vip: str) -> bool:
    """Does ``node`` hold the VIP: it is among its addresses (or the probe said so: older preflight)."""
    return node.facts.text("vip.probe").startswith("held") or any(
        re.search(rf"\binet {re.escape(vip)}/", line) for line in node.facts.lines("net.addresses"))


def arp_mac(text: str) -> str | None:
    """The MAC that answered ARP for the VIP, from :func:`vip_probe`'s ``arp FLAGS MAC`` (or ``ip neigh``)."""
    m = re.search(r"lladdr ([0-9a-f:]{17}) (REACHABLE|STALE|DELAY|PROBE)", text)
    if m:
        return m.group(1)
    m = re.search(r"^arp (0x[0-9a-f]+) ([0-9a-f:]{17})", text, re.M)
    if m and int(m.group(1), 16) & 0x2 and m.group(2) != "00:00:00:00:00:00":
        return m.group(2)
    return None


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


def vip_free(nodes):
    lbs = [n for n in nodes if n.is_lb]
    if not lbs or not lbs[0].inv.vip:
        return []
    inv = lbs[0].inv
    holders = [n.name for n in lbs if holds_vip(n, str(inv.vip))]
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
        mac = arp_mac(text)
        if mac and mac not in our_macs and unaudited:
            # The MAC may be that of a host we could not read (down, sshd stopped, not selected):
            # no verdict beats a false "foreign owner" alarm.
            out.append(Result("cluster.vip", WARN,
                              f"cannot tell: {inv.vip} answers ARP from {mac}, and load balancer "
                              f"{_some(unaudited)} could not be audited (unreachable or not selected), so that MAC "
                              "may be theirs", "free or ours",
                              f"make {_some(unaudited)} reachable and run preflight on every host"))
        elif mac and mac not in our_macs:
            out.append(Result("cluster.vip", FAIL, f"{inv.vip} answers ARP from {mac}, not one of our hosts",
                              "free", "pick a free address for control_plane_endpoint.address (something else owns this one)"))
        elif mac:
            out.append(Result("cluster.vip", PASS, f"{inv.vip} on {our_macs[mac]} (ours)", "free or ours"))
        else:
            out.append(Result("cluster.vip", PASS, f"{inv.vip} free (no ARP answer)", "free or ours"))
    return out


# The pod network one node gets: flannel (kube-subnet-mgr) uses the node's spec.podCIDR, which the
# controller-manager cuts at --node-cidr-mask-size (default /24 for IPv4; kubeadm and we leave it); calico
# hands out /26 blocks from its pool (templates/cni/calico-installation.yaml.j2 blockSize).
NODE_BLOCK = {"flannel": 24, "calico": 26}


def pod_cidr_capacity(nodes):
    """Does the pod CIDR hold a per-node block for every kube node of the inventory (not only those audited)?"""
    kube = [n for n in nodes if n.is_kube_node]
    if not kube:
        return []
    inv = kube[0].inv
    net, block = inv.networking.pod_cidr, NODE_BLOCK.get(inv.cni, 24)
    room = 2 ** max(0, block - net.prefixlen) if net.prefixlen <= block else 0
    wanted = len(inv.kube_nodes)
    observed = f"{net} holds {room} /{block} node block(s) for {wanted} kube nodes ({inv.cni})"
    if wanted <= room:
        return [Result("cluster.pod_cidr", PASS, observed, f">= {wanted} blocks") for _ in kube]
    bigger = block - max(0, (wanted - 1).bit_length())
    return [Result("cluster.pod_cidr", FAIL, observed, f">= {wanted} blocks",
                   f"widen networking.pod_cidr to /{bigger} or larger (nodes beyond {room} get no pod network)")
            for _ in kube]


def _some(names: list[str], n: int = 3) -> str:
    return ", ".join(names[:n]) + (f" (+{len(names) - n} more)" if len(names) > n else "")


def _every(nodes: list[Node]) -> list[Node]:
    return nodes


def _load_balancers(nodes: list[Node]) -> list[Node]:
    return [n for n in nodes if n.is_lb]


def _kube_nodes(nodes: list[Node]) -> list[Node]:
    return [n for n in nodes if n.is_kube_node]


# (check, which nodes its results are for, in order)
CLUSTER_CHECKS = (
    (unique_product_uuid, _every),
    (unique_mac, _every),
    (unique_hostname, _every),
    (clock_skew, _every),
    (reachability.reach, _every),
    (vip_free, _load_balancers),
    (pod_cidr_capacity, _kube_nodes),
)
