"""The "is kubeadm done here?" probes (provisioner/phases/halfdone.py) against a real TLS server standing in for the
API server and etcd's client port, run by bash with curl - no lab.

The API side answers like kube-apiserver for the paths the probes read (/healthz, the kubeadm-config ConfigMap,
GET /api/v1/nodes: a NodeList, control planes with the label kubeadm's mark-control-plane phase sets); the etcd side like
etcd's grpc-gateway POST /v3/cluster/member/list (etcd-io/etcd api/etcdserverpb/rpc.proto: members with "name",
none for a member added but not started). Each probe asks all of its questions with ONE curl (a wrapper on PATH
counts them); the lab tests (tests/test_up_halfdone_lab.py) run the same probes against the stand-ins on real
nodes, half-done states included.
"""

from __future__ import annotations

import base64
import http.server
import json
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from provisioner.factdata import Fact
from provisioner.phases.halfdone import NODE_LIST, NodeState, init_probe, join_probe, node_list
from tests.test_probes_cheap import _kubeconfig, _pki, tls_server
from tests.support.skips import need_tool


@pytest.fixture(autouse=True)
def _curl():
    need_tool("curl", "every node has it: apt-get install curl")


CP_LABEL = "node-role.kubernetes.io/control-plane"


@pytest.fixture
def cluster(tmp_path):
    """A TLS server (our CA) answering as the API server and as etcd; ``state`` says what it holds."""
    pki = _pki(tmp_path)
    state = {"healthz": 200, "members": ["master1", "master2"], "nodes": {"master2": True, "node1": False},
             "admin_ok": True}

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self, code: int, body: dict | str) -> None:
            data = (json.dumps(body) if isinstance(body, dict) else body).encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):                                              # noqa: N802 - http.server's name
            has_cert = bool(self.connection.getpeercert())
            if self.path == "/healthz":
                return self._answer(state["healthz"], "ok")
            if not has_cert:                                           # anonymous: only health
                return self._answer(403, {"kind": "Status", "code": 403})
            if self.path == "/api/v1/namespaces/kube-system/configmaps/kubeadm-config":
                return self._answer(200 if state["admin_ok"] else 401, {"kind": "ConfigMap"})
            if self.path == "/api/v1/nodes" and state.get("list_fails"):     # a busy API server
                state["list_fails"] -= 1
                return self._answer(503, {"kind": "Status", "code": 503, "reason": "ServiceUnavailable"})
            if self.path == "/api/v1/nodes":
                return self._answer(200, {"kind": "NodeList", "apiVersion": "v1", "items": [
                    {"metadata": {"name": name, "labels": {CP_LABEL: ""} if cp else {}}}
                    for name, cp in state["nodes"].items()]})
            return self._answer(404, {"kind": "Status", "code": 404})

        def do_POST(self):                                             # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path != "/v3/cluster/member/list" or not self.connection.getpeercert():
                return self._answer(404, "404 page not found")
            if state.get("member_fails"):                              # a busy etcd: no answer this time
                state["member_fails"] -= 1
                return self._answer(503, "etcdserver: request timed out")
            members = [{"ID": str(i + 1), "name": n} for i, n in enumerate(state["members"])]
            return self._answer(200, {"header": {"cluster_id": "1"}, "members": members})

        def log_message(self, *args):
            pass

    with tls_server(pki, Handler, ssl.CERT_OPTIONAL) as url:
        yield from _paths_and_run(tmp_path, pki, url, state)


