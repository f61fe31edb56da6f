"""Day two on a lab cluster built by `provisioner up`: certificates and etcd (provisioner.daytwo).

The stand-ins: `kubeadm certs check-expiration|renew` (upstream's tables, dates from the node's PKI) and the
stand-in kubelet stopping/starting the API server and etcd when their static-pod manifests leave/return
(tests/test_daytwo_standins.py has the upstream sources). etcd is real: Debian's etcd-server 3.4 runs each
control plane's etcd.yaml as its stacked member, and etcdctl is Debian's etcd-client (both in the lab image).

Tests run in file order on one cluster: the members are Debian's etcd, check, a short certificate warns,
renew clears it, snapshot, status, and an API server without its etcd is not ready.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re

import pytest

from provisioner.daytwo.certs import certs_command
from provisioner.daytwo.etcd import etcd_snapshot_command, etcd_status_command
from provisioner.transport import HostKeys
from tests.lab.util import wait_for
from tests.support.cli import run_cli
from tests.support.lab_inventory import lab_cli_args, lab_inventory, sh
from tests.support.lab_inventory import standin_calls as calls

CPS = ["master1", "master2", "master3"]
NAMES = 14          # 11 certificates + 3 CAs per control plane (super-admin.conf only on the first: MISSING)


@pytest.fixture(scope="module")
def built(pristine_lab, tmp_path_factory):
    lab = pristine_lab
    base = tmp_path_factory.mktemp("daytwo")
    inv, state = lab_inventory(lab, base), base / "state"
    r = run_cli("up", "-i", str(inv), *lab_cli_args(lab, state), timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    return lab, inv, state, HostKeys(lab.known_hosts_path)


ETCDCTL = ("etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt "
           "--cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt --key=/etc/kubernetes/pki/etcd/healthcheck-client.key")


def test_the_stacked_members_are_debians_etcd(built):
    """Each control plane runs /usr/bin/etcd (etcd-server 3.4) with its etcd.yaml's name and data dir, and
    the three form one cluster of voting members, as kubeadm joins them (learner, then promoted)."""
    lab = built[0]
    for cp in CPS:
        cmdline = sh(lab, cp, "tr '\\0' ' ' < /proc/$(systemctl show -P MainPID standin-etcd.service)/cmdline").stdout
        assert cmdline.startswith("/usr/bin/etcd ") and f"--name={cp} " in cmdline, cmdline
        assert "--data-dir=/var/lib/etcd " in cmdline and sh(lab, cp, "test -d /var/lib/etcd/member/wal").rc == 0
    assert "etcdctl version: 3.4." in sh(lab, "master1", "etcdctl version").stdout
    members = json.loads(sh(lab, "master2", f"{ETCDCTL} member list -w json").stdout)["members"]
    assert sorted(m["name"] for m in members) == CPS and not any(m.get("isLearner") for m in members)


def preflight_statuses(built, check_id: str) -> dict[str, str]:
    """A check's status per host in a preflight of the built cluster (hosts it does not apply to left out)."""
    lab, inv, state, _ = built
    r = run_cli("preflight", "-i", str(inv), "--format", "json", *lab_cli_args(lab, state), timeout=300)
    report = json.loads(r.stdout)
    return {h["host"]: c["status"] for h in report["hosts"] for c in h["checks"] if c["id"] == check_id}


def preflight_cert_expiry(built) -> dict[str, str]:
    return preflight_statuses(built, "kube.cert_expiry")


def test_a_disabled_kubelet_warns_where_it_is(built):
    """kube.kubelet_enabled (kubeadm's ServiceCheck on the kubelet): up enabled it everywhere; disabled on
    node1 (still running), preflight warns there only."""
    lab = built[0]
    kube = ["master1", "master2", "master3", "node1", "node2", "node3"]
    assert preflight_statuses(built, "kube.kubelet_enabled") == {h: "pass" for h in kube}
    assert sh(lab, "node1", "systemctl disable kubelet.service").rc == 0
    try:
        assert preflight_statuses(built, "kube.kubelet_enabled") == {h: "warn" if h == "node1" else "pass"
                                                                     for h in kube}
    finally:
        assert sh(lab, "node1", "systemctl enable kubelet.service").rc == 0


def run(fn, built, capsys, **kw):
    lab, inv, state, keys = built
    code = fn(inv, state_dir=state, keys=keys, **kw)
    out, err = capsys.readouterr()
    return code, out, err


def enddate(lab, node: str, path: str = "/etc/kubernetes/pki/apiserver.crt") -> dt.datetime:
    text = sh(lab, node, f"openssl x509 -noout -enddate -in {path}").stdout.strip()
    return dt.datetime.strptime(text.split("=", 1)[1], "%b %d %H:%M:%S %Y GMT").replace(tzinfo=dt.timezone.utc)


