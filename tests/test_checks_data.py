"""Checks as data: facts in, verdict out. Each check has a passing and a failing case.

These run without any host; the lab tests (test_preflight_lab.py) show the
same checks against real nodes with injected faults.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.checks import NODE_CHECKS
from provisioner.checks import cluster as cc
from provisioner.checks.base import FAIL, PASS, SKIP, WARN, Fact, Facts, Node
from provisioner.preflight import gather_script, parse_facts, settle
from provisioner.validation import load_inventory

INV = load_inventory(Path(__file__).resolve().parents[1] / "inventories/lab.yaml")
CHECKS = {c.id: c for c in NODE_CHECKS}

OS_DEBIAN = 'ID=debian\nVERSION_ID="12"'
SS_FREE = "LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:((\"sshd\",pid=1,fd=3))"
SS_6443 = SS_FREE + "\nLISTEN 0 4096 0.0.0.0:6443 0.0.0.0:* users:((\"python3\",pid=9,fd=3))"
CHRONY_OK = "Reference ID    : AC1FFA01 (172.31.250.1)\nSystem time     : 0.000012 seconds fast of NTP time\nLeap status     : Normal"
CHRONY_BAD = "Reference ID    : 00000000 ()\nLeap status     : Not synchronised"
LAB_PEERS = [f"172.31.250.{i}" for i in (101, 102, 103, 105, 106, 107, 108)]   # node1's peers


def _routes(src: str, dev: str = "eth0", peers=LAB_PEERS, via: str = "") -> str:
    """What `ip -4 -o -batch` prints for `route get PEER` lines."""
    return "\n".join(f"{p} {via}dev {dev} src {src} uid 0 \\    cache " for p in peers)

# (check id, host, facts, expected status, words in observed)
CASES = [
    ("os.supported", "master1", {"os.release": OS_DEBIAN}, PASS, "debian 12"),
    ("os.supported", "master1", {"os.release": 'ID=debian\nVERSION_ID="10"'}, FAIL, "debian 10"),
    ("os.supported", "master1", {"os.release": 'ID=ubuntu\nVERSION_ID="24.04"'}, PASS, "ubuntu 24.04"),
    ("os.supported", "master1", {"os.release": 'ID=rocky\nVERSION_ID="9.4"'}, PASS, "rocky 9.4"),
    ("hw.cpus", "master1", {"hw.nproc": "2"}, PASS, "2"),
    ("hw.cpus", "master1", {"hw.nproc": "1"}, FAIL, "1"),
    ("hw.memory", "master1", {"hw.meminfo": "MemTotal:  2000000 kB"}, PASS, "1953 MB"),
    ("hw.memory", "master1", {"hw.meminfo": "MemTotal:  1000000 kB"}, FAIL, "976 MB"),
    ("disk.var_lib", "node1", {"disk.var_lib": "/dev/vda 100 10 50000000 1% /"}, PASS, "GB free"),
    ("disk.var_lib", "node1", {"disk.var_lib": "/dev/vda 100 10 1000000 1% /"}, FAIL, "GB free"),
    ("swap.active", "node1", {"swap.active": "Filename Type Size Used Priority"}, PASS, "none"),
    ("swap.active", "node1", {"swap.active": "Filename Type Size Used Priority\n/swapfile file 1024 0 -2"}, FAIL, "/swapfile"),
    ("swap.persistent", "node1", {"swap.fstab": "", "swap.units": ""}, PASS, "none"),
    ("swap.persistent", "node1", {"swap.fstab": "/swap.img", "swap.units": "swap.img.swap"}, FAIL, "fstab: /swap.img"),
    ("security.selinux", "node1", {"os.release": 'ID=rocky\nVERSION_ID="9"', "security.selinux": "Enforcing\nSELINUX=enforcing"}, WARN, "Enforcing (config: enforcing)"),
    ("security.selinux", "node1", {"os.release": 'ID=rocky\nVERSION_ID="9"', "security.selinux": "Permissive\nSELINUX=enforcing"}, WARN, "config: enforcing"),
    ("security.selinux", "node1", {"os.release": 'ID=rocky\nVERSION_ID="9"', "security.selinux": "Permissive"}, PASS, "Permissive"),
    ("security.selinux", "node1", {"os.release": OS_DEBIAN, "security.selinux": "absent"}, SKIP, "not a RHEL"),
    ("security.firewall", "node1", {"security.firewall": "firewalld inactive\nufw inactive"}, PASS, "no firewalld"),
    ("security.firewall", "node1", {"security.firewall": "firewalld active\nufw inactive"}, WARN, "firewalld active"),
    ("security.firewall", "master1", {"security.firewall": "firewalld active\nufw inactive\nfirewalld-ports 2379-2380/tcp "
     "10250/tcp 10259/tcp 10257/tcp 8472/udp\nfirewalld-protocols "}, WARN, "not open: 6443/tcp"),
    ("security.firewall", "node1", {"security.firewall": "firewalld active\nufw inactive\nfirewalld-ports 10250/tcp "
     "10256/tcp 30000-32767/tcp 30000-32767/udp 8472/udp\nfirewalld-protocols "}, PASS, "ports open"),
    ("security.firewall", "node1", {"security.firewall": "firewalld inactive\nufw active\nufw-ports 10250/tcp 10256/tcp "
     "30000-32767/tcp"}, WARN, "ufw active, not open: 30000-32767/udp 8472/udp"),
    ("name.hostname", "node1", {"name.hostname": "node1"}, PASS, "node1"),
    ("name.hostname", "node1", {"name.hostname": "Node1"}, WARN, "not RFC 1123"),
    ("name.hostname", "node1", {"name.hostname": "localhost"}, WARN, "differs"),
    ("net.address", "node1", {"net.addresses": "2: eth0    inet 172.31.250.104/24 brd 172.31.250.255 scope global eth0"}, PASS, "on eth0"),
    ("net.address", "node1", {"net.addresses": "2: eth1    inet 172.31.250.104/24 scope global eth1"}, FAIL, "on eth1"),
    ("net.default_route", "node1", {"net.route": ""}, PASS, "no default route"),
    ("net.default_route", "node1", {"net.route": "default via 10.0.2.2 dev eth0\n1.1.1.1 via 10.0.2.2 dev eth0 src 10.0.2.15 uid 0"},
     WARN, "10.0.2.15"),
    ("net.default_route", "node1", {"net.route": "default via 192.168.121.1 dev eth0\n1.1.1.1 via 192.168.121.1 dev eth0 src 192.168.121.34 uid 0"},
     WARN, "libvirt management network"),
    ("net.default_route", "node1", {"net.route": "default via 172.31.250.1 dev eth0\n1.1.1.1 via 172.31.250.1 dev eth0 src 172.31.250.104 uid 0"},
     PASS, "src 172.31.250.104"),
    ("net.peer_route", "node1", {"net.peer_route": _routes("172.31.250.104")}, PASS, "7 peers via eth0 src 172.31.250.104"),
    ("net.peer_route", "node1", {"net.peer_route": _routes("10.0.2.15", via="via 10.0.2.2 ")}, FAIL,
     "via eth0 src 10.0.2.15 (Vagrant/VirtualBox NAT)"),
    ("net.peer_route", "node1", {"net.peer_route": _routes("172.31.250.104", peers=LAB_PEERS[:-1]) + "\n"
                                 + _routes("192.168.57.4", dev="eth1", peers=LAB_PEERS[-1:])}, FAIL,
     "172.31.250.108 via eth1 src 192.168.57.4"),
    ("net.peer_route", "node1", {"net.peer_route": "RTNETLINK answers: Network is unreachable\n" * 7}, FAIL,
     "no route to 172.31.250.101, 172.31.250.102, 172.31.250.103 (+4 more)"),
    ("kernel.modules", "node1", {"kernel.modules": "overlay loaded\nbr_netfilter loadable"}, PASS, "overlay loaded"),
    ("kernel.modules", "node1", {"kernel.modules": "overlay loaded\nbr_netfilter missing"}, FAIL, "br_netfilter missing"),
    ("kernel.sysctl", "node1", {"kernel.sysctl": "net.ipv4.ip_forward=1\nnet.bridge.bridge-nf-call-iptables=1"}, PASS, "ip_forward=1"),
    ("kernel.sysctl", "node1", {"kernel.sysctl": "net.ipv4.ip_forward=0\nnet.bridge.bridge-nf-call-iptables=1"}, FAIL, "ip_forward=0"),
    ("lb.nonlocal_bind", "ha1", {"lb.nonlocal_bind": "net.ipv4.ip_nonlocal_bind=0"}, FAIL, "=0"),
    ("lb.nonlocal_bind", "ha1", {"lb.nonlocal_bind": "net.ipv4.ip_nonlocal_bind=1"}, PASS, "=1"),
    ("time.sync", "node1", {"time.chrony": CHRONY_OK}, PASS, "synchronised"),
    ("time.sync", "node1", {"time.chrony": CHRONY_BAD}, FAIL, "Not synchronised"),
    ("ports.free", "master1", {"ports.listen": SS_FREE}, PASS, "free"),
    ("ports.free", "master1", {"ports.listen": SS_6443}, FAIL, "6443 in use by python3"),
    ("ports.free", "master1", {"ports.listen": SS_6443, "kube.joined": "/etc/kubernetes/admin.conf"}, PASS, "already ours"),
    ("ports.free", "node1", {"ports.listen": SS_6443}, PASS, "free"),
    ("runtime.docker", "node1", {"runtime.docker": "absent"}, SKIP, "no container runtime"),
    ("runtime.docker", "node1", {"runtime.docker": "systemd", "runtime.cri":
     "{ path=/usr/bin/cri-dockerd ; argv[]=/usr/bin/cri-dockerd --pod-infra-container-image registry.k8s.io/pause:3.10.2 }"}, PASS, "systemd"),
    ("runtime.docker", "node1", {"runtime.docker": "cgroupfs", "runtime.cri": ""}, FAIL, "cgroup driver cgroupfs"),
    ("runtime.docker", "node1", {"runtime.docker": "systemd", "runtime.cri":
     "{ argv[]=/usr/bin/cri-dockerd --pod-infra-container-image registry.k8s.io/pause:3.6 }"}, FAIL, "pause image"),
    ("kube.versions", "node1", {"kube.versions": "kubeadm absent\nkubelet absent"}, SKIP, "not installed"),
    ("kube.versions", "node1", {"kube.versions": "kubeadm v1.37.1\nkubelet v1.37.1"}, PASS, "v1.37.1"),
    ("kube.versions", "node1", {"kube.versions": "kubeadm v1.36.3\nkubelet v1.37.1"}, FAIL, "kubeadm v1.36.3"),
]


def _node(host: str, facts: dict, privileged: bool = True) -> Node:
    return Node(INV.host(host), INV, Facts({k: Fact(v, 0) for k, v in facts.items()}, privileged))


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{c[3]}-{i}" for i, c in enumerate(CASES)])
def test_check(case):
    check_id, host, facts, status, words = case
    node = _node(host, facts)
    verdict = CHECKS[check_id].evaluate(node.facts, node)
    assert verdict.status == status, verdict
    assert words in verdict.observed, verdict
    if status in (FAIL, WARN):
        assert verdict.fix, "every failure says how to fix it"


def test_sudo_check():
    ok = _node("node1", {}, privileged=True)
    assert CHECKS["access.sudo"].evaluate(ok.facts, ok).status == PASS
    bad = _node("node1", {}, privileged=False)
    verdict = CHECKS["access.sudo"].evaluate(bad.facts, bad)
    assert verdict.status == FAIL and "cannot run sudo -n" in verdict.observed and "NOPASSWD" in verdict.fix


def test_fixable_failures_are_warnings_until_the_node_joined():
    fresh = _node("node1", {"swap.active": "Filename\n/swapfile file 1 0 -2"})
    swap = CHECKS["swap.active"]
    verdict = settle(swap, swap.evaluate(fresh.facts, fresh), fresh, strict=False)
    assert verdict.status == WARN and "provisioner up" in verdict.fix
    strict = settle(swap, swap.evaluate(fresh.facts, fresh), fresh, strict=True)
    assert strict.status == FAIL
    joined = _node("node1", {"swap.active": "Filename\n/swapfile file 1 0 -2", "kube.joined": "/etc/kubernetes/kubelet.conf"})
    assert settle(swap, swap.evaluate(joined.facts, joined), joined, strict=False).status == FAIL
    unfixable = _node("master1", {"ports.listen": SS_6443})
    ports = CHECKS["ports.free"]
    assert settle(ports, ports.evaluate(unfixable.facts, unfixable), unfixable, strict=False).status == FAIL


HOSTS_FRESH = "127.0.0.1\tlocalhost\n127.0.1.1\tnode1.lab.test node1\n::1\tlocalhost ip6-localhost\n"


def test_hosts_line_sending_a_cluster_name_elsewhere_fails_and_names_the_line():
    """Separate from 'name missing' (name.resolve): a stale line above our block wins in the resolver."""
    check = CHECKS["name.hosts_conflict"]
    fresh = _node("node1", {"name.etc_hosts": HOSTS_FRESH})
    assert check.evaluate(fresh.facts, fresh).status == PASS      # Debian's own 127.0.1.1 line is fine
    stale = _node("node1", {"name.etc_hosts": "172.31.250.199 master1\n" + HOSTS_FRESH})
    verdict = settle(check, check.evaluate(stale.facts, stale), stale, strict=False)
    assert verdict.status == FAIL, "not softened to a warning before the join: it silently wins"
    assert "/etc/hosts:1: '172.31.250.199 master1' maps master1 to 172.31.250.199" in verdict.observed
    other_loopback = _node("node1", {"name.etc_hosts": "127.0.1.1 master1.lab.test master1\n"})
    assert check.evaluate(other_loopback.facts, other_loopback).status == FAIL   # another host's name on loopback


def test_prep_comments_out_conflicting_hosts_lines_with_a_marker():
    from provisioner import hostsfile
    wanted = hostsfile.wanted_names(INV)
    own = hostsfile.own_names(INV, INV.host("node1"))
    text = "172.31.250.199 master1 extra\n" + HOSTS_FRESH
    fixed = hostsfile.comment_out(text, wanted, own)
    assert fixed.splitlines()[0].startswith("# provisioner: maps master1 elsewhere") and fixed.endswith(HOSTS_FRESH)
    assert hostsfile.conflicts(fixed, wanted, own) == [] and hostsfile.comment_out(fixed, wanted, own) == fixed


def _links(mac: str) -> str:
    return f"2: eth0@if9: <BROADCAST,MULTICAST,UP> mtu 1500 qdisc noqueue state UP mode DEFAULT link/ether {mac} brd ff:ff:ff:ff:ff:ff"


def test_cross_node_uniqueness_lands_on_the_right_hosts():
    nodes = [_node(h, {"id.product_uuid": u, "id.links": _links(m), "name.hostname": h})
             for h, u, m in [("master1", "AAAA", "02:00:00:00:00:01"), ("master2", "BBBB", "02:00:00:00:00:02"),
                             ("node1", "AAAA", "02:00:00:00:00:02")]]
    uuids = dict(zip([n.name for n in nodes], cc.unique_product_uuid(nodes)))
    assert uuids["master1"].status == FAIL and "also on node1" in uuids["master1"].observed
    assert uuids["node1"].status == FAIL and uuids["master2"].status == PASS
    macs = dict(zip([n.name for n in nodes], cc.unique_mac(nodes)))
    assert macs["master2"].status == FAIL and macs["node1"].status == FAIL and macs["master1"].status == PASS


def test_clock_skew():
    nodes = [_node(h, {}) for h in ("master1", "master2", "node1")]
    for node, offset in zip(nodes, (0.01, 0.02, 300.0)):
        node.clock_offset = offset
    verdicts = dict(zip([n.name for n in nodes], cc.clock_skew(nodes)))
    assert verdicts["node1"].status == FAIL and verdicts["master1"].status == PASS


def test_vip_taken_by_a_stranger():
    ha1 = _node("ha1", {"vip.probe": "172.31.250.100 dev eth0 lladdr 02:99:99:99:99:99 REACHABLE", "id.links": _links("02:00:00:00:00:07")})
    ha2 = _node("ha2", {"vip.probe": "172.31.250.100 dev eth0 FAILED", "id.links": _links("02:00:00:00:00:08")})
    verdicts = cc.vip_free([ha1, ha2])
    assert verdicts[0].status == FAIL and "02:99:99:99:99:99" in verdicts[0].observed
    assert verdicts[1].status == PASS
    held = _node("ha1", {"vip.probe": "held"})
    assert cc.vip_free([held, ha2])[1].status == PASS


def test_gather_script_round_trip():
    """The fact script's markers parse back into per-fact output and exit codes (run by real bash)."""
    import subprocess

    script = gather_script({"a": "echo one; echo two", "b": "printf 'x'; exit 3", "c": "echo '@@ not a marker'"})
    out = subprocess.run(["bash", "-c", "echo '@@PRIV 0'; " + script], capture_output=True, text=True).stdout
    facts, durations = parse_facts(out)
    assert facts.text("a") == "one\ntwo" and facts.rc("a") == 0
    assert facts.text("b") == "x" and facts.rc("b") == 3
    assert facts.text("c") == "@@ not a marker"
    assert facts.privileged is False and set(durations) == {"a", "b", "c"}


def test_kubeadm_newer_than_the_inventory_is_not_for_up_to_fix():
    """After `provisioner upgrade` the nodes run the next version: `up` with the old kubernetes_version must not
    count on kube-packages to install the older packages (a downgrade apt refuses); the fix names the version."""
    check = CHECKS["kube.versions"]
    upgraded = _node("node1", {"kube.versions": "kubeadm v1.38.0\nkubelet v1.38.0",
                               "kube.joined": "/etc/kubernetes/kubelet.conf"})
    verdict = settle(check, check.evaluate(upgraded.facts, upgraded), upgraded, strict=False)
    assert verdict.status == FAIL and verdict.fixed_by is None, verdict
    assert 'set kubernetes_version: "1.38.0" in the inventory' in verdict.fix, verdict.fix
    older = _node("node1", {"kube.versions": "kubeadm v1.36.4\nkubelet v1.36.4"})
    assert check.evaluate(older.facts, older).fixed_by == "kube-packages"
