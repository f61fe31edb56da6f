"""Stand-ins for day two: `kubeadm certs check-expiration|renew`, the static-pod restart, `etcdctl`.

Local mode (STANDIN_ROOT per pretend node, loopback only), on the `cluster` of tests/test_standins.py.
Upstream behaviour copied, by file:
- kubernetes/kubernetes cmd/kubeadm/app/cmd/certs.go (newCmdCertsExpiration: tabwriter(10, 4, 3, ' '),
  "Jan 02, 2006 15:04 MST", duration.ShortHumanDuration, `!MISSING!` rows, the CA table; renewCert and
  the "Done renewing certificates" line);
- etcd-io/etcd v3.4 etcdctl/ctlv3/command/snapshot_command.go and etcdutl's snapshot Status (hash,
  revision, totalKey, totalSize; CRC-32C over bucket, key, value), printer_json.go.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
import subprocess

import pytest
from cryptography import x509

from tests.standins import build
from tests.test_standins import KV, Host, built, cluster, install  # noqa: F401 - fixtures

HEADER = "CERTIFICATE                EXPIRES                  RESIDUAL TIME   CERTIFICATE AUTHORITY   EXTERNALLY MANAGED"
CA_HEADER = "CERTIFICATE AUTHORITY   EXPIRES                  RESIDUAL TIME   EXTERNALLY MANAGED"
NAMES = ["admin.conf", "apiserver", "apiserver-etcd-client", "apiserver-kubelet-client", "controller-manager.conf",
         "etcd-healthcheck-client", "etcd-peer", "etcd-server", "front-proxy-client", "scheduler.conf",
         "super-admin.conf"]


def not_after(h: Host, rel: str) -> dt.datetime:
    return x509.load_pem_x509_certificate(h.path(f"/etc/kubernetes/pki/{rel}").read_bytes()).not_valid_after_utc


def table(out: str) -> dict:
    rows = {}
    for line in out.splitlines():
        cells = re.split(r"\s{3,}", line.strip())
        if len(cells) >= 4 and cells[0] not in ("CERTIFICATE", "CERTIFICATE AUTHORITY"):
            rows[cells[0]] = cells
    return rows


def test_check_expiration_prints_upstreams_tables_with_the_pkis_dates(cluster):
    cp1 = cluster["cp1"]
    res = cp1.run("kubeadm", "certs", "check-expiration")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == '[check-expiration] Reading configuration from the "kubeadm-config" ConfigMap in namespace "kube-system"...'
    assert lines[2] == ""
    assert lines[3] == HEADER
    assert [line.split()[0] for line in lines[4:15]] == NAMES
    assert lines[15] == "" and lines[16] == CA_HEADER
    assert [line.split()[0] for line in lines[17:20]] == ["ca", "etcd-ca", "front-proxy-ca"]
    rows = table(res.stdout)
    apiserver = not_after(cp1, "apiserver.crt")
    assert rows["apiserver"][1:4] == [apiserver.strftime("%b %d, %Y %H:%M UTC"), "364d", "ca"]
    assert rows["etcd-server"][3] == "etcd-ca" and rows["front-proxy-client"][3] == "front-proxy-ca"
    assert rows["apiserver"][4] == "no"
    # the last cell is %-8v: "no" and six spaces, as upstream prints it
    assert lines[4].endswith("no      ")
    ca = not_after(cp1, "ca.crt")
    assert rows["ca"][1] == ca.strftime("%b %d, %Y %H:%M UTC")


def test_missing_certificate_is_listed_as_missing(cluster):
    cp1 = cluster["cp1"]
    cp1.path("/etc/kubernetes/super-admin.conf").unlink()
    out = cp1.run("kubeadm", "certs", "check-expiration").stdout
    assert "!MISSING! super-admin.conf" in out


def test_short_certificate_then_renew_all(cluster):
    cp1 = cluster["cp1"]
    assert cp1.run("kubeadm", "standin", "reissue", "apiserver", "10").returncode == 0
    before = cp1.path("/etc/kubernetes/pki/apiserver.key").read_text()
    assert table(cp1.run("kubeadm", "certs", "check-expiration").stdout)["apiserver"][2] == "9d"
    res = cp1.run("kubeadm", "certs", "renew", "all")
    assert res.returncode == 0, res.stderr
    assert "certificate for serving the Kubernetes API renewed" in res.stdout
    assert res.stdout.rstrip().endswith("Done renewing certificates. You must restart the kube-apiserver, "
                                         "kube-controller-manager, kube-scheduler and etcd, so that they can use "
                                         "the new certificates.")
    rows = table(cp1.run("kubeadm", "certs", "check-expiration").stdout)
    assert {r[2] for r in rows.values() if r[0] not in ("ca", "etcd-ca", "front-proxy-ca")} == {"364d"}
    assert cp1.path("/etc/kubernetes/pki/apiserver.key").read_text() != before      # a new key, as upstream
    cert = x509.load_pem_x509_certificate(cp1.path("/etc/kubernetes/pki/apiserver.crt").read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "kubernetes.default" in sans.get_values_for_type(x509.DNSName)
    # the renewed admin.conf still works against the API
    assert cp1.run("kubectl", "--kubeconfig", str(cp1.path("/etc/kubernetes/admin.conf")), "get", "nodes").returncode == 0


# ---------------------------------------------------------------- etcdctl

@pytest.fixture
def etcdctl(tmp_path):
    path = tmp_path / "etcdctl"
    path.write_text(build.bundle("etcdctl", build.build_info(KV), "etcd-client"))
    return path


def ctl(h: Host, etcdctl, port: int, *args: str) -> subprocess.CompletedProcess:
    pki = h.path("/etc/kubernetes/pki/etcd")
    return subprocess.run([sys.executable, str(etcdctl), f"--endpoints=https://127.0.0.1:{port + 1}",
                           f"--cacert={pki}/ca.crt", f"--cert={pki}/healthcheck-client.crt",
                           f"--key={pki}/healthcheck-client.key", *args],
                          capture_output=True, text=True, env=h.env, timeout=60)


def test_etcdctl_snapshot_save_and_status(cluster, etcdctl, tmp_path):
    cp1, port = cluster["cp1"], cluster["port"]
    snap = tmp_path / "snap.db"
    res = ctl(cp1, etcdctl, port, "snapshot", "save", str(snap))
    assert res.returncode == 0, res.stderr
    assert res.stdout == f"Snapshot saved at {snap}\n"
    assert snap.stat().st_mode & 0o777 == 0o600 and not (tmp_path / "snap.db.part").exists()
    st = ctl(cp1, etcdctl, port, "snapshot", "status", str(snap), "-w", "json")
    assert st.returncode == 0, st.stderr
    doc = json.loads(st.stdout)
    assert set(doc) == {"hash", "revision", "totalKey", "totalSize"}
    assert doc["revision"] >= 1 and doc["totalKey"] > 5 and 0 < doc["totalSize"] < snap.stat().st_size
    data = bytearray(snap.read_bytes())
    data[len(data) // 2] ^= 1
    snap.write_bytes(bytes(data))
    bad = ctl(cp1, etcdctl, port, "snapshot", "status", str(snap), "-w", "json")
    assert bad.returncode == 1 and bad.stderr.startswith("Error: ")


def test_etcdctl_refuses_two_endpoints_and_a_wrong_client_certificate(cluster, etcdctl, tmp_path):
    cp1, port = cluster["cp1"], cluster["port"]
    two = ctl(cp1, etcdctl, port, "--endpoints=https://127.0.0.1:1,https://127.0.0.1:2", "snapshot", "save",
              str(tmp_path / "x.db"))
    assert two.returncode == 128
    assert "snapshot must be requested to one selected node, not multiple" in two.stderr
    pki = cp1.path("/etc/kubernetes/pki")
    wrong = subprocess.run([sys.executable, str(etcdctl), f"--endpoints=https://127.0.0.1:{port + 1}",
                            f"--cacert={pki}/etcd/ca.crt", f"--cert={pki}/apiserver-kubelet-client.crt",
                            f"--key={pki}/apiserver-kubelet-client.key", "member", "list"],
                           capture_output=True, text=True, env=cp1.env, timeout=60)
    assert wrong.returncode == 1 and "context deadline exceeded" in wrong.stderr


def test_etcdctl_member_list_and_endpoint_status(cluster, etcdctl):
    cp1, port = cluster["cp1"], cluster["port"]
    members = json.loads(ctl(cp1, etcdctl, port, "member", "list", "-w", "json").stdout)
    assert [m["name"] for m in members["members"]] == ["cp1"]
    assert isinstance(members["members"][0]["ID"], int)
    st = ctl(cp1, etcdctl, port, "endpoint", "status", "-w", "json")
    assert st.returncode == 0, st.stderr
    s = json.loads(st.stdout)[0]["Status"]
    assert s["leader"] == members["members"][0]["ID"] == s["header"]["member_id"]
    assert s["dbSize"] > 0
