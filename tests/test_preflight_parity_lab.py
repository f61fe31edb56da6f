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

from tests.lab import parity_faults as pf
from tests.support.lab_inventory import lab_inventory
from tests.test_preflight_lab import check, failing, preflight

KUBE_NODES = ["master1", "master2", "master3", "node1", "node2", "node3"]
CONTROL_PLANES, WORKERS = KUBE_NODES[:3], KUBE_NODES[3:]
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
    assert "/proc/config.gz" in check(report, "node1", "kernel.config")["observed"]


def test_each_fault_trips_its_check_on_its_node_only(lab, tmp_path):
    inventory = lab_inventory(lab, tmp_path, networking={"host_network": "172.31.250.0/24",
                                                         "pod_cidr": "10.244.0.0/24", "service_cidr": "10.96.0.0/12"})
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
