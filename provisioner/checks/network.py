"""Names, addresses, ports and time: what the nodes must agree on."""

from __future__ import annotations

import ipaddress
import re

from provisioner.checks.base import FAIL, JOINED, WARN, Node, NodeCheck, Result, read_file
from provisioner.transport import quote

_RFC1123 = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")

CONTROL_PLANE_PORTS = {6443: "kube-apiserver", 2379: "etcd", 2380: "etcd", 10250: "kubelet",
                       10257: "kube-controller-manager", 10259: "kube-scheduler"}
WORKER_PORTS = {10250: "kubelet", 10256: "kube-proxy"}

HOSTNAME = read_file("/proc/sys/kernel/hostname")     # what `hostname` prints (uname's nodename)
LISTENERS = "ss -Hltnp 2>/dev/null || ss -Hltn"

# The networks hypervisors put on a VM's first NIC, with the default route (Vagrant boxes).
NAT_NETWORKS = {"Vagrant/VirtualBox NAT": ipaddress.IPv4Network("10.0.2.0/24"),
                "Vagrant/libvirt management network": ipaddress.IPv4Network("192.168.121.0/24")}


def nat_network(address: str) -> str | None:
    """The name of the hypervisor NAT network ``address`` is in, if any."""
    try:
        ip = ipaddress.IPv4Address(address)
    except ValueError:
        return None
    return next((name for name, net in NAT_NETWORKS.items() if ip in net), None)


class Hostname(NodeCheck):
    id, title = "name.hostname", "hostname matches the inventory and is RFC 1123"
    severity = WARN
    fixed_by = "prep"
    reads = ("/proc/sys/kernel/hostname",)
    reference = "kubeadm"       # checks.go HostnameCheck
    facts = {"name.hostname": HOSTNAME}

    def evaluate(self, f, node):
        current = f.text("name.hostname")
        wanted = node.host.hostname
        if current in (wanted, node.inv.fqdn(wanted)) and _RFC1123.match(current):
            return self.passed(current, wanted)
        why = "not RFC 1123 lowercase" if not _RFC1123.match(current) else "differs from the inventory"
        return self.failed(f"{current} ({why})", wanted, f"hostnamectl set-hostname {wanted} (prep does this)")


class NameResolution(NodeCheck):
    id, title = "name.resolve", "cluster names resolve as the inventory says"
    severity = WARN
    fixed_by = "prep"
    reads = ("/etc/hosts",)     # through getent ahostsv4 (nsswitch: files first)

    def _names(self, inv) -> dict[str, str]:
        names = {inv.endpoint_name: str(inv.control_plane_endpoint.address)}
        names.update({inv.fqdn(h.hostname): str(h.address) for h in inv.hosts})
        return names

    def fact_commands(self, inv, host):
        names = " ".join(quote(n) for n in self._names(inv))
        # ONE getent for every name (not one getent + awk per name: 2 processes per host of the cluster).
        # getent prints, per name that resolves, its addresses, the first line of each name with a third
        # field (the canonical name; glibc nss/getent.c ahosts_keys_int asks with AI_CANONNAME), and
        # nothing for a name that does not resolve. So: as many blocks as names -> the blocks are the
        # names, in order. Fewer -> a block whose canonical name is one of the names is that name's; when
        # that accounts for every block, the other names did not resolve. Only otherwise (an alias or a
        # CNAME among names that failed) is each name asked on its own.
        per_name = ("for n in \"${_n[@]}\"; do printf '%s ' \"$n\"; getent ahostsv4 \"$n\" | "
                    "awk 'NR==1{print $1; f=1} END{if(!f) print \"-\"}'; done")
        return {self.id: f"_n=({names}); _a=(); _k=(); while read -r _x _t _c; do [ -n \"$_c\" ] && "
                         "_a+=(\"$_x\") && _k+=(\"${_c,,}\"); done < <(getent ahostsv4 \"${_n[@]}\" 2>/dev/null); "
                         "if [ ${#_a[@]} = ${#_n[@]} ]; then for _i in \"${!_n[@]}\"; do "
                         "echo \"${_n[_i]} ${_a[_i]}\"; done; else declare -A _by=(); _hit=0; "
                         "for _i in \"${!_k[@]}\"; do _by[${_k[_i]}]=${_a[_i]}; done; "
                         "for _x in \"${_n[@]}\"; do [ -n \"${_by[${_x,,}]}\" ] && _hit=$((_hit + 1)); done; "
                         "if [ $_hit = ${#_a[@]} ]; then for _x in \"${_n[@]}\"; do "
                         "echo \"$_x ${_by[${_x,,}]:--}\"; done; else " + per_name + "; fi; fi"}

    def evaluate(self, f, node):
        got = dict(line.split(None, 1) for line in f.lines(self.id) if len(line.split()) == 2)
        wrong = [f"{n}->{got.get(n, '-')}" for n, addr in self._names(node.inv).items() if got.get(n) != addr]
        if not wrong:
            return self.passed(f"{len(got)} names resolve")
        return self.failed(", ".join(wrong[:4]) + (" ..." if len(wrong) > 4 else ""), "each name -> its inventory address",
                           "write the cluster names into /etc/hosts (prep does this)")