def _paths_and_run(tmp_path: Path, pki: dict, url: str, state: dict):
    k8s = tmp_path / "k8s"
    (k8s / "pki" / "etcd").mkdir(parents=True)
    for d in ("pki", "pki/etcd"):
        shutil.copy(pki["ca"], k8s / d / "ca.crt")
    (k8s / "pki/etcd/healthcheck-client.crt").write_bytes(pki["cli_cert"])
    (k8s / "pki/etcd/healthcheck-client.key").write_bytes(pki["cli_key"])
    _kubeconfig(k8s / "admin.conf", url, {"client-certificate-data": base64.b64encode(pki["cli_cert"]).decode(),
                                          "client-key-data": base64.b64encode(pki["cli_key"]).decode()})
    _kubeconfig(k8s / "kubelet.conf", url, {"client-certificate": pki["cli"], "client-key": pki["cli"]})
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "curl.log"
    (bin_dir / "curl").write_text(f"#!/bin/sh\necho call >> {log}\nexec {shutil.which('curl')} \"$@\"\n")
    (bin_dir / "curl").chmod(0o755)

    def bash(script: str) -> tuple[subprocess.CompletedProcess, int]:
        """``script`` with this cluster's paths and addresses, run; and how many curls it started."""
        script = (script.replace("/etc/kubernetes", str(k8s)).replace("/var/lib/", f"{tmp_path}/var-lib/")
                  .replace("https://127.0.0.1:2379", url))
        log.unlink(missing_ok=True)
        out = subprocess.run(["/bin/bash", "-c", script], capture_output=True, text=True, timeout=60,
                             env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)})
        return out, len(log.read_text().splitlines()) if log.exists() else 0

    def run(probe: str) -> tuple[NodeState, int]:
        """The probe's verdict and how many curls it started."""
        out, curls = bash(probe)
        assert out.returncode == 0, out.stderr
        return NodeState.parse(out.stdout), curls

    def joined(name: str, control_plane: bool) -> tuple[NodeState, int, int]:
        """A joining node's verdict as `up` makes it: its own probe, then the node list read on the first control
        plane (what the engine gives the step as ``fact.elsewhere``); and the curls of each."""
        own, curls = run(join_probe(name, control_plane))
        listed, list_curls = bash(NODE_LIST)
        nodes = node_list(Fact(listed.stdout, listed.returncode))
        return own.with_nodes(nodes, name, control_plane), curls, list_curls

    run.joined = joined
    yield state, url, run


def test_init_probe_asks_health_admin_and_etcd_with_one_curl(cluster):
    state, url, run = cluster
    port = int(url.rpartition(":")[2])
    verdict, curls = run(init_probe("master1", "127.0.0.1", port))
    assert (verdict.kind, verdict.missing, curls) == ("done", [], 1)
    assert "admin.conf" in verdict.traces and "kubelet.conf" in verdict.traces
    state.update(healthz=500, admin_ok=False, members=["master2"])
    verdict, curls = run(init_probe("master1", "127.0.0.1", port))
    assert (verdict.kind, verdict.missing, curls) == ("half", ["api", "admin", "etcd"], 1)   # no kubectl here
    # a member named like ours but longer is not ours
    state.update(healthz=200, admin_ok=True, members=["master10"])
    assert run(init_probe("master1", "127.0.0.1", port))[0].missing == ["etcd"]


def test_init_probe_on_a_fresh_node_asks_nothing(cluster, tmp_path):
    _, url, run = cluster
    for name in ("admin.conf", "kubelet.conf"):
        (tmp_path / "k8s" / name).unlink()
    (tmp_path / "k8s" / "pki" / "ca.crt").unlink()
    verdict, curls = run(init_probe("master1", "127.0.0.1", int(url.rpartition(":")[2])))
    assert (verdict.kind, curls) == ("fresh", 0)


def test_control_plane_join_wants_member_node_and_label(cluster):
    """The probe on the control plane asks etcd (one curl); its Node and the control-plane label come from the
    node list (one curl on the first control plane)."""
    state, _, run = cluster
    verdict, curls, list_curls = run.joined("master2", True)
    assert (verdict.kind, verdict.missing, curls, list_curls) == ("done", [], 1, 1)
    state["nodes"]["master2"] = False                      # the node exists, mark-control-plane did not run
    assert run.joined("master2", True)[0].missing == ["cp-label"]
    state.update(members=["master1"], nodes={})
    verdict, curls, list_curls = run.joined("master2", True)
    assert (verdict.kind, verdict.missing, curls, list_curls) == ("half", ["etcd", "node"], 1, 1)


