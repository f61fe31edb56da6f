"""Day-two parsers and local helpers (no hosts): provisioner.daytwo.

The files in tests/golden/daytwo/ are named after the command whose output they hold, written in upstream's
format (not captured from a real binary here - none can run on this machine):
- kubeadm-certs-check-expiration.txt: kubernetes/kubernetes cmd/kubeadm/app/cmd/certs.go
  newCmdCertsExpiration (tabwriter(10, 4, 3, ' '), "Jan 02, 2006 15:04 MST", ShortHumanDuration -
  "<invalid>" once expired -, "!MISSING! NAME" widening the first column, the CA table);
- etcdctl-*.json: etcd-io/etcd v3.4 etcdctl/ctlv3/command/printer_json.go (snapshot status: hash,
  revision, totalKey, totalSize; member list and endpoint status as protobuf JSON, IDs as numbers; a
  member added but not started has no name and no client URLs).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import pytest

from provisioner.daytwo import certs, etcd
from provisioner.daytwo.etcdout import (EtcdOutputError, parse_endpoint_status, parse_member_list,
                                        parse_snapshot_status)
from provisioner.daytwo.expiration import ParseError, parse_check_expiration, table
from tests.support.cli import run_cli

GOLDEN = Path(__file__).parent / "golden" / "daytwo"
REPO = Path(__file__).resolve().parents[1]
NOW = dt.datetime(2026, 12, 5, 9, 0, tzinfo=dt.timezone.utc)


def rows():
    return parse_check_expiration((GOLDEN / "kubeadm-certs-check-expiration.txt").read_text(), "master1", NOW)


def test_check_expiration_rows():
    r = {x.name: x for x in rows()}
    assert len(r) == 14
    assert r["admin.conf"].expires == "2027-11-28T09:41:00Z" and r["admin.conf"].days_left == 358
    assert r["apiserver"].days_left == 15 and r["apiserver"].ca == "ca" and r["apiserver"].host == "master1"
    assert r["etcd-server"].days_left == -4 and r["etcd-server"].ca == "etcd-ca"
    assert r["front-proxy-client"].externally_managed and not r["admin.conf"].externally_managed
    assert r["super-admin.conf"].missing and r["super-admin.conf"].days_left is None
    assert r["ca"].authority and r["ca"].days_left == 3644 and r["front-proxy-ca"].externally_managed


def test_warnings_under_30_days_expired_and_missing():
    warnings = [w for w in (x.warning(30) for x in rows()) if w]
    assert warnings == ["master1: apiserver expires in 15 days (2026-12-20T09:41:00Z), under 30",
                        "master1: etcd-server EXPIRED on 2026-12-01T09:41:00Z"]
    assert [x.name for x in rows() if x.warning(10)] == ["etcd-server"]


def test_table_and_json_forms():
    text = table(rows())
    lines = text.splitlines()
    assert lines[0].split() == ["HOST", "CERTIFICATE", "EXPIRES", "DAYS", "LEFT", "CA"]
    assert any(line.startswith("master1") and "apiserver " in line and line.endswith("WARN") for line in lines)
    assert json.loads(json.dumps([x.as_dict() for x in rows()]))[0]["name"] == "admin.conf"


@pytest.mark.parametrize("text", ["", "error: something\n", "CERTIFICATE   EXPIRES\nadmin.conf   not a date   1d   ca   no\n"])
def test_check_expiration_garbage_is_a_parse_error(text):
    with pytest.raises(ParseError):
        parse_check_expiration(text, "m1", NOW)


def test_etcdctl_json_outputs():
    st = parse_snapshot_status((GOLDEN / "etcdctl-snapshot-status.json").read_text())
    assert (st.hash, st.revision, st.total_key, st.total_size) == (2834785125, 48213, 1187, 5414912)
    members = parse_member_list((GOLDEN / "etcdctl-member-list.json").read_text())
    assert [m.name for m in members] == ["master1", "master2", ""]
    assert members[0].id == 10276657743932975437 and members[2].client_urls == ()
    eps = parse_endpoint_status((GOLDEN / "etcdctl-endpoint-status.json").read_text())
    assert {e.leader for e in eps} == {members[0].id} and eps[1].db_size == 5406720
    # grpc-gateway's strings for 64-bit numbers read the same
    assert parse_snapshot_status('{"hash":"1","revision":"2","totalKey":"3","totalSize":"4","version":"3.5.0"}').hash == 1
    with pytest.raises(EtcdOutputError):
        parse_snapshot_status('{"hash": 1}')
    with pytest.raises(EtcdOutputError):
        parse_member_list("Error: context deadline exceeded")


def test_node_scripts_are_valid_bash():
    for script in (certs.restart_script(), certs.api_wait_script("172.31.250.101"), etcd.status_command("/tmp/x y")):
        assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0


def test_snapshot_is_written_0600_and_never_over_a_file(tmp_path):
    dest = tmp_path / "snaps" / "s.db"
    etcd.write_new_private(dest, b"data")
    assert dest.read_bytes() == b"data" and dest.stat().st_mode & 0o777 == 0o600
    with pytest.raises(FileExistsError):
        etcd.write_new_private(dest, b"other")
    assert dest.read_bytes() == b"data" and [p.name for p in dest.parent.iterdir()] == ["s.db"]


def test_snapshot_refuses_an_existing_output_before_connecting(tmp_path, capsys):
    out = tmp_path / "x.db"
    out.write_text("keep")
    assert etcd.etcd_snapshot_command(tmp_path / "no-inventory.yaml", output=out) == 2
    assert "exists already" in capsys.readouterr().err and out.read_text() == "keep"


class _Node:
    """A control plane that answers one command with a fixed output (the parsing path only)."""

    def __init__(self, stdout: str, rc: int = 0):
        self.name, self.stdout, self.rc = "master1", stdout, rc

    def run(self, command, **kw):
        from provisioner.remote import CommandResult
        assert command == certs.CHECK
        return CommandResult(command, self.rc, self.stdout, "", 0.1)


def test_expiry_warnings_for_verify():
    text = (GOLDEN / "kubeadm-certs-check-expiration.txt").read_text()
    warnings = certs.expiry_warnings(_Node(text))        # today's clock: both are under 30 days or expired
    assert all(w.startswith("master1: ") for w in warnings)
    assert any(w.startswith("master1: apiserver ") for w in warnings)
    assert any(w.startswith("master1: etcd-server EXPIRED") for w in warnings)
    assert certs.expiry_warnings(_Node("", rc=1)) == [f"master1: {certs.CHECK} failed (exit 1)"]


def test_an_inventory_warning_is_printed_once(tmp_path):
    """The CLI loads the inventory and prints its warnings; the day-two command it calls must not load and
    print them again. Loopback hosts on a closed port: every control plane refuses (exit 3)."""
    from tests.test_cli import _loopback_inventory

    inv = _loopback_inventory(tmp_path)
    inv.write_text(inv.read_text().replace("kubernetes_version: 1.37.1", 'kubernetes_version: "1.34.11"'))
    result = run_cli("certs", "-i", str(inv), "--state-dir", str(tmp_path / "s"), "--timeout", "2")
    assert result.returncode == 3, result.stdout + result.stderr
    warnings = [line for line in result.stderr.splitlines() if "end of life" in line]
    assert len(warnings) == 1, result.stderr


def test_remove_refuses_before_touching_a_host(tmp_path):
    """remove on an inventory whose cluster was never built, and what it refuses by name: one line, exit 2.
    Loopback hosts on a closed port: nothing is connected to before the refusal."""
    from tests.test_cli import _loopback_inventory

    inv = _loopback_inventory(tmp_path)
    state = ["--state-dir", str(tmp_path / "s"), "--timeout", "2"]
    r = run_cli("remove", "-i", str(inv), "node1", "--yes", *state)
    assert r.returncode == 2 and "no cluster built from this inventory yet" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    unknown = run_cli("remove", "-i", str(inv), "node9", "--yes", *state)
    assert unknown.returncode == 2 and "node9" in unknown.stderr, unknown.stderr


def test_remove_keeps_two_etcd_members_unless_forced():
    from provisioner.daytwo.remove import quorum_refusal

    assert quorum_refusal(["m1", "m2", "m3"], ["m3"], False) is None
    assert "leaves etcd with 1 member (m1)" in quorum_refusal(["m1", "m2", "m3"], ["m2", "m3"], False)
    assert quorum_refusal(["m1", "m2"], ["m2"], True) is None
    assert quorum_refusal(["m1"], ["m1"], True) == "leaves etcd without a member - the cluster would be gone"


def test_remove_checks_the_inventory_left_behind(tmp_path):
    from provisioner.daytwo.remove import inventory_without
    from provisioner.errors import UsageError

    rest = inventory_without(REPO / "inventories" / "lab.yaml", ["node2", "master3"])
    assert [h.hostname for h in rest.hosts] == ["master1", "master2", "node1", "node3", "ha1", "ha2"]
    with pytest.raises(UsageError, match="without master1, master2, master3 is not a valid inventory: "):
        inventory_without(REPO / "inventories" / "lab.yaml", ["master1", "master2", "master3"])