def served_enddate(lab, node: str) -> str:
    addr = lab.nodes[node].address
    return sh(lab, node, f"openssl s_client -connect {addr}:6443 </dev/null 2>/dev/null | "
                         "openssl x509 -noout -enddate").stdout.strip()


def test_certs_table_matches_the_nodes_pki(built, capsys):
    lab = built[0]
    code, out, err = run(certs_command, built, capsys, as_json=True)
    assert code == 0, err
    report = json.loads(out)
    assert report["warnings"] == [] and report["errors"] == {} and report["unreachable"] == {}
    rows = report["certificates"]
    assert len(rows) == NAMES * len(CPS)
    by = {(r["host"], r["name"]): r for r in rows}
    for cp in CPS:
        for name, path in (("apiserver", "apiserver.crt"), ("etcd-server", "etcd/server.crt"), ("ca", "ca.crt")):
            want = enddate(lab, cp, f"/etc/kubernetes/pki/{path}").strftime("%Y-%m-%dT%H:%M:00Z")
            assert by[(cp, name)]["expires"] == want, (cp, name)
        assert by[(cp, "apiserver")]["days_left"] == 364 and by[(cp, "etcd-server")]["ca"] == "etcd-ca"
    assert not by[("master1", "super-admin.conf")]["missing"] and by[("master2", "super-admin.conf")]["missing"]
    code, out, _ = run(certs_command, built, capsys)
    assert code == 0 and out.splitlines()[0].split()[:3] == ["HOST", "CERTIFICATE", "EXPIRES"]


