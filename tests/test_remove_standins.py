"""What `provisioner remove` needs from the stand-ins, as upstream behaves.

Local mode (STANDIN_ROOT per pretend node, loopback only), on the `cluster` of tests/test_standins.py; the API
is read over HTTPS with admin.conf's client certificate, as kubectl does. Upstream behaviour copied, by file:
- k8s.io/kubectl pkg/drain/drain.go GetPodsForDeletion (pods listed across namespaces with the field selector
  ``spec.nodeName=NODE``) and filters.go (daemonSetFilter looks the DaemonSet up by the pod's controller
  reference and fails when it is missing; mirrorPodFilter skips pods annotated ``kubernetes.io/config.mirror``);
  pkg/drain/cordon.go (cordon is a strategic merge patch of ``spec.unschedulable``, null undoes it);
- kubernetes pkg/apis/core/v1/conversion.go: a pod field selector on a field the API does not offer is a 400
  "field label not supported";
- cmd/kubeadm/app/phases/addons/proxy/manifests.go: `kubeadm init` creates the kube-proxy DaemonSet;
- etcd-io/etcd api/etcdserverpb/rpc.proto Cluster.MemberRemove (``POST /v3/cluster/member/remove``,
  ``{"ID": ...}``), server/etcdserver/server.go mayRemoveMember (a running member is not removed when the
  running ones left would be fewer than a quorum), ErrGRPCMemberNotFound.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request

import yaml

from tests.test_standins import KV, Host, built, cluster, install, join_config  # noqa: F401 - fixtures


def request(h: Host, url: str, cert: str, key: str, method: str = "GET", body: dict | None = None,
            content_type: str = "application/json") -> tuple[int, dict]:
    ctx = ssl.create_default_context(cafile=str(h.path(cert.rsplit("/", 1)[0] + "/ca.crt")
                                               if "/etcd/" in cert else h.path("/etc/kubernetes/pki/ca.crt")))
    ctx.load_cert_chain(str(h.path(cert)), str(h.path(key)))
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def admin(h: Host, port: int, path: str, method: str = "GET", body: dict | None = None,
          content_type: str = "application/json") -> tuple[int, dict]:
    """A request with admin.conf's credentials (its client certificate written out beside it)."""
    user = yaml.safe_load(h.path("/etc/kubernetes/admin.conf").read_text())["users"][0]["user"]
    h.write("/root/admin.crt", base64.b64decode(user["client-certificate-data"]).decode())
    h.write("/root/admin.key", base64.b64decode(user["client-key-data"]).decode(), 0o600)
    return request(h, f"https://127.0.0.1:{port}{path}", "/root/admin.crt", "/root/admin.key", method, body,
                   content_type)


def etcd(h: Host, port: int, path: str, body: dict) -> tuple[int, dict]:
    """etcd's grpc-gateway on the local etcd port (the API port + 1) with kubeadm's healthcheck client."""
    return request(h, f"https://{h.address}:{port + 1}{path}", "/etc/kubernetes/pki/etcd/healthcheck-client.crt",
                   "/etc/kubernetes/pki/etcd/healthcheck-client.key", "POST", body)


def test_pods_of_a_node_carry_what_kubectl_drain_reads(cluster):
    cp1, port = cluster["cp1"], cluster["port"]
    code, pods = admin(cp1, port, "/api/v1/pods?fieldSelector=spec.nodeName%3Dcp1&limit=500")
    assert code == 200, pods
    by_name = {p["metadata"]["name"]: p for p in pods["items"]}
    assert {p["spec"]["nodeName"] for p in pods["items"]} == {"cp1"}
    assert {"etcd-cp1", "kube-apiserver-cp1", "kube-controller-manager-cp1", "kube-scheduler-cp1"} <= set(by_name)
    static = by_name["etcd-cp1"]["metadata"]
    assert "kubernetes.io/config.mirror" in static["annotations"]
    assert static["ownerReferences"][0]["kind"] == "Node" and static["ownerReferences"][0]["controller"] is True
    proxy = next(p for n, p in by_name.items() if n.startswith("kube-proxy-"))
    ref = proxy["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["name"], ref["controller"]) == ("DaemonSet", "kube-proxy", True)
    code, ds = admin(cp1, port, "/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy")
    assert code == 200 and ds["spec"]["template"]["spec"]["containers"][0]["image"] == \
        f"registry.k8s.io/kube-proxy:v{KV}", ds
    code, none = admin(cp1, port, "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode9")
    assert code == 200 and none["items"] == []
    code, bad = admin(cp1, port, "/api/v1/pods?fieldSelector=spec.nodeNam%3Dcp1")
    assert code == 400 and bad["message"] == "field label not supported: spec.nodeNam", bad


def test_cordon_and_uncordon_are_strategic_merge_patches_of_unschedulable(cluster):
    cp1, port = cluster["cp1"], cluster["port"]
    patch = "application/strategic-merge-patch+json"
    code, node = admin(cp1, port, "/api/v1/nodes/cp1", "PATCH", {"spec": {"unschedulable": True}}, patch)
    assert code == 200 and node["spec"]["unschedulable"] is True
    assert admin(cp1, port, "/api/v1/nodes/cp1")[1]["spec"]["unschedulable"] is True
    code, node = admin(cp1, port, "/api/v1/nodes/cp1", "PATCH", {"spec": {"unschedulable": None}}, patch)
    assert code == 200 and "unschedulable" not in node["spec"]


def test_etcd_member_remove_keeps_a_quorum(cluster):
    cp1, port = cluster["cp1"], cluster["port"]
    r = cp1.run("kubeadm", "init", "phase", "upload-certs", "--upload-certs")
    assert r.returncode == 0, r.stderr
    cp2 = cluster["make"]("cp2", "127.0.0.2")
    r = cp2.run("kubeadm", "join", "--config", join_config(cp2, port, cp_key=r.stdout.splitlines()[-1]))
    assert r.returncode == 0, r.stdout + r.stderr
    code, listed = etcd(cp1, port, "/v3/cluster/member/list", {})
    ids = {m["name"]: m["ID"] for m in listed["members"]}
    assert code == 200 and set(ids) == {"cp1", "cp2"}, listed
    assert etcd(cp1, port, "/v3/cluster/member/remove", {"ID": "12345"}) == (
        404, {"error": "etcdserver: member not found", "code": 5, "message": "etcdserver: member not found"})
    code, left = etcd(cp1, port, "/v3/cluster/member/remove", {"ID": ids["cp2"]})
    assert code == 200 and [m["name"] for m in left["members"]] == ["cp1"], left
    code, refused = etcd(cp1, port, "/v3/cluster/member/remove", {"ID": ids["cp1"]})
    assert code == 400 and "not enough started members" in refused["error"], refused
    assert [m["name"] for m in etcd(cp1, port, "/v3/cluster/member/list", {})[1]["members"]] == ["cp1"]