def test_a_member_list_that_did_not_answer_is_asked_again_not_called_missing(cluster):
    """A control plane whose etcd gave the batched read no 2xx answer (a busy node: bench/up at 30 nodes failed
    with "joined in an earlier run, but now: no etcd member" when the answer came after the read's 3 s) is asked
    again with a longer bound; an answer without the member still says it is missing."""
    state, _, run = cluster
    state["member_fails"] = 1
    verdict, curls = run(join_probe("master2", True))
    assert (verdict.kind, verdict.missing, curls) == ("done", [], 2)
    state.update(members=["master1"], member_fails=1)
    assert run(join_probe("master2", True))[0].missing == ["etcd"]


def test_worker_join_probe_asks_the_api_nothing_and_the_list_has_its_node(cluster, tmp_path):
    """A worker's probe reads only its own files: at 98 nodes, one request per worker for its own Node through
    the VIP was 96 requests at once (issue 27); the node list is one."""
    state, url, run = cluster
    verdict, curls, list_curls = run.joined("node1", False)
    assert (verdict.kind, verdict.missing, curls, list_curls) == ("done", [], 0, 1)
    del state["nodes"]["node1"]
    assert run.joined("node1", False)[0].missing == ["node"]
    assert NodeState.parse("fresh - - -").with_nodes(None, "node1", False).kind == "fresh"   # no list needed


def _kubectl(tmp_path: Path, out: str, rc: int) -> Path:
    """A kubectl that logs its arguments and answers ``out`` with ``rc``: what the real one prints for a read
    (an API status as "Error from server (Reason): message", kubernetes staging/src/k8s.io/kubectl/pkg/cmd/util/
    helpers.go StandardErrorMessage; no answer as "Unable to connect to the server: ..."), exit 1 on any error."""
    log = tmp_path / "kubectl.log"
    log.unlink(missing_ok=True)
    tool = tmp_path / "bin" / "kubectl"
    tool.write_text(f"#!/bin/sh\necho \"$*\" >> {log}\ncat <<'EOF'\n{out}\nEOF\nexit {rc}\n")
    tool.chmod(0o755)
    return log


def test_a_node_list_that_did_not_answer_is_asked_again_and_never_read_as_no_node(cluster, tmp_path):
    """A busy API server (no 2xx within 5 s) is not a missing Node: kubectl asks for the list again with 20 s, and
    without an answer every joined node is "not confirmed", never "no node object". At 98 nodes on 2 CPUs a
    no-op `up` once read a 503 for a worker it had joined and refused to go on ("joined in an earlier run, but
    now: no node object")."""
    state, url, run = cluster
    items = ",".join(f'{{"metadata": {{"name": "{n}"}}}}' for n in state["nodes"])
    log = _kubectl(tmp_path, f'{{"kind": "NodeList", "items": [{items}]}}', 0)
    state["list_fails"] = 1
    assert run.joined("node1", False)[0].kind == "done"
    assert "--request-timeout=20s get nodes -o json" in log.read_text()
    _kubectl(tmp_path, "Unable to connect to the server: net/http: request canceled "
                       "(Client.Timeout exceeded while awaiting headers)", 1)
    state["list_fails"] = 1
    verdict = run.joined("node1", False)[0]
    assert verdict.missing == ["node-unknown"] and "node object not confirmed" in verdict.problems
    # an admin.conf with a token is not read by curl: kubectl decides (here it cannot answer either)
    _kubeconfig(tmp_path / "k8s" / "admin.conf", url, {"token": "abc"})
    verdict, _, list_curls = run.joined("node1", False)
    assert (verdict.missing, list_curls) == (["node-unknown"], 0)