class HostsConflict(NodeCheck):
    id, title = "name.hosts_conflict", "no /etc/hosts line outside the cluster block sends a cluster name elsewhere"
    fixed_by = "prep"
    soft_before_join = False     # the resolver takes the first line: such a line silently wins over our block
    reads = ("/etc/hosts",)
    facts = {"name.etc_hosts": read_file("/etc/hosts")}

    def evaluate(self, f, node):
        from provisioner import hostsfile

        found = hostsfile.conflicts(f.text("name.etc_hosts"), hostsfile.wanted_names(node.inv),
                                    hostsfile.own_names(node.inv, node.host))
        if not found:
            return self.passed("none")
        return self.failed("; ".join(c.describe() for c in found), "each cluster name only in the cluster block",
                           "remove or comment out those lines (prep comments them out)")


class AddressOnNic(NodeCheck):
    id, title = "net.address", "inventory address is on the inventory NIC"
    reads = ("ip -o -4 addr show",)
    facts = {"net.addresses": "ip -o -4 addr show"}

    def evaluate(self, f, node):
        addrs = {}
        for line in f.lines("net.addresses"):
            parts = line.split()
            if len(parts) >= 4:
                addrs.setdefault(parts[1], []).append(parts[3].split("/")[0])
        wanted, nic = str(node.host.address), node.host.nic
        if wanted in addrs.get(nic, []):
            return self.passed(f"{wanted} on {nic}")
        where = next((n for n, a in addrs.items() if wanted in a), None)
        observed = f"{wanted} on {where}" if where else f"{wanted} not configured ({nic}: {', '.join(addrs.get(nic, [])) or 'none'})"
        return self.failed(observed, f"{wanted} on {nic}", "fix hosts[].nic or hosts[].address in the inventory")


class DefaultRoute(NodeCheck):
    """Vagrant's NAT NIC (10.0.2.15 on every box) must never become the node IP."""

    id, title = "net.default_route", "default route does not pick a NAT address as node IP"
    reads = ("ip route show default",)
    severity = WARN
    # One `ip` for both (-batch; -force goes on past "unreachable"); -o: `route get` on one line.
    facts = {"net.route": "ip -4 -o -force -batch - 2>/dev/null <<<$'route show default\\nroute get 1.1.1.1'; true"}

    def applies(self, node):
        return node.is_kube_node

    def evaluate(self, f, node):
        src = re.search(r"\bsrc (\S+)", f.text("net.route"))
        dev = re.search(r"\bdev (\S+)", f.text("net.route"))
        if not src:
            return self.passed("no default route", "")
        if src.group(1) == str(node.host.address):
            return self.passed(f"default via {dev.group(1) if dev else '?'} src {src.group(1)}")
        nat = nat_network(src.group(1))
        return self.failed(f"default route uses {src.group(1)} on {dev.group(1) if dev else '?'}" + (f" ({nat})" if nat else ""),
                           f"node IP {node.host.address}",
                           "kubeadm configs pin the node IP to the inventory address; make sure nothing else relies on "
                           f"the default route (a CNI must use {node.host.nic}: calico as rendered, flannel with --iface)")


class PeerRoute(NodeCheck):
    """Traffic to the other nodes must leave from the node IP, not from a NAT or second NIC's address.

    On a Vagrant box whose private network is missing or misnamed, the route to
    the peers is the default one via the NAT NIC (src 10.0.2.15): etcd, the API
    server, keepalived's unicast VRRP and the CNI would all talk from an address
    no other node can reach.
    """

    id, title = "net.peer_route", "other nodes are reached from the inventory address"
    reads = ("ip route get PEER",)

    def applies(self, node):
        return len(node.inv.hosts) > 1

    def _peers(self, inv, host) -> list[str]:
        return list(dict.fromkeys(str(h.address) for h in inv.hosts if h.hostname != host.hostname))

    def fact_commands(self, inv, host):
        peers = self._peers(inv, host)
        # One `ip` process for every peer (-batch), going on after an unreachable one (-force); the batch
        # as a here-string (no printf subshell feeding a pipe).
        batch = quote("\n".join(f"route get {p}" for p in peers))
        return {self.id: f"ip -4 -o -force -batch - 2>&1 <<<{batch}"} if peers else {}

    def evaluate(self, f, node):
        wanted, nic = str(node.host.address), node.host.nic
        peers = self._peers(node.inv, node.host)
        routes: dict[str, tuple[str, str]] = {}
        for line in f.lines(self.id):
            m = re.match(r"(?:(?:local|unicast|broadcast)\s+)?(\d+\.\d+\.\d+\.\d+)\s", line)
            if m:
                dev, src = re.search(r"\bdev (\S+)", line), re.search(r"\bsrc (\S+)", line)
                routes[m.group(1)] = (dev.group(1) if dev else "?", src.group(1) if src else "?")
        wrong = {p: routes[p] for p in peers if p in routes and routes[p][1] != wanted}
        missing = [p for p in peers if p not in routes]
        expected = f"src {wanted} on {nic}"
        if not wrong and not missing:
            devs = sorted({dev for dev, _ in routes.values()})
            return self.passed(f"{len(routes)} peers via {','.join(devs)} src {wanted}", expected)
        parts = []
        for (dev, src), dests in _group(wrong).items():
            nat = nat_network(src)
            parts.append(f"{_some(dests)} via {dev} src {src}" + (f" ({nat})" if nat else ""))
        if missing:
            parts.append(f"no route to {_some(missing)}")
        prefix = node.inv.networking.host_network.prefixlen
        return self.failed("; ".join(parts), expected,
                           f"configure {wanted}/{prefix} on {nic} so the host network's route uses it "
                           f"(Vagrant: the private_network ip; or fix hosts[].address/nic)")


