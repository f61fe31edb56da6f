"""`provisioner add` and `remove` on one lab cluster, built without master3 and node3.

add: both join, the load balancers' haproxy lists the new control plane, every /etc/hosts names both, a re-run
of `up` changes nothing; what is not an addition is refused with exit 2. remove: both leave again (drained with
the real kubectl, reset, etcd 3 -> 2 members, Node objects deleted), haproxy and every /etc/hosts forget them,
etcd is not taken down to one member without --force, and `up` over the inventory without them changes nothing.
Real parts: sshd, haproxy (`haproxy -c` before the reload), keepalived, the real kubectl; kubeadm/kubelet/the API
server and etcd are the stand-ins (tests/standins)."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.support.cli import run_cli
from tests.support.lab_inventory import lab_cli_args, lab_inventory, sh

NEW = ["master3", "node3"]
EVERY_HOST = ["master1", "master2", "master3", "node1", "node2", "node3", "ha1", "ha2"]


@pytest.fixture(scope="module")
def cluster(pristine_lab, tmp_path_factory):
    """The lab built by `up` from the inventory without master3 and node3; the full inventory beside it."""
    lab, base = pristine_lab, tmp_path_factory.mktemp("add")
    full = lab_inventory(lab, base)
    data = yaml.safe_load(full.read_text())
    data["hosts"] = [h for h in data["hosts"] if h["hostname"] not in NEW]
    smaller = base / "smaller.yaml"
    smaller.write_text(yaml.safe_dump(data, sort_keys=False))
    state = base / "state"
    refused = run_cli("add", "-i", str(full), "node3", *lab_cli_args(lab, state))
    assert refused.returncode == 2 and "no cluster built from this inventory yet" in refused.stderr, refused.stderr
    r = run_cli("up", "-i", str(smaller), *lab_cli_args(lab, state), timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    return lab, full, state


def test_add_joins_a_control_plane_and_a_worker(cluster, tmp_path):
    lab, full, state = cluster
    assert "master3" not in sh(lab, "ha1", "cat /etc/haproxy/haproxy.cfg").stdout
    report_path = tmp_path / "add.json"
    r = run_cli("add", "-i", str(full), "master3", "node3", "--json", str(report_path),
                *lab_cli_args(lab, state), timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "add: master3 (control plane) joined" in r.stdout and "add: node3 (worker) joined" in r.stdout, r.stdout
    report = json.loads(report_path.read_text())
    assert report["added"] == [{"host": "master3", "role": "control plane", "joined": True},
                               {"host": "node3", "role": "worker", "joined": True}]
    # the built hosts changed where the new ones concern them: the hosts block, haproxy on the lbs
    assert report["updated"]["ha1"] == report["updated"]["ha2"] == ["prep", "lb"], report["updated"]
    assert "add: ha1 updated (prep, lb)" in r.stdout, r.stdout
    for lb in ("ha1", "ha2"):
        cfg = sh(lab, lb, "cat /etc/haproxy/haproxy.cfg").stdout
        assert "server master3 172.31.250.103:6443" in cfg, cfg
    for host in EVERY_HOST:
        hosts = sh(lab, host, "cat /etc/hosts").stdout
        assert "172.31.250.103" in hosts and "172.31.250.106" in hosts, (host, hosts)
    nodes = sh(lab, "master1", "kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes -o name").stdout.split()
    assert sorted(nodes) == [f"node/{n}" for n in ("master1", "master2", "master3", "node1", "node2", "node3")]


def test_then_up_changes_nothing_and_add_refuses_what_is_not_new(cluster):
    lab, full, state = cluster
    r = run_cli("up", "-i", str(full), "--json", "-", *lab_cli_args(lab, state), timeout=600)
    assert r.returncode == 0 and json.loads(r.stdout)["changed"] == 0, r.stderr[-2000:]
    again = run_cli("add", "-i", str(full), "node3", *lab_cli_args(lab, state))
    assert again.returncode == 2 and "node3 is already in the cluster" in again.stderr, again.stderr
    lb = run_cli("add", "-i", str(full), "ha1", *lab_cli_args(lab, state))
    assert lb.returncode == 2 and "ha1 is a load balancer" in lb.stderr, lb.stderr
    unknown = run_cli("add", "-i", str(full), "node9", *lab_cli_args(lab, state))
    assert unknown.returncode == 2 and "node9" in unknown.stderr and "Traceback" not in unknown.stderr


def etcd_members(lab) -> list[str]:
    """Names in etcd's member list, read on master1 as the product reads it (halfdone.member_list)."""
    from provisioner.phases.halfdone import member_list, member_names
    return sorted(member_names(sh(lab, "master1", member_list(20)).stdout))


