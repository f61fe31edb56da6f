"""`provisioner checks`: one row per check, node and cluster, and docs/checks.md names every one."""

from __future__ import annotations

import json
from pathlib import Path

from provisioner.checks import NODE_CHECKS
from provisioner.checks import cluster as cc
from provisioner.checks.base import Facts, Node
from provisioner.checks.catalog import CLUSTER_ROWS, FIXES, checks_report
from provisioner.validation import load_inventory

REPO = Path(__file__).resolve().parents[1]


def cluster_ids() -> set[str]:
    """The ids the cross-node checks really return, on the lab's hosts with nothing gathered."""
    inv = load_inventory(REPO / "inventories/lab.yaml")
    nodes = [Node(h, inv, Facts()) for h in inv.hosts]
    return {r.check for check, _ in cc.CLUSTER_CHECKS for r in check(nodes)}


def test_every_check_has_a_row_and_json_says_the_same():
    rows = json.loads(checks_report(True))["checks"]
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids))
    assert set(ids) == {c.id for c in NODE_CHECKS} | cluster_ids() == {c.id for c in NODE_CHECKS} | set(CLUSTER_ROWS)
    assert set(FIXES) == set(ids)
    for r in rows:
        assert r["scope"] in ("node", "cluster") and r["severity"] in ("fail", "warn") and r["reads"], r
        assert r["reference"] in ("kubeadm", "kubespray", "kubekey", "ours"), r
    by_id = {r["id"]: r for r in rows}
    assert by_id["etcd.disk_sync"]["hosts"] == "control planes" and by_id["etcd.disk_sync"]["reference"] == "kubekey"
    assert by_id["hw.memory_node"]["hosts"] == "workers" and by_id["lb.nonlocal_bind"]["fixed_by"] == "lb"
    assert by_id["security.selinux"]["fixed_by"] == by_id["security.firewall"]["fixed_by"] == "prep"
    text = checks_report(False)
    assert all(f"{i}  " in text for i in ids) and "`provisioner up` (prep phase)" in text


def test_docs_list_every_check():
    doc = (REPO / "docs/checks.md").read_text()
    missing = [r["id"] for r in json.loads(checks_report(True))["checks"] if f"`{r['id']}`" not in doc]
    assert not missing, f"docs/checks.md does not list {missing}"