def test_a_certificate_expiring_within_20_days_warns(built, capsys):
    lab = built[0]
    assert sh(lab, "master2", "kubeadm standin reissue apiserver 15").rc == 0
    code, out, err = run(certs_command, built, capsys)
    assert code == 0
    assert re.search(r"warning: master2: apiserver expires in 1[34] days .*, under 30 - renew with "
                     r"`provisioner certs --renew`", err), err
    assert re.search(r"^master2\s+apiserver\s.*WARN$", out, re.M), out
    # verify and preflight say it too (issue 24: "preflight/verify warn under 30 days")
    r = run_cli("verify", "-i", str(built[1]), *lab_cli_args(lab, built[2]), timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert re.search(r"^warning: master2: apiserver expires in 1[34] days .*, under 30 - renew with "
                     r"`provisioner certs --renew`$", r.stderr, re.M), r.stderr
    assert "master1:" not in r.stderr and "master3:" not in r.stderr, r.stderr
    assert preflight_cert_expiry(built) == {"master1": "pass", "master2": "warn", "master3": "pass"}


def test_renew_clears_it_one_control_plane_at_a_time(built, capsys):
    lab, inv, state, _ = built
    admin_before = (state / "admin.conf").read_text()
    code, out, err = run(certs_command, built, capsys, renew=True, as_json=True)
    assert code == 0, err
    report = json.loads(out)
    assert report["renewed"] == CPS and report["warnings"] == [] and report["errors"] == {}
    r = run_cli("verify", "-i", str(inv), *lab_cli_args(lab, state), timeout=300)
    assert r.returncode == 0 and "warning:" not in r.stderr, r.stderr[-2000:]
    assert preflight_cert_expiry(built) == {cp: "pass" for cp in CPS}
    assert {r["days_left"] for r in report["certificates"] if not r["authority"] and not r["missing"]} == {364}
    # Every API server serves its renewed certificate (it was restarted), each one a year out.
    for cp in CPS:
        assert served_enddate(lab, cp) == "notAfter=" + enddate(lab, cp).strftime("%b %e %H:%M:%S %Y GMT")
        assert (enddate(lab, cp) - dt.datetime.now(dt.timezone.utc)).days == 364
    # One at a time: a control plane's renewal starts after the previous one's pods were back.
    log = {cp: calls(lab, cp) for cp in CPS}
    renew_at = {cp: next(c["time_ns"] for c in log[cp] if c["prog"] == "kubeadm" and c["argv"][1:4] ==
                         ["certs", "renew", "all"]) for cp in CPS}
    for prev, nxt in zip(CPS, CPS[1:]):
        last_crictl = max(c["time_ns"] for c in log[prev] if c["prog"] == "crictl" and "ps" in c["argv"])
        assert last_crictl < renew_at[nxt], (prev, nxt)
    # The admin kubeconfig the tool keeps: refreshed, still 0600.
    kc = state / "admin.conf"
    assert kc.stat().st_mode & 0o777 == 0o600 and kc.read_text() != admin_before
    # No manifest left behind.
    for cp in CPS:
        assert sh(lab, cp, "ls /etc/kubernetes/manifests").stdout.split() == [
            "etcd.yaml", "kube-apiserver.yaml", "kube-controller-manager.yaml", "kube-scheduler.yaml"]


def test_snapshot_is_fetched_0600_and_matches_the_nodes_status(built, capsys, tmp_path):
    lab = built[0]
    # keys of our own, so the snapshot must hold them: its revision is at least the one after the last put
    for i in range(5):
        assert sh(lab, "master3", f"{ETCDCTL} put /provisioner-test/k{i} v{i}").rc == 0
    revision = json.loads(sh(lab, "master1", f"{ETCDCTL} endpoint status -w json").stdout)[0]["Status"]["header"][
        "revision"]
    code, out, err = run(etcd_snapshot_command, built, capsys, as_json=True)
    assert code == 0, err
    report = json.loads(out)
    path = built[2] / "snapshots"
    files = list(path.glob("etcd-lab-*.db"))
    assert [str(f) for f in files] == [report["file"]]
    snap = files[0]
    assert snap.stat().st_mode & 0o777 == 0o600 and path.stat().st_mode & 0o777 == 0o700
    assert hashlib.sha256(snap.read_bytes()).hexdigest() == report["sha256"]
    # The node's etcdctl reads the fetched file the same way.
    with lab.ssh("master1") as s:
        s.put(snap.read_bytes(), "/root/check.db", mode=0o600)
        st = json.loads(s.sudo("etcdctl snapshot status /root/check.db -w json").stdout)
        s.sudo("rm -f /root/check.db")
    assert st == {k: report[k] for k in ("hash", "revision", "totalKey", "totalSize")}
    assert report["host"] == "master1" and report["revision"] >= revision and report["totalKey"] >= 5
    # -o FILE; an existing file is never overwritten
    target = tmp_path / "mine.db"
    assert run(etcd_snapshot_command, built, capsys, output=target)[0] == 0
    assert target.stat().st_mode & 0o777 == 0o600
    before = target.read_bytes()
    code, _, err = run(etcd_snapshot_command, built, capsys, output=target)
    assert code == 2 and "exists already" in err and target.read_bytes() == before
    # nothing left on the node
    assert sh(lab, "master1", "ls /tmp/.provisioner.* 2>/dev/null | grep -c snapshot || true").stdout.strip() == "0"


def test_etcd_status_lists_members_leader_and_size(built, capsys):
    lab = built[0]
    code, out, err = run(etcd_status_command, built, capsys, as_json=True)
    assert code == 0, err
    doc = json.loads(out)
    assert sorted(m["name"] for m in doc["members"]) == CPS      # in etcd's order: by member ID
    assert all(m["reachable"] and m["dbSize"] > 0 for m in doc["members"])
    # the leader etcd itself names (renewing the certificates restarted every member: it may have moved)
    status = json.loads(sh(lab, "master1", f"{ETCDCTL} endpoint status --cluster -w json").stdout)
    leader_id = status[0]["Status"]["leader"]
    members = json.loads(sh(lab, "master1", f"{ETCDCTL} member list -w json").stdout)["members"]
    assert doc["leader"] == next(m["name"] for m in members if m["ID"] == leader_id)
    code, out, _ = run(etcd_status_command, built, capsys)
    assert code == 0 and out.splitlines()[0].split() == ["NAME", "ID", "CLIENT", "URL", "LEADER", "DB", "SIZE",
                                                         "VERSION"]


def test_an_api_server_is_not_ready_while_its_etcd_is_down(built, capsys):
    """kube-apiserver's etcd check (its --etcd-servers is the local member): master2's /readyz is a 500 naming
    etcd while its member is stopped, and `provisioner etcd status` says which member does not answer."""
    lab = built[0]
    readyz = (f"curl -sS --max-time 5 -w ' %{{http_code}}' --cacert /etc/kubernetes/pki/ca.crt "
              f"https://{lab.nodes['master2'].address}:6443/readyz")
    assert sh(lab, "master2", readyz).stdout.endswith(" 200")
    assert sh(lab, "master2", "systemctl stop standin-etcd.service").rc == 0
    try:
        body = wait_for(lambda: (out := sh(lab, "master2", readyz).stdout).endswith(" 500") and out,
                        timeout=30, interval=0.5, what="master2's /readyz to fail")
        assert "[-]etcd failed: reason withheld" in body and "[+]ping ok" in body, body
        code, out, err = run(etcd_status_command, built, capsys, as_json=True)
        assert code == 1 and "a member does not answer" in err
        assert {m["name"]: m["reachable"] for m in json.loads(out)["members"]} == {
            "master1": True, "master2": False, "master3": True}
    finally:
        assert sh(lab, "master2", "systemctl start standin-etcd.service").rc == 0
    wait_for(lambda: sh(lab, "master2", readyz).stdout.endswith(" 200"), timeout=60, interval=0.5,
             what="master2's /readyz to pass again")
