"""The ports each role needs open in a host firewall (firewalld or ufw), and how to read what is open.

Kubernetes' "Ports and Protocols" page (kubernetes/website content/en/docs/reference/networking/
ports-and-protocols.md): control plane 6443 (API), 2379-2380 (etcd), 10250 (kubelet), 10259
(scheduler), 10257 (controller-manager); workers 10250, 10256 (kube-proxy), 30000-32767 TCP and UDP
(NodePort services). Load balancers: VRRP (IP protocol 112, keepalived) and haproxy's frontend port.
The CNI: flannel's VXLAN backend 8472/udp (flannel Documentation/backends.md); calico's BGP 179/tcp,
VXLAN 4789/udp and typha 5473/tcp (docs.tigera.io "Network requirements": the Tigera operator, which
templates/cni/calico-installation.yaml.j2 drives, always deploys typha on the host network).
"""

from __future__ import annotations

from dataclasses import dataclass

from provisioner.inventory import Host, Inventory

CONTROL_PLANE = ("6443/tcp", "2379-2380/tcp", "10250/tcp", "10259/tcp", "10257/tcp")
WORKER = ("10250/tcp", "10256/tcp", "30000-32767/tcp", "30000-32767/udp")
# Whether ufw filters: `ufw status` prints "Status: inactive" exactly when one of its ufw-user-{input,output,
# forward} chains is missing (ufw 0.36 backend_iptables.py get_status, `iptables -L CHAIN -n`, rc 1). Asking
# iptables is that same read without starting ufw's Python (about 150 ms of CPU on every node, every run).
UFW_ACTIVE = ("{ command -v ufw >/dev/null 2>&1 && "
              + " && ".join(f"iptables -n -L ufw-user-{c} >/dev/null 2>&1" for c in ("input", "output", "forward"))
              + "; }")
CNI = {"flannel": ("8472/udp",), "calico": ("179/tcp", "4789/udp", "5473/tcp")}
VRRP = "vrrp"        # /etc/protocols name of IP protocol 112, what firewall-cmd --add-protocol takes


@dataclass(frozen=True)
class Openings:
    """What one host's firewall must let in: ports ("6443/tcp", "2379-2380/tcp") and IP protocols ("vrrp")."""

    ports: tuple[str, ...]
    protocols: tuple[str, ...]

    def describe(self) -> str:
        return " ".join(self.ports + self.protocols)


def openings(inv: Inventory, host: Host) -> Openings:
    """Exactly the ports ``host``'s roles need, in a stable order without duplicates."""
    ports: list[str] = []
    if host.has("control-plane"):
        ports += CONTROL_PLANE
    if host.has("worker"):
        ports += WORKER
    if host in inv.kube_nodes:
        ports += CNI[inv.cni]
    protocols: tuple[str, ...] = ()
    if host in inv.load_balancers:
        ports.append(f"{inv.api_port}/tcp")
        protocols = (VRRP,)
    return Openings(tuple(dict.fromkeys(ports)), protocols)


def _covered(port: str, open_ports: set[str]) -> bool:
    """A port or range is open when listed as such, or (a single port) inside an open range of its protocol."""
    if port in open_ports:
        return True
    number, _, proto = port.partition("/")
    if "-" in number:
        return False
    for entry in open_ports:
        span, _, p = entry.partition("/")
        lo, _, hi = span.partition("-")
        if p == proto and hi and lo.isdigit() and hi.isdigit() and int(lo) <= int(number) <= int(hi):
            return True
    return False


def missing(wanted: Openings, open_ports: set[str], open_protocols: set[str]) -> Openings:
    """What of ``wanted`` is not open yet."""
    return Openings(tuple(p for p in wanted.ports if not _covered(p, open_ports)),
                    tuple(p for p in wanted.protocols if p not in open_protocols))


def active(fact_text: str) -> dict[str, set[str]]:
    """The security.firewall fact (checks/system.py Firewall) as {active firewall: what it opens}."""
    rows = {line.split()[0]: line.split()[1:] for line in fact_text.splitlines() if line.split()}
    return {name: set(rows.get(f"{name}-ports", [])) | (set(rows.get("firewalld-protocols", []))
                                                         if name == "firewalld" else set())
            for name in ("firewalld", "ufw") if rows.get(name, [""])[-1:] == ["active"]}


def up_opens(inv: Inventory, host: Host, fact_text: str, port: int) -> bool:
    """Whether prep will let TCP ``port`` into ``host`` through its own active firewall (it opens the role's
    ports, or stops the firewall with firewall: disabled)."""
    if not active(fact_text):
        return False
    return inv.firewall == "disabled" or _covered(f"{port}/tcp", set(openings(inv, host).ports))


def ufw_rule(port: str) -> str:
    """ufw's spelling of a port: 2379-2380/tcp -> 2379:2380/tcp (ufw(8): ranges need a protocol)."""
    return port.replace("-", ":")