def test_remove_takes_a_worker_and_a_control_plane_out(cluster, tmp_path):
    lab, full, state = cluster
    assert etcd_members(lab) == ["master1", "master2", "master3"]
    report_path = tmp_path / "remove.json"
    r = run_cli("remove", "-i", str(full), "master3", "node3", "--yes", "--json", str(report_path),
                *lab_cli_args(lab, state), timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    report = json.loads(report_path.read_text())
    assert [(x["host"], x["role"], x["removed"]) for x in report["removed"]] == [
        ("node3", "worker", True), ("master3", "control plane", True)], report["removed"]
    assert "remove: master3 (control plane) removed: drained, reset, etcd member gone, node deleted" in r.stdout
    assert report["updated"]["ha1"] == report["updated"]["ha2"] == ["prep", "lb"], report["updated"]
    assert etcd_members(lab) == ["master1", "master2"]
    # the real kubectl drained against the stand-in API: it read each pod's controller (kube-proxy's and
    # flannel's DaemonSets looked up, the static pods skipped as mirrors) and had nothing to evict
    log = next(state.glob("logs/remove-*.log")).read_text()
    assert "node/node3 cordoned" in log and "node/node3 drained" in log, log[-3000:]
    warning = next(line for line in log.splitlines() if "Warning: ignoring DaemonSet-managed Pods:" in line)
    assert "kube-system/kube-proxy-" in warning and "kube-flannel/kube-flannel-ds-" in warning, warning
    assert "etcd-master3" not in log.split("node/master3 cordoned")[1]
    for lb in ("ha1", "ha2"):
        cfg = sh(lab, lb, "cat /etc/haproxy/haproxy.cfg").stdout
        assert "server master2 " in cfg and "master3" not in cfg, cfg
    for host in ("master1", "master2", "node1", "node2", "ha1", "ha2"):
        hosts = sh(lab, host, "cat /etc/hosts").stdout
        assert "172.31.250.103" not in hosts and "172.31.250.106" not in hosts, (host, hosts)
    for host in NEW:
        assert sh(lab, host, "test -e /etc/kubernetes/kubelet.conf && echo joined || echo reset").stdout.strip() \
            == "reset", host
    nodes = sh(lab, "master1", "kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes -o name").stdout.split()
    assert sorted(nodes) == ["node/master1", "node/master2", "node/node1", "node/node2"]


def test_remove_keeps_two_etcd_members_and_up_without_the_hosts_changes_nothing(cluster):
    lab, full, state = cluster
    last = run_cli("remove", "-i", str(full), "master2", "--yes", *lab_cli_args(lab, state))
    assert last.returncode == 2, last.stdout + last.stderr
    assert "taking out master2 leaves etcd with 1 member (master1)" in last.stderr and "--force" in last.stderr
    first = run_cli("remove", "-i", str(full), "master1", "--yes", *lab_cli_args(lab, state))
    assert first.returncode == 2 and "master1 is the first control plane" in first.stderr, first.stderr
    gone = run_cli("remove", "-i", str(full), "node3", "--yes", *lab_cli_args(lab, state))
    assert gone.returncode == 2 and "node3 has not joined the cluster" in gone.stderr, gone.stderr
    assert etcd_members(lab) == ["master1", "master2"]
    r = run_cli("up", "-i", str(full.parent / "smaller.yaml"), "--json", "-", *lab_cli_args(lab, state), timeout=600)
    assert r.returncode == 0 and json.loads(r.stdout)["changed"] == 0, r.stderr[-2000:]
