"""The stand-ins `provisioner upgrade` drives, as upstream behaves.

Local mode (STANDIN_ROOT per pretend node, loopback only): kubeadm 1.37 initialises a v1.36 control plane (it may
deploy its own minor or the one before) and upgrades it. Upstream behaviour copied, by file:
- kubernetes cmd/kubeadm/app/phases/upgrade/policy.go EnforceVersionPolicies: more than one minor at a time and a
  minor above kubeadm's own are fatal; cmd/kubeadm/app/cmd/upgrade/apply.go: asks unless --yes, "won't proceed"
  otherwise; the static pod manifests are rewritten with the new image tag, the kubeadm-config ConfigMap and the
  kube-proxy DaemonSet follow; cmd/kubeadm/app/cmd/upgrade/node.go: a control plane's manifests move to the
  cluster's version; cmd/kubeadm/app/cmd/upgrade/plan.go: without internet the target is kubeadm's own version;
- pkg/kubelet/kubelet_node_status.go: the kubelet's node status carries its version (nodeInfo.kubeletVersion).
"""

from __future__ import annotations

import json
import os

import pytest

from tests.support.skips import skip_or_fail
from tests.test_remove_standins import admin
from tests.test_standins import GOLDEN, INIT_CONFIG, KV, Host, built, free_port, install  # noqa: F401 - fixtures

OLD = "1.36.4"


@pytest.fixture
def old_cluster(install, tmp_path):
    """cp1: a v1.36 control plane initialised by kubeadm 1.37 (reset afterwards)."""
    if os.geteuid() != 0:
        skip_or_fail("kubeadm's preflight requires root (IsPrivilegedUser)")
    port = free_port()
    cp1 = Host(install, tmp_path / "cp1", "cp1", "127.0.0.1", port)
    cp1.write("/etc/kubernetes/pki/ca.crt", (GOLDEN / "test-ca.crt").read_text())
    cp1.write("/etc/kubernetes/pki/ca.key", (GOLDEN / "test-ca.key").read_text(), 0o600)
    config = cp1.write("/root/init.yaml", INIT_CONFIG.format(key="a" * 64, kv=OLD, port=port), 0o600)
    init = cp1.run("kubeadm", "init", "--config", config)
    assert init.returncode == 0, init.stdout + init.stderr
    yield cp1, port
    cp1.run("kubeadm", "reset", "-f")
    cp1.stop_apiserver()


def manifest_image(h: Host, name: str) -> str:
    text = h.path(f"/etc/kubernetes/manifests/{name}.yaml").read_text()
    return next(line.split("image:")[1].strip() for line in text.splitlines() if "image:" in line)


def test_upgrade_apply_keeps_the_version_policy_then_moves_the_control_plane(old_cluster):
    cp1, port = old_cluster
    assert admin(cp1, port, "/version")[1]["gitVersion"] == f"v{OLD}"
    plan = cp1.run("kubeadm", "upgrade", "plan")
    assert plan.returncode == 0, plan.stderr
    assert f"[upgrade/versions] Cluster version: v{OLD}" in plan.stdout and f"Target version: v{KV}" in plan.stdout
    assert f"kubeadm upgrade apply v{KV}" in plan.stdout and "Couldn't fetch latest stable version" in plan.stderr
    skip = cp1.run("kubeadm", "upgrade", "apply", "v1.38.0", "--yes")
    assert skip.returncode == 1
    assert 'Specified version to upgrade to "v1.38.0" is at least one minor release higher than the kubeadm minor ' \
           "release (38 > 37)" in skip.stderr, skip.stderr
    asked = cp1.run("kubeadm", "upgrade", "apply", f"v{KV}", input="n\n")
    assert asked.returncode == 1 and "won't proceed" in asked.stderr, asked.stderr
    assert manifest_image(cp1, "kube-apiserver") == f"registry.k8s.io/kube-apiserver:v{OLD}"
    r = cp1.run("kubeadm", "upgrade", "apply", f"v{KV}", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f'[upgrade] SUCCESS! A control plane node of your cluster was upgraded to "v{KV}".' in r.stdout
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        assert manifest_image(cp1, name) == f"registry.k8s.io/{name}:v{KV}"
    assert admin(cp1, port, "/version")[1]["gitVersion"] == f"v{KV}"
    cm = admin(cp1, port, "/api/v1/namespaces/kube-system/configmaps/kubeadm-config")[1]
    assert f"kubernetesVersion: v{KV}" in cm["data"]["ClusterConfiguration"]
    ds = admin(cp1, port, "/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy")[1]
    assert ds["spec"]["template"]["spec"]["containers"][0]["image"] == f"registry.k8s.io/kube-proxy:v{KV}"
    node = cp1.run("kubeadm", "upgrade", "node")
    assert node.returncode == 0 and "The control plane instance for this node was successfully upgraded!" in \
        node.stdout, node.stdout + node.stderr
    again = cp1.run("kubeadm", "upgrade", "plan")
    assert "Awesome, you're up-to-date! Enjoy!" in again.stdout, again.stdout


def test_the_kubelets_status_update_carries_its_version(old_cluster):
    cp1, port = old_cluster
    code, node = admin(cp1, port, "/api/v1/nodes/cp1/status", "PATCH",
                       {"status": {"nodeInfo": {"kubeletVersion": f"v{KV}"}}}, "application/merge-patch+json")
    assert code == 200 and node["status"]["nodeInfo"]["kubeletVersion"] == f"v{KV}", node
    assert json.loads(cp1.run("kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf", "get", "node", "cp1", "-o",
                              "json").stdout)["status"]["nodeInfo"]["kubeletVersion"] == f"v{KV}"


def test_an_evicted_replicaset_pod_is_replaced_under_a_new_name(old_cluster):
    """kubectl drain posts a policy/v1 Eviction per pod, then reads each pod until it is gone (drain.go
    waitForDelete: NotFound, or another UID under the name); /api/v1 must list pods/eviction for it to evict."""
    cp1, port = old_cluster
    resources = admin(cp1, port, "/api/v1")[1]["resources"]
    assert {"name": "pods/eviction", "kind": "Eviction", "group": "policy", "version": "v1"}.items() <= \
        next(r for r in resources if r["name"] == "pods/eviction").items()
    before = [p["metadata"]["name"] for p in admin(cp1, port, "/api/v1/namespaces/kube-system/pods")[1]["items"]
              if p["metadata"]["name"].startswith("coredns-")]
    assert len(before) == 2
    path = f"/api/v1/namespaces/kube-system/pods/{before[0]}"
    assert admin(cp1, port, path)[0] == 200
    code, status = admin(cp1, port, path + "/eviction", "POST",
                         {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": before[0]}})
    assert code == 201 and status["status"] == "Success", status
    assert admin(cp1, port, path)[0] == 404
    after = [p["metadata"]["name"] for p in admin(cp1, port, "/api/v1/namespaces/kube-system/pods")[1]["items"]
             if p["metadata"]["name"].startswith("coredns-")]
    assert len(after) == 2 and before[0] not in after and before[1] in after
