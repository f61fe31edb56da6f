"""Every preflight check as a table row: what `provisioner checks [--json]` prints and docs/checks.md lists.

>>> for line in checks_report(False).splitlines()[:3]: print(line)
access.sudo  node, every host, fail, mirrors kubeadm
    reads: id -u, sudo -n
    fix:   log in as root or grant passwordless sudo

Per-node rows come from the checks themselves (id, severity, ``fixed_by``, ``reads``, ``reference``; which
roles they apply to is asked of ``applies`` on a control plane, a worker and a load balancer). The
cross-node checks are functions and the fixes are texts a check composes when it fails: both are described
here, and tests/test_checks_catalog.py fails when a check has no row.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from provisioner.checks import NODE_CHECKS
from provisioner.checks.base import FAIL, Facts, Node
from provisioner.inventory import Inventory


@dataclass(frozen=True)
class Row:
    id: str
    scope: str            # node | cluster
    hosts: str            # which hosts it runs on
    severity: str         # fail | warn (a fail that `up` fixes is a warning before the host joined)
    fixed_by: str | None  # the phase of `up` that repairs it
    reads: list[str]
    fix: str
    reference: str        # kubeadm | kubespray | kubekey | ours


# What to do when a check does not pass (its result's fix says it for the host at hand).
FIXES = {
    "access.sudo": "log in as root or grant passwordless sudo",
    "os.supported": "install a supported distribution release",
    "os.cgroup_unified": "boot with systemd.unified_cgroup_hierarchy=1, or an OS that defaults to cgroup v2",
    "hw.cpus": "give the control plane 2 CPUs or more",
    "hw.memory": "give the control plane 2 GiB of memory or more",
    "hw.memory_node": "give the worker 1 GiB of memory or more",
    "disk.var_lib": "free or grow the file system of /var/lib",
    "swap.active": "swapoff -a",
    "swap.persistent": "comment swap out of /etc/fstab, mask swap units",
    "security.selinux": "`up` (prep): setenforce 0; SELINUX=permissive in /etc/selinux/config (or `selinux: enforcing`)",
    "security.firewall": "`up` (prep) opens each role's ports, or stops the firewall (`firewall: disabled`)",
    "name.hostname": "hostnamectl set-hostname NAME",
    "name.resolve": "cluster names in /etc/hosts",
    "name.hosts_conflict": "comment out the /etc/hosts lines that contradict the cluster block",
    "net.address": "fix hosts[].address or hosts[].nic",
    "net.default_route": "keep the CNI on the inventory NIC",
    "net.peer_route": "configure the address on the NIC so peer routes use it",
    "kernel.modules": "install the package providing overlay/br_netfilter",
    "kernel.sysctl": "ip_forward and bridge-nf-call-iptables = 1 in /etc/sysctl.d",
    "kernel.version": "boot a supported kernel",
    "kernel.config": "boot a kernel with the required options",
    "lb.nonlocal_bind": "net.ipv4.ip_nonlocal_bind = 1",
    "time.sync": "chrony synchronised to reachable NTP servers",
    "ports.free": "stop what listens on the port",
    "runtime.docker": "systemd cgroup driver and the cluster's pause image",
    "runtime.socket": "restart cri-docker.socket/.service, read its journal",
    "kube.versions": "install and hold the inventory's kubeadm/kubelet",
    "kube.leftovers": "provisioner reset --limit HOST when it is not a working member",
    "host.tools": "install util-linux (mount, nsenter)",
    "dns.resolv_conf": "a nameserver line in /etc/resolv.conf",
    "proxy.no_proxy": "NO_PROXY with node addresses, VIP, endpoint name, service and pod CIDRs",
    "etcd.disk_sync": "/var/lib/etcd on a fast disk of its own",
    "net.package_repos": "package_mirrors the node reaches, or the inventory's proxy",
    "kube.kubelet_enabled": "systemctl enable kubelet.service",
    "kube.cert_expiry": "provisioner certs --renew",
    "net.registry": "a registry the node reaches, or the images loaded beforehand",
    "cluster.product_uuid": "a unique SMBIOS UUID per VM",
    "cluster.mac": "a unique MAC per NIC",
    "cluster.hostname": "a unique hostname per host",
    "cluster.clock_skew": "every node on the same NTP servers",
    "cluster.reach": "open the ports between the hosts",
    "cluster.vip": "a free address for control_plane_endpoint.address",
    "cluster.pod_cidr": "a wider networking.pod_cidr",
}

# The cross-node checks (provisioner.checks.cluster.CLUSTER_CHECKS): hosts, severity, reads, fixed_by, reference.
CLUSTER_ROWS = {
    "cluster.product_uuid": ("every host", FAIL, ["/sys/class/dmi/id/product_uuid"], None, "kubeadm"),
    "cluster.mac": ("every host", FAIL, ["ip -o link show"], None, "kubeadm"),
    "cluster.hostname": ("every host", FAIL, ["/proc/sys/kernel/hostname"], None, "ours"),
    "cluster.clock_skew": ("every host", FAIL, ["the host clock, in preflight's round trip"], None, "ours"),
    "cluster.reach": ("every host", FAIL, ["TCP connects to the ports each role uses"], None, "ours"),
    "cluster.vip": ("load balancers", FAIL, ["ARP for the VIP", "ip -o -4 addr show"], None, "ours"),
    "cluster.pod_cidr": ("kube nodes", FAIL, ["the inventory (networking.pod_cidr, cni, hosts)"], None, "ours"),
}

_SAMPLE = Inventory.model_validate({
    "cluster_name": "sample", "kubernetes_version": "1.37.1",
    "control_plane_endpoint": {"name": "api", "address": "10.0.0.100"}, "load_balancer": {"mode": "pair"},
    "networking": {"host_network": "10.0.0.0/24"}, "host_defaults": {"nic": "eth0"},
    "hosts": [{"hostname": "cp", "address": "10.0.0.1", "roles": ["control-plane"]},
              {"hostname": "w1", "address": "10.0.0.2", "roles": ["worker"]},
              {"hostname": "w2", "address": "10.0.0.3", "roles": ["worker"]},
              {"hostname": "lb", "address": "10.0.0.4", "roles": ["lb"]}]})
_ROLES = {"control planes": "cp", "workers": "w1", "load balancers": "lb"}


def _hosts(check) -> str:
    on = [role for role, name in _ROLES.items() if check.applies(Node(_SAMPLE.host(name), _SAMPLE, Facts()))]
    return "every host" if len(on) == len(_ROLES) else " and ".join(on) or "none"


def rows() -> list[Row]:
    out = [Row(c.id, "node", _hosts(c), c.severity, c.fixed_by, list(c.reads), FIXES[c.id], c.reference)
           for c in NODE_CHECKS]
    out += [Row(cid, "cluster", hosts, sev, fixed, reads, FIXES[cid], ref)
            for cid, (hosts, sev, reads, fixed, ref) in CLUSTER_ROWS.items()]
    return out


def checks_report(as_json: bool) -> str:
    """Every check: id, per node or across nodes, hosts, severity, what it reads, the fix, what it mirrors."""
    table = rows()
    if as_json:
        return json.dumps({"checks": [asdict(r) for r in table]}, indent=2)
    out = []
    for r in table:
        severity = r.severity + (" (a warning until the host joined)" if r.fixed_by else "")
        out += [f"{r.id}  {r.scope}, {r.hosts}, {severity}, mirrors {r.reference}",
                f"    reads: {', '.join(r.reads)}",
                f"    fix:   {f'`provisioner up` ({r.fixed_by} phase)' if r.fixed_by else r.fix}"]
    return "\n".join(out)
