"""The checks of issue 26 against the real lab: the clean lab passes each, and a fault trips each on the
node it was put on only. Grouped in two preflight runs (clean, then every fault at once on different nodes)
so the module costs one lab boot and two round trips. dns.resolv_conf runs the other way round: the lab's nodes
have no nameserver (a warning on each), and the one given a nameserver passes.

Real parts: the nodes' sshd, bash, dd, mountpoint, zcat, curl, socat; the faults are tests/lab/parity_faults.py
(bind mounts inside one node's mount namespace for what the kernel shares, a preloaded library for a slow disk).
"""

from __future__ import annotations

import contextlib
import re
import subprocess

import pytest

from tests.lab import faults as lab_faults
from tests.lab.util import wait_for

from tests.lab import parity_faults as pf
from tests.support.lab_inventory import lab_inventory
from tests.test_preflight_lab import check, failing, preflight

KUBE_NODES = ["master1", "master2", "master3", "node1", "node2", "node3"]
CONTROL_PLANES, WORKERS = KUBE_NODES[:3], KUBE_NODES[3:]
EVERY_HOST = ["ha1", "ha2", *KUBE_NODES]
EVERY_KUBE_NODE = ("kube.leftovers", "host.tools", "proxy.no_proxy", "kernel.version",
                   "kernel.config", "cluster.pod_cidr")


def statuses(report, check_id, hosts) -> dict[str, str]:
    return {h: check(report, h, check_id)["status"] for h in hosts}


def test_clean_lab_passes_every_new_check(lab, tmp_path):
    code, report, stderr = preflight(lab, lab_inventory(lab, tmp_path))
    assert code == 0, (failing(report), stderr)
    for check_id in EVERY_KUBE_NODE:
        assert set(statuses(report, check_id, KUBE_NODES).values()) == {"pass"}, (check_id, report)
    assert set(statuses(report, "hw.memory_node", WORKERS).values()) == {"pass"}
    assert set(statuses(report, "runtime.socket", KUBE_NODES).values()) == {"skip"}   # no runtime before up
    # The lab's nodes have no nameserver (no DNS server reaches them: tests/lab/rootfs.py): a warning on each;
    # the faulted run below gives node1 one and it passes there.
    assert set(statuses(report, "dns.resolv_conf", KUBE_NODES).values()) == {"warn"}
    assert check(report, "node1", "dns.resolv_conf")["observed"] == "/etc/resolv.conf: no nameserver line"
    for name in CONTROL_PLANES:
        # A real measurement of the node's disk; whether this shared machine's disk is under 10 ms is not
        # asserted (no timing asserts): the fault below adds a known 40 ms per write.
        disk = check(report, name, "etcd.disk_sync")
        assert disk["status"] in ("pass", "warn") and "ms per synced 2300-byte write on /var/lib" in disk["observed"]
    assert "mount nsenter" in check(report, "node1", "host.tools")["observed"]
    # The lab's own mirror answers every node; the default image registry, registry.k8s.io, resolves nowhere in
    # the lab: no nameserver, which dns.resolv_conf reports, so net.registry points there instead of warning twice.
    assert set(statuses(report, "net.package_repos", EVERY_HOST).values()) == {"pass"}
    assert check(report, "master1", "net.package_repos")["observed"] == (
        "apt mirror: HTTP 200; kubernetes repository: HTTP 200; docker repository: HTTP 200")
    assert check(report, "ha1", "net.package_repos")["observed"] == "apt mirror: HTTP 200"
    assert set(statuses(report, "net.registry", KUBE_NODES).values()) == {"skip"}
    assert check(report, "node2", "net.registry")["observed"] == (
        "not asked: registry.k8s.io needs DNS and the node has no nameserver (dns.resolv_conf)")
    assert "/proc/config.gz" in check(report, "node1", "kernel.config")["observed"]


