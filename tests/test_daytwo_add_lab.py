"""`provisioner add` on a lab cluster built without master3 and node3: both join, the load balancers' haproxy lists
the new control plane, every /etc/hosts names both, a re-run of `up` changes nothing; what is not an addition
is refused with exit 2. Real parts: sshd, haproxy (`haproxy -c` before the reload), keepalived, the real kubectl;
kubeadm/kubelet/the API server are the stand-ins (tests/standins)."""

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
