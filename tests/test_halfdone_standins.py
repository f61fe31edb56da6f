"""The stand-in kubeadm can be stopped between its phases, and it lists etcd members as etcd does (local mode).

These are the half states `up` must recognise (tests/test_up_halfdone_lab.py drives them over SSH):
the point names follow upstream's phase order, cmd/kubeadm/app/cmd/init.go and join.go in
kubernetes/kubernetes. The member list is etcd's ``POST /v3/cluster/member/list`` (etcd-io/etcd
api/etcdserverpb/rpc.proto); a member added but not started has no name (etcd's MemberList); removing a
running member is refused when the running members left would be fewer than a quorum (``mayRemoveMember``,
etcd-io/etcd server/etcdserver/server.go) and kubeadm reset only warns then
(cmd/kubeadm/app/cmd/phases/reset/removeetcdmember.go).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import ssl
import subprocess
import sys

import pytest
import yaml

from tests.lab.util import wait_for
from tests.test_standins import built, cluster, install, join_config  # noqa: F401 - fixtures

PAUSED = "/run/standins/kubeadm-paused"


def post(host, address: str, port: int, path: str, cert: str, key: str, ca: str, body: bytes = b"{}"):
    ctx = ssl.create_default_context(cafile=str(host.path(ca)))
    ctx.check_hostname = False
    ctx.load_cert_chain(str(host.path(cert)), str(host.path(key)))
    conn = http.client.HTTPSConnection(address, port, context=ctx, timeout=5)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def members(host, port: int, address: str = "127.0.0.1") -> list[dict]:
    """etcd's member list, asked on ``host``'s client port with kubeadm's healthcheck-client certificate
    (in local mode the stand-in's etcd port is the API port + 1)."""
    status, body = post(host, address, port + 1, "/v3/cluster/member/list", "/etc/kubernetes/pki/etcd/healthcheck-client.crt",
                        "/etc/kubernetes/pki/etcd/healthcheck-client.key", "/etc/kubernetes/pki/etcd/ca.crt")
    assert status == 200, body
    return json.loads(body)["members"]


def admin_post(host, port: int, path: str) -> tuple[int, bytes]:
    kc = yaml.safe_load(host.path("/etc/kubernetes/admin.conf").read_text())
    user = kc["users"][0]["user"]
    for name, field in (("admin.crt", "client-certificate-data"), ("admin.key", "client-key-data")):
        host.write(f"/root/{name}", base64.b64decode(user[field]).decode(), 0o600)
    return post(host, "127.0.0.1", port, path, "/root/admin.crt", "/root/admin.key", "/etc/kubernetes/pki/ca.crt")


def paused_join(host, port: int, step: str, cp_key: str | None = None) -> subprocess.Popen:
    """Start a join that stops at ``step``; return once it sits there."""
    host.write("/etc/standins/kubeadm-pause", f"step={step} seconds=120\n")
    proc = subprocess.Popen([sys.executable, host.bin("kubeadm"), "join", "--config",
                             join_config(host, port, cp_key=cp_key)],
                            env=host.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: host.path(PAUSED).exists() or proc.poll() is not None, timeout=60, what=f"kubeadm at {step}")
    assert proc.poll() is None, proc.communicate()
    assert f"pid={proc.pid} step={step}" in host.path(PAUSED).read_text()
    assert not host.path("/etc/standins/kubeadm-pause").exists(), "the hook is for one run"
    return proc


def kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def test_first_control_plane_lists_itself_as_a_started_member(cluster):
    cp1, port = cluster["cp1"], cluster["port"]
    [m] = members(cp1, port)
    assert m["name"] == "cp1" and m["clientURLs"] == ["https://127.0.0.1:2379"] and m["ID"]
    # client certificates of the etcd CA only (--client-cert-auth=true): the cluster CA's are refused
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        admin = yaml.safe_load(cp1.path("/etc/kubernetes/admin.conf").read_text())["users"][0]["user"]
        cp1.write("/root/a.crt", base64.b64decode(admin["client-certificate-data"]).decode())
        cp1.write("/root/a.key", base64.b64decode(admin["client-key-data"]).decode(), 0o600)
        post(cp1, "127.0.0.1", port + 1, "/v3/cluster/member/list", "/root/a.crt", "/root/a.key",
             "/etc/kubernetes/pki/etcd/ca.crt")


def test_worker_join_stopped_after_kubelet_start_leaves_kubelet_conf_and_its_node(cluster):
    w1, port = cluster["make"]("w1"), cluster["port"]
    kill(paused_join(w1, port, "join/kubelet-start"))
    assert w1.path("/etc/kubernetes/kubelet.conf").exists()
    nodes = cluster["cp1"].run("kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf", "get", "nodes", "-o", "name")
    assert "node/w1" in nodes.stdout
    again = w1.run("kubeadm", "join", "--config", join_config(w1, port))
    assert again.returncode != 0 and "FileAvailable--etc-kubernetes-kubelet.conf" in again.stderr
    assert w1.run("kubeadm", "reset", "-f").returncode == 0
    assert w1.run("kubeadm", "join", "--config", join_config(w1, port)).returncode == 0


def test_control_plane_join_stopped_after_member_add_lists_an_unnamed_member_until_reset(cluster):
    cp1, port, key = cluster["cp1"], cluster["port"], cluster["key"]
    cp2 = cluster["make"]("cp2", "127.0.0.2")
    proc = paused_join(cp2, port, "join/etcd-member-added", cp_key=key)
    kill(proc)
    listed = members(cp1, port)
    assert [m.get("name") for m in listed].count("cp1") == 1 and len(listed) == 2
    [new] = [m for m in listed if m.get("name") != "cp1"]
    assert "name" not in new and "clientURLs" not in new and new["peerURLs"] == ["https://127.0.0.2:2380"]
    r = cp2.run("kubeadm", "reset", "-f")
    assert r.returncode == 0, r.stderr
    assert [m.get("name") for m in members(cp1, port)] == ["cp1"]
    r = cp2.run("kubeadm", "join", "--config", join_config(cp2, port, cp_key=key))
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(m.get("name") for m in members(cp1, port)) == ["cp1", "cp2"]
    assert sorted(m.get("name") for m in members(cp2, port, "127.0.0.2")) == ["cp1", "cp2"]   # asked on cp2's etcd


def test_removing_a_running_member_without_quorum_is_refused_and_reset_warns(cluster):
    cp1, port, key = cluster["cp1"], cluster["port"], cluster["key"]
    cps = {n: cluster["make"](n, a) for n, a in (("cp2", "127.0.0.2"), ("cp3", "127.0.0.3"))}
    for h in cps.values():
        r = h.run("kubeadm", "join", "--config", join_config(h, port, cp_key=key))
        assert r.returncode == 0, r.stdout + r.stderr
    status, _ = admin_post(cp1, port, "/standin/v1/etcd/members/cp2/stopped")   # cp2's etcd is down
    assert status == 200
    r = cps["cp3"].run("kubeadm", "reset", "-f")
    assert r.returncode == 0
    assert "[reset] Failed to remove etcd member: etcdserver: re-configuration failed due to not enough started " \
           "members, please manually remove this etcd member using etcdctl" in r.stderr
    assert sorted(m.get("name", "") for m in members(cp1, port)) == ["cp1", "cp2", "cp3"]


def test_standin_api_and_etcd_servers_turn_nagle_off_like_go(tmp_path):
    """The stand-in API server (and its etcd port: the same server class) sets TCP_NODELAY on each accepted
    connection, as Go's net package does on every TCP connection (golang/go src/net/tcpsock.go
    TCPConn.SetNoDelay: "The default is true (no delay)"). Without it, http.server's separate writes of
    headers and body made each small answer wait for the client's delayed ACK (~40 ms a request) - slower than
    the real servers, which skews what the lab measures. A real accepted socket, checked with getsockopt."""
    import socket

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "standins", "src"))
    try:
        import kube_apiserver
    finally:
        sys.path.pop(0)

    seen = {}

    class Probe(kube_apiserver.TLSServer):
        def __init__(self):             # no listener, no TLS: only finish_request's socket setup is exercised
            self.ctx = type("NoTLS", (), {"wrap_socket": staticmethod(self._record)})()

        @staticmethod
        def _record(sock, server_side):
            seen["nodelay"] = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            raise ssl.SSLError("stop here")

    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    accepted, address = listener.accept()
    try:
        Probe().finish_request(accepted, address)
        assert seen == {"nodelay": 1}
    finally:
        for s in (client, accepted, listener):
            s.close()