@pytest.fixture
def registry(lab, tmp_path):
    """The REAL registry server (Debian's docker-registry, distribution 2.8) on the lab's bridge, plain HTTP."""
    config = tmp_path / "registry.yml"
    config.write_text(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {tmp_path / 'blobs'}\n"
                      "http:\n  addr: 172.31.250.1:5000\n")
    server = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: lab_faults._tcp_open("172.31.250.1", 5000), timeout=30,
                 what="docker-registry listening on 172.31.250.1:5000")
        yield {"hostname": "harbor", "address": "172.31.250.1", "port": 5000, "insecure": True}
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_each_fault_trips_its_check_on_its_node_only(lab, tmp_path, registry):
    inventory = lab_inventory(lab, tmp_path, networking={"host_network": "172.31.250.0/24",
                                                         "pod_cidr": "10.244.0.0/24", "service_cidr": "10.96.0.0/12"},
                              registry=registry, image_repository="harbor:5000/k8s")
    node = lab.node
    with contextlib.ExitStack() as faults:
        faults.enter_context(pf.kube_leftovers(node("master2"), ["/etc/kubernetes/manifests/etcd.yaml",
                                                                  "/var/lib/etcd/"]))
        faults.enter_context(pf.kube_leftovers(node("node3"), ["/etc/kubernetes/pki/ca.crt"]))
        faults.enter_context(pf.slow_disk_sync(node("master3")))
        faults.enter_context(pf.resolv_conf(node("node1"), "nameserver 172.31.250.1\n"))
        faults.enter_context(pf.cri_socket(node("node1"), listening=False))
        faults.enter_context(pf.kernel_config_without(node("node1"), "NETFILTER_XT_MATCH_COMMENT"))
        faults.enter_context(pf.memory_shown(node("node2"), 900))
        faults.enter_context(pf.tool_hidden(node("node2"), "nsenter"))
        faults.enter_context(pf.kernel_release_shown(node("node2"), "4.19.0-27-amd64"))
        faults.enter_context(pf.cri_socket(node("node2"), listening=True))
        faults.enter_context(pf.https_proxy_env(node("node3")))
        faults.enter_context(lab_faults.ports_filtered(node("node2"), [8080], chain="output", action="reject",
                                                       peer="172.31.250.1"))
        code, report, stderr = preflight(lab, inventory)
    assert code == 1, (failing(report), stderr)

    def only(check_id, bad, status, hosts=KUBE_NODES, ok="pass"):
        assert statuses(report, check_id, hosts) == {h: status if h in bad else ok for h in hosts}, check_id

    only("kube.leftovers", {"master2", "node3"}, "warn")
    assert "etcd.yaml, /var/lib/etcd (not empty)" in check(report, "master2", "kube.leftovers")["observed"]
    assert check(report, "node3", "kube.leftovers")["observed"] == "/etc/kubernetes/pki/ca.crt"
    assert "provisioner reset --limit node3" in check(report, "node3", "kube.leftovers")["fix"]
    only("etcd.disk_sync", {"master3"}, "warn", CONTROL_PLANES, ok=check(report, "master1", "etcd.disk_sync")["status"])
    assert float(re.match(r"([\d.]+) ms", check(report, "master3", "etcd.disk_sync")["observed"]).group(1)) >= 40
    only("dns.resolv_conf", {"node1"}, "pass", ok="warn")      # the lab has no nameserver but where given one
    assert check(report, "node1", "dns.resolv_conf")["observed"] == "/etc/resolv.conf: 172.31.250.1"
    # node1: a stale socket file, no cri-docker.socket running: up's runtime phase starts that unit (systemd
    # replaces the file when it binds), so before up it is a warning naming the phase; node2: socat accepts on
    # it; the others have no runtime yet
    assert statuses(report, "runtime.socket", KUBE_NODES) == {"master1": "skip", "master2": "skip", "master3": "skip",
                                                               "node1": "warn", "node2": "pass", "node3": "skip"}
    stale = check(report, "node1", "runtime.socket")
    assert "refused" in stale["observed"] and "cri-docker.socket stopped" in stale["observed"], stale
    assert "runtime phase" in stale["fix"], stale
    only("kernel.config", {"node1"}, "fail")
    assert "CONFIG_NETFILTER_XT_MATCH_COMMENT" in check(report, "node1", "kernel.config")["observed"]
    only("hw.memory_node", {"node2"}, "fail", WORKERS)
    only("host.tools", {"node2"}, "fail")
    only("kernel.version", {"node2"}, "warn")
    only("proxy.no_proxy", {"node3"}, "warn")
    assert "172.31.250.101" in check(report, "node3", "proxy.no_proxy")["observed"]
    only("cluster.pod_cidr", set(KUBE_NODES), "fail")
    # node2 cannot reach the lab's mirror (its port 8080 rejected on the way out); every kube node reaches
    # the real registry at the address the inventory gives "harbor"
    only("net.package_repos", {"node2"}, "fail", EVERY_HOST)
    assert "apt mirror http://172.31.250.1:8080/debian/dists/bookworm/InRelease" in \
        check(report, "node2", "net.package_repos")["observed"]
    assert set(statuses(report, "net.registry", KUBE_NODES).values()) == {"pass"}
    assert check(report, "node1", "net.registry")["observed"] == "registry harbor:5000: HTTP 200"