def _group(routes: dict[str, tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
    out: dict[tuple[str, str], list[str]] = {}
    for dest, via in routes.items():
        out.setdefault(via, []).append(dest)
    return out


def _some(items: list[str], n: int = 3) -> str:
    return ", ".join(items[:n]) + (f" (+{len(items) - n} more)" if len(items) > n else "")


class FreePorts(NodeCheck):
    id, title = "ports.free", "required ports free for the host's roles"
    reads, reference = ("ss -Hltnp",), "kubeadm"            # checks.go PortOpenCheck
    facts = {"ports.listen": LISTENERS, "kube.joined": JOINED}

    def wanted(self, node: Node) -> dict[int, str]:
        ports: dict[int, str] = {}
        if node.is_control_plane:
            ports |= CONTROL_PLANE_PORTS
        if node.host.has("worker"):
            ports |= WORKER_PORTS
        if node.is_lb:
            ports[node.inv.api_port] = "haproxy"
        return ports

    def evaluate(self, f, node):
        wanted = self.wanted(node)
        taken: dict[int, str] = {}
        for line in f.lines("ports.listen"):
            parts = line.split()
            if len(parts) < 4:
                continue
            port = parts[3].rsplit(":", 1)[-1]
            if port.isdigit() and int(port) in wanted:
                proc = re.search(r'users:\(\("([^"]+)"', line)
                taken[int(port)] = proc.group(1) if proc else "unknown process"
        expected = "free: " + ",".join(str(p) for p in sorted(wanted))
        ours = {p: who for p, who in taken.items() if node.joined or (node.is_lb and who in ("haproxy",))}
        clash = {p: who for p, who in taken.items() if p not in ours}
        if not clash:
            note = f" ({', '.join(f'{p} by {w}' for p, w in sorted(ours.items()))} already ours)" if ours else ""
            return self.passed(f"free{note}", expected)
        observed = ", ".join(f"{p} in use by {who}" for p, who in sorted(clash.items()))
        return self.failed(observed, expected, f"stop what listens on {', '.join(map(str, sorted(clash)))} "
                           f"({', '.join(wanted[p] for p in sorted(clash))} needs it)")


# The whole report, stderr too (chronyc's "506 Cannot talk to daemon" says why there is none), never failing
# the fact. up's verify derives its "synchronised" probe from it (provisioner.derived).
CHRONY_TRACKING = "chronyc -n tracking 2>&1 || true"


class TimeSync(NodeCheck):
    id, title = "time.sync", "clock synchronised by chrony"
    fixed_by = "prep"
    reads = ("chrony",)         # chronyc tracking, else timedatectl
    # timedatectl (D-Bus, may start systemd-timedated) only tells about another NTP client: it runs only
    # where chronyd is not running (no command socket).
    facts = {"time.chrony": CHRONY_TRACKING,
             "time.timedatectl": "[ -S /run/chrony/chronyd.sock ] || timedatectl show -p NTPSynchronized --value "
                                 "2>/dev/null || true"}

    def evaluate(self, f, node):
        tracking = f.text("time.chrony")
        leap = re.search(r"Leap status\s*:\s*(.+)", tracking)
        offset = re.search(r"System time\s*:\s*([\d.]+) seconds (fast|slow)", tracking)
        if leap and leap.group(1).strip() == "Normal":
            observed = "chrony synchronised" + (f", offset {float(offset.group(1)) * 1000:.1f} ms" if offset else "")
            return self.passed(observed, "synchronised")
        if f.text("time.timedatectl") == "yes":
            return self.failed("synchronised by another NTP client", "chrony", "install and enable chrony (prep does this)",
                               severity=WARN)
        observed = f"chrony: {leap.group(1).strip()}" if leap else ("chrony not running or not installed"
                                                                  if "not found" in tracking or "Cannot talk" in tracking
                                                                  or "506" in tracking else tracking[:60] or "unknown")
        return self.failed(observed, "synchronised", "install chrony and point it at reachable NTP servers (prep does this)")


