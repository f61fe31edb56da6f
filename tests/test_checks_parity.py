"""The checks issue 26 added, as data: facts in, verdict out (the lab shows them on real nodes:
tests/test_preflight_parity_lab.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.checks import cluster as cc
from provisioner.checks.base import FAIL, PASS, SKIP, WARN, Facts, Node
from provisioner.checks.proxyenv import bypassed, proxy_settings
from provisioner.validation import load_inventory
from tests.test_checks_data import test_check as judge

REPO = Path(__file__).resolve().parents[1]
INV = load_inventory(REPO / "inventories/lab.yaml")
KCONF_OK = "\n".join(["release 6.12.48-amd64", "cgroup v2", "config /boot/config-6.12.48-amd64"] + [
    f"CONFIG_{n}=y" for n in ("NAMESPACES", "NET_NS", "PID_NS", "IPC_NS", "UTS_NS", "CPUSETS", "MEMCG", "INET",
                              "EXT4_FS", "PROC_FS", "NETFILTER_XT_MATCH_COMMENT", "FAIR_GROUP_SCHED", "CGROUPS",
                              "CGROUP_BPF", "CGROUP_PIDS", "CGROUP_SCHED")] + ["CONFIG_IP_NF_TARGET_REDIRECT=m"])
DD = "/var/lib 46000 bytes (46 kB, 45 KiB) copied, {} s, 1.4 MB/s"
NO_PROXY_OK = ("/etc/environment: HTTPS_PROXY=http://proxy:3128\n/etc/environment: "
               "NO_PROXY=172.31.250.0/24,.lab.test,10.96.0.0/12,10.244.0.0/16")

CASES = [
    ("kube.leftovers", "master1", {"kube.leftovers": ""}, PASS, "none"),
    ("kube.leftovers", "master1", {"kube.leftovers": "/etc/kubernetes/manifests/etcd.yaml\n/var/lib/etcd/"}, WARN,
     "/var/lib/etcd (not empty)"),
    ("kube.leftovers", "node1", {"kube.leftovers": "/etc/kubernetes/pki/ca.crt"}, WARN, "ca.crt"),
    ("kube.leftovers", "node1", {"kube.leftovers": "/etc/kubernetes/kubelet.conf\n/etc/kubernetes/pki/ca.crt",
                                 "kube.joined": "/etc/kubernetes/kubelet.conf"}, PASS, "in a cluster"),
    ("dns.resolv_conf", "node1", {"dns.resolv_conf": "/etc/resolv.conf\n10.0.0.2"}, PASS, "10.0.0.2"),
    ("dns.resolv_conf", "node1", {"dns.resolv_conf": "/run/systemd/resolve/resolv.conf"}, WARN, "resolve/resolv.conf: no"),
    ("host.tools", "node1", {"host.tools": ""}, PASS, "mount nsenter"),
    ("host.tools", "node1", {"host.tools": "nsenter"}, FAIL, "nsenter not found"),
    ("hw.memory_node", "node1", {"hw.meminfo": "MemTotal:  2000000 kB"}, PASS, "1953 MB"),
    ("hw.memory_node", "node1", {"hw.meminfo": "MemTotal:  900000 kB"}, FAIL, "878 MB"),
    ("kernel.version", "node1", {"kernel.config": "release 6.12.48-amd64"}, PASS, "6.12.48"),
    ("kernel.version", "node1", {"kernel.config": "release 5.15.0-91-generic"}, PASS, "5.15.0"),
    ("kernel.version", "node1", {"kernel.config": "release 4.19.0-27-amd64"}, WARN, "4.19.0"),
    ("kernel.config", "node1", {"kernel.config": KCONF_OK}, PASS, "17 required options"),
    ("kernel.config", "node1", {"kernel.config": KCONF_OK.replace("CONFIG_CGROUP_BPF=y", "# x")}, FAIL,
     "CONFIG_CGROUP_BPF"),
    ("kernel.config", "node1", {"kernel.config": KCONF_OK.replace("CONFIG_MEMCG=y", "CONFIG_MEMCG=n")}, FAIL,
     "CONFIG_MEMCG"),
    ("kernel.config", "node1", {"kernel.config": "release 6.1.0\ncgroup v2\nconfig none"}, WARN, "no kernel config"),
    ("runtime.socket", "node1", {"runtime.socket": "absent"}, SKIP, "installed yet"),
    ("runtime.socket", "node1", {"runtime.socket": "answers crictl info"}, PASS, "answers"),
    ("runtime.socket", "node1", {"runtime.socket": "refused connect"}, FAIL, "refused"),
    ("runtime.socket", "node1", {"runtime.socket": "missing installed"}, FAIL, "missing"),
    ("etcd.disk_sync", "master1", {"etcd.disk_sync": DD.format("0.04")}, PASS, "2.00 ms"),
    ("etcd.disk_sync", "master1", {"etcd.disk_sync": DD.format("0.5")}, WARN, "25.00 ms"),
    ("etcd.disk_sync", "master1", {"etcd.disk_sync": ""}, WARN, "no measurement"),
    ("proxy.no_proxy", "node1", {"proxy.env": ""}, PASS, "no proxy"),
    ("proxy.no_proxy", "node1", {"proxy.env": NO_PROXY_OK}, PASS, "covers"),
    ("proxy.no_proxy", "node1", {"proxy.env": "/etc/environment: https_proxy=http://proxy:3128"}, WARN,
     "172.31.250.101"),
    ("proxy.no_proxy", "node1", {"proxy.env": "/etc/systemd/system.conf: DefaultEnvironment="
                                              "\"HTTPS_PROXY=http://p:3128\" \"NO_PROXY=172.31.250.0/24\""}, WARN,
     "10.96.0.1"),
    ("proxy.no_proxy", "node1", {"proxy.env": "/etc/systemd/system/docker.service.d/http-proxy.conf: "
                                              "Environment=\"HTTP_PROXY=http://p:3128\""}, WARN, "docker.service.d"),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{c[3]}-{i}" for i, c in enumerate(CASES)])
def test_check(case):
    judge(case)


def test_no_proxy_follows_go_httpproxy():
    """golang.org/x/net/http/httpproxy config.go: '*', IPs, CIDRs, 'dom' (itself and below), '.dom' (below)."""
    assert bypassed("10.96.0.1", "10.96.0.0/12") and not bypassed("10.112.0.1", "10.96.0.0/12")
    assert bypassed("kubeapi.lab.test", "lab.test") and bypassed("lab.test", "lab.test")
    assert bypassed("kubeapi.lab.test", ".lab.test") and not bypassed("lab.test", ".lab.test")
    assert bypassed("anything", "*") and bypassed("127.0.0.1", "") and not bypassed("172.31.250.101", "")
    assert proxy_settings(["/etc/environment: export http_proxy='http://p:1'", "/etc/environment: # HTTPS_PROXY=x"]) \
        == {"/etc/environment": {"http_proxy": "http://p:1"}}


def _with_pod_cidr(cidr: str):
    inv = load_inventory(REPO / "inventories/lab.yaml")
    inv.networking.pod_cidr = __import__("ipaddress").IPv4Network(cidr)
    return [Node(h, inv, Facts()) for h in inv.hosts]


def test_pod_cidr_must_hold_a_node_block_per_kube_node():
    ok = cc.pod_cidr_capacity(_with_pod_cidr("10.244.0.0/16"))
    assert len(ok) == 6 and {r.status for r in ok} == {PASS}
    small = cc.pod_cidr_capacity(_with_pod_cidr("10.244.0.0/24"))
    assert {r.status for r in small} == {FAIL} and "holds 1 /24 node block(s) for 6 kube nodes" in small[0].observed
    assert "/21" in small[0].fix
    assert {r.status for r in cc.pod_cidr_capacity(_with_pod_cidr("10.244.0.0/21"))} == {PASS}


def test_up_claims_a_missing_cri_socket_only():
    """The runtime phase writes cri-docker.socket and starts it: a socket missing after a run stopped before
    that phase is repaired by up (a warning before up); one that refuses stays a failure up does not claim."""
    from provisioner.checks.crisocket import CriSocket
    from provisioner.factdata import Fact

    inv = load_inventory(REPO / "inventories/lab.yaml")
    node = Node(inv.host("node1"), inv, Facts())
    def verdict(text):
        return CriSocket().evaluate(Facts({"runtime.socket": Fact(text, 0)}), node)

    missing, stale, refused = verdict("missing installed"), verdict("refused connect\nunit stopped"), \
        verdict("refused connect")
    assert (missing.status, missing.fixed_by) == (FAIL, "runtime")
    assert (stale.status, stale.fixed_by) == (FAIL, "runtime") and "cri-docker.socket stopped" in stale.observed
    assert (refused.status, refused.fixed_by) == (FAIL, None)


def test_the_socket_probe_tells_a_stale_file_from_an_answering_socket(tmp_path):
    """A real unix socket: bound but not listening (a stopped unit's file) is refused, listening answers."""
    import socket
    import subprocess

    from provisioner.checks.crisocket import socket_command

    def probe(path):
        return subprocess.run(["bash", "-c", socket_command(str(path))], capture_output=True, text=True).stdout

    path = tmp_path / "cri.sock"
    assert probe(path) in ("absent\n", "missing installed\n")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        assert probe(path).startswith("refused")
        s.listen()
        assert probe(path).startswith("answers")
