"""preflight against the real lab: healthy passes; every fault fails the right check on the right host.

Real parts: sshd on systemd nodes, paramiko/Fabric connections with host-key
checking, testinfra, the nodes' own tools. Faults come from tests/lab/faults.py
and are undone after each test.
"""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema
import pytest

from provisioner.report import SCHEMA_PATH
from tests.support.cli import REPO, run_cli
from tests.support.lab_inventory import lab_cli_args, lab_inventory

KUBE_NODES = ["master1", "master2", "master3", "node1", "node2", "node3"]


@pytest.fixture
def inventory(lab, tmp_path):
    return lab_inventory(lab, tmp_path)


def preflight(lab, inventory, *extra, state=None):
    """Run the real CLI with --format json; return (exit code, report, stderr)."""
    result = run_cli("preflight", "-i", str(inventory), "--format", "json", "--timeout", "3",
                     *lab_cli_args(lab, state), *extra)
    report = json.loads(result.stdout) if result.stdout.strip() else None
    return result.returncode, report, result.stderr


def check(report, host, check_id):
    h = next(h for h in report["hosts"] if h["host"] == host)
    return next(c for c in h["checks"] if c["id"] == check_id)


def failing(report) -> dict[str, list[str]]:
    return {h["host"]: [c["id"] for c in h["checks"] if c["status"] == "fail"]
            for h in report["hosts"] if any(c["status"] == "fail" for c in h["checks"])}


@pytest.fixture
def ready_sysctls(lab):
    """Emulate what prep sets, so --strict can pass before a fault: ip_forward=1 on kube nodes."""
    for name in KUBE_NODES:
        lab.node(name).exec(["sysctl", "-qw", "net.ipv4.ip_forward=1"])
    yield
    for name in KUBE_NODES:
        lab.node(name).exec(["sysctl", "-qw", "net.ipv4.ip_forward=0"])


def test_healthy_lab_passes_and_json_matches_schema(lab, inventory):
    code, report, stderr = preflight(lab, inventory)
    assert code == 0, (failing(report), stderr)
    jsonschema.validate(report, json.loads(SCHEMA_PATH.read_text()))
    assert [h["host"] for h in report["hosts"]] == ["master1", "master2", "master3", "node1", "node2", "node3", "ha1", "ha2"]
    assert all(h["status"] == "pass" for h in report["hosts"])
    for host in report["hosts"]:
        ids = {c["id"] for c in host["checks"]}
        assert {"access.sudo", "os.supported", "cluster.product_uuid", "cluster.mac", "cluster.clock_skew"} <= ids
    assert check(report, "master1", "hw.cpus")["status"] == "pass"
    assert check(report, "ha1", "cluster.vip")["observed"].startswith("172.31.250.100 free")
    # Every port each node will need answers, refused (nothing listens yet) is reachable.
    assert {check(report, h["host"], "cluster.reach")["status"] for h in report["hosts"]} == {"pass"}
    assert "5 ports reachable" in check(report, "node1", "cluster.reach")["observed"]
    # Before prep, what up fixes is reported as a warning, with the phase that fixes it.
    sysctl = check(report, "master1", "kernel.sysctl")
    assert sysctl["status"] == "warn" and sysctl["fixed_by"] == "prep"


def test_duplicate_product_uuid(lab, inventory, faults):
    faults.duplicate_product_uuid("node2", like="node1")
    code, report, _ = preflight(lab, inventory)
    assert code == 1
    assert failing(report) == {"node1": ["cluster.product_uuid"], "node2": ["cluster.product_uuid"]}
    assert "also on node2" in check(report, "node1", "cluster.product_uuid")["observed"]
    assert "SMBIOS UUID" in check(report, "node2", "cluster.product_uuid")["fix"]


def test_duplicate_mac(lab, inventory, faults):
    faults.duplicate_mac("node3", like="master3")
    code, report, _ = preflight(lab, inventory)
    assert code == 1
    assert failing(report) == {"master3": ["cluster.mac"], "node3": ["cluster.mac"]}


def test_swap_in_fstab_fails_strict_on_that_node_only(lab, inventory, faults):
    faults.swap_on("node1", active=False, fstab=True)
    code, report, _ = preflight(lab, inventory)
    assert code == 0, "swap is a warning before up: prep turns it off"
    assert check(report, "node1", "swap.persistent")["status"] == "warn"
    code, report, _ = preflight(lab, inventory, "--strict")
    swap = check(report, "node1", "swap.persistent")
    assert swap["status"] == "fail" and "fstab" in swap["observed"] and "mask swap units" in swap["fix"]
    assert all(check(report, n, "swap.persistent")["status"] == "pass" for n in KUBE_NODES if n != "node1")


def test_active_swap_fails_strict(lab, inventory, faults):
    """An active swap file is global to the kernel (see tests/lab/README.md): every node sees it."""
    faults.swap_on("node2", active=True, fstab=False)
    code, report, _ = preflight(lab, inventory, "--strict")
    assert code == 1
    assert check(report, "node2", "swap.active")["status"] == "fail"
    assert "swapoff -a" in check(report, "node2", "swap.active")["fix"]


def test_ip_forward_off(lab, inventory, faults, ready_sysctls):
    code, report, _ = preflight(lab, inventory, "--strict")
    assert all(check(report, n, "kernel.sysctl")["status"] == "pass" for n in KUBE_NODES)
    faults.ip_forward_off("node2")
    code, report, _ = preflight(lab, inventory, "--strict")
    verdict = check(report, "node2", "kernel.sysctl")
    assert verdict["status"] == "fail" and "net.ipv4.ip_forward=0" in verdict["observed"]
    assert all(check(report, n, "kernel.sysctl")["status"] == "pass" for n in KUBE_NODES if n != "node2")


def test_port_taken(lab, inventory, faults):
    faults.port_taken("master2", 6443)
    code, report, _ = preflight(lab, inventory)
    assert code == 1
    assert failing(report) == {"master2": ["ports.free"]}
    assert "6443 in use by" in check(report, "master2", "ports.free")["observed"]
    assert "kube-apiserver needs it" in check(report, "master2", "ports.free")["fix"]


def test_filtered_ports_fail_with_the_pairs_named(lab, inventory, faults):
    """A DROP in master2's network namespace (nftables): before anything listens, every node that will need
    master2:6443 or its etcd ports times out there, while a port with no listener elsewhere is refused
    (reachable). One finding, on the common destination, names every source; they get a pointer."""
    faults.ports_filtered("master2", [6443, "2379-2380"])
    code, report, _ = preflight(lab, inventory)
    assert code == 1
    assert failing(report) == {"master2": ["cluster.reach"]}
    reach = check(report, "master2", "cluster.reach")
    assert "master1, master3, node1, node2, node3, ha1, ha2 -> master2:6443 timed out (filtered?)" in reach["observed"]
    assert "master1, master3 -> master2:2379,2380 timed out (filtered?)" in reach["observed"]
    assert "6443 kube-apiserver" in reach["fix"] and "into master2" in reach["fix"]
    node2 = check(report, "node2", "cluster.reach")
    assert node2["status"] == "warn" and "see master2" in node2["observed"]


def test_one_filtered_pair_is_named_on_its_source(lab, inventory, faults):
    faults.ports_filtered("node2", [6443], chain="output", peer=lab.node("master3").address)
    code, report, _ = preflight(lab, inventory)
    assert code == 1 and failing(report) == {"node2": ["cluster.reach"]}
    assert check(report, "node2", "cluster.reach")["observed"] == "node2 -> master3:6443 timed out (filtered?)"


def test_reject_with_tcp_reset_is_refused_and_passes(lab, inventory, faults):
    """A TCP reset is what a host with nothing listening sends: the path is open."""
    faults.ports_filtered("master2", [6443, "2379-2380", 10250], action="reject with tcp reset")
    code, report, stderr = preflight(lab, inventory)
    assert code == 0, (failing(report), stderr)
    assert {check(report, h["host"], "cluster.reach")["status"] for h in report["hosts"]} == {"pass"}


def test_a_host_without_python3_probes_with_bash(lab, inventory, faults):
    """Minimal images lack python3: node1 falls back to bash's /dev/tcp, which only sees 'No route to host'
    where python reads the ICMP code (3/13, admin prohibited) - the two wordings show which prober ran."""
    faults.python3_hidden("node1")
    faults.ports_filtered("master2", [6443], action="reject with icmp type admin-prohibited")
    code, report, _ = preflight(lab, inventory)
    assert code == 1 and failing(report) == {"master2": ["cluster.reach"]}
    observed = check(report, "master2", "cluster.reach")["observed"]
    assert "node1 -> master2:6443 no route to host / host unreachable" in observed
    assert "master1, master3, node2, node3, ha1, ha2 -> master2:6443 admin prohibited (ICMP 3/13)" in observed


def test_sshd_down_is_unreachable_and_others_still_audited(lab, inventory, faults):
    faults.sshd_stopped("node3")
    code, report, stderr = preflight(lab, inventory)
    assert code == 3
    node3 = next(h for h in report["hosts"] if h["host"] == "node3")
    assert node3["status"] == "unreachable" and "connection refused" in node3["reason"]
    assert all(h["status"] == "pass" for h in report["hosts"] if h["host"] != "node3")


def test_changed_host_key_is_refused(lab, inventory, faults):
    faults.host_key_changed("ha2")
    code, report, _ = preflight(lab, inventory, "--accept-new-host-keys")
    assert code == 3, "a changed key is refused even with --accept-new-host-keys"
    ha2 = next(h for h in report["hosts"] if h["host"] == "ha2")
    assert "host key CHANGED" in ha2["reason"] and "SHA256:" in ha2["reason"]
    assert all(h["status"] == "pass" for h in report["hosts"] if h["host"] != "ha2")


def test_unknown_host_keys_need_trust_on_first_use(lab, inventory, tmp_path):
    empty = tmp_path / "known_hosts"
    args = ["preflight", "-i", str(inventory), "--format", "json", "--known-hosts", str(empty), "--host", "node1",
            "--host", "ha1"]
    refused = run_cli(*args)
    assert refused.returncode == 3
    reasons = [h["reason"] for h in json.loads(refused.stdout)["hosts"]]
    assert all("unknown host key" in r and "--accept-new-host-keys" in r for r in reasons)
    accepted = run_cli(*args, "--accept-new-host-keys")
    assert accepted.returncode == 0, accepted.stdout
    assert len(empty.read_text().splitlines()) == 2 and (empty.stat().st_mode & 0o777) == 0o600
    assert run_cli(*args).returncode == 0, "recorded keys are trusted on the next run"


def test_no_sudo(lab, tmp_path):
    inventory = lab_inventory(lab, tmp_path, hosts={"node1": {"ssh": {"user": "nosudo"}}})
    code, report, _ = preflight(lab, inventory)
    assert code == 1
    assert failing(report) == {"node1": ["access.sudo"]}
    assert "nosudo cannot run sudo -n" in check(report, "node1", "access.sudo")["observed"]
    assert check(report, "node1", "cluster.product_uuid")["status"] == "skip", "product_uuid needs root"


def test_link_down(lab, inventory, faults):
    faults.link_down("master3")
    code, report, _ = preflight(lab, inventory)
    assert code == 3
    master3 = next(h for h in report["hosts"] if h["host"] == "master3")
    assert master3["status"] == "unreachable" and "no answer" in master3["reason"]
    for host in report["hosts"]:
        if host["host"] != "master3":
            reach = check(report, host["host"], "cluster.reach")
            assert reach["status"] == "fail" and "-> master3:" in reach["observed"]
            assert [c for c in host["checks"] if c["status"] == "fail"] == [reach]


def test_clock_off(lab, inventory, faults):
    faults.clock_off("node1", minutes=5)
    code, report, _ = preflight(lab, inventory)
    assert code == 1
    skew = check(report, "node1", "cluster.clock_skew")
    offset_ms = float(skew["observed"].split()[0])
    assert skew["status"] == "fail" and 290_000 < offset_ms < 310_000, skew
    assert failing(report) == {"node1": ["cluster.clock_skew"]}


def _snapshot(lab) -> dict[str, str]:
    """Per node: a listing of /etc (path, size, mtime, mode) and the active units, read from the host side.
    A login's own units are left out: pam_systemd (libpam-systemd, which firewalld's polkit needs) starts
    user@UID.service, run-user-UID.mount and a session scope for any SSH login, and logind stops them
    UserStopDelaySec (10 s, logind.conf(5)) after it ends - the login's doing, not the reads'."""
    cmd = ("find /etc -xdev -printf '%p %s %T@ %m\\n' | sort | sha256sum; "
           "systemctl list-units --all --no-legend --plain | awk '{print $1, $3, $4}' "
           "| grep -Ev '^(user@[0-9]+\\.service|user-runtime-dir@[0-9]+\\.service|run-user-[0-9]+\\.mount|"
           "session-[0-9]+\\.scope|user-[0-9]+\\.slice) ' | sort")
    return {name: node.exec(cmd).stdout for name, node in lab.nodes.items()}


def test_preflight_changes_nothing(lab, inventory):
    before = _snapshot(lab)
    code, report, _ = preflight(lab, inventory, "--strict")
    assert report is not None
    after = _snapshot(lab)
    for name in before:
        assert before[name] == after[name], f"preflight changed {name}"


def test_junit_parses_with_a_junit_parser(lab, inventory, faults, tmp_path):
    from junitparser import Error, Failure, JUnitXml

    faults.port_taken("master1", 2379)
    out = tmp_path / "preflight.xml"
    result = run_cli("preflight", "-i", str(inventory), "--format", "junit", "-o", str(out), *lab_cli_args(lab))
    assert result.returncode == 1
    xml = JUnitXml.fromfile(str(out))
    suites = {suite.name: suite for suite in xml}
    assert set(suites) == {f"preflight.{h}" for h in KUBE_NODES + ["ha1", "ha2"]}
    failures = [(s.name, case.name) for s in xml for case in s if any(isinstance(r, (Failure, Error)) for r in case.result)]
    assert failures == [("preflight.master1", "ports.free")]


def test_table_output_and_exit_codes(lab, inventory, faults):
    ok = run_cli("preflight", "-i", str(inventory), *lab_cli_args(lab))
    assert ok.returncode == 0 and "8 hosts" in ok.stdout and "0 failed" in ok.stdout
    faults.port_taken("node2", 10250)
    bad = run_cli("preflight", "-i", str(inventory), *lab_cli_args(lab))
    assert bad.returncode == 1 and "node2" in bad.stdout and "10250 in use by" in bad.stdout
    assert run_cli("preflight", "-i", str(inventory), "--host", "nope").returncode == 2
    assert run_cli("preflight", "-i", str(inventory), "--format", "xml").returncode == 2


def test_checks_run_the_testinfra_way(lab, inventory, tmp_path):
    """The same checks as plain pytest-testinfra tests: pytest --hosts=... --pyargs provisioner.checks.testinfra_suite."""
    config = tmp_path / "ssh_config"
    config.write_text(f"Host *\n  IdentityFile {lab.key_path}\n  UserKnownHostsFile {lab.known_hosts_path}\n"
                      "  StrictHostKeyChecking yes\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
         "--hosts=ssh://ops@172.31.250.101,ssh://ops@172.31.250.107", f"--ssh-config={config}",
         "--pyargs", "provisioner.checks.testinfra_suite"],
        capture_output=True, text=True, cwd=tmp_path, env={**__import__("os").environ,
                                                           "PROVISIONER_INVENTORY": str(inventory)}, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout


def _blocks(table: str) -> dict[str, set[str]]:
    """check -> hosts named in the narrow table's block headers (``FAIL ports.free on node2``)."""
    from provisioner.hostlist import expand

    found: dict[str, set[str]] = {}
    for line in table.splitlines():
        parts = line.split(" ", 3)
        if len(parts) == 4 and parts[0] in ("FAIL", "warn", "UNREACHABLE") and parts[2] == "on":
            found.setdefault(parts[1], set()).update(expand(parts[3]))
    return found


def test_table_groups_findings_fits_80_columns(pristine_lab, inventory, faults):
    """The table a person reads: on the fresh lab it fits one 80x24 screen (each warning once, its hosts
    compressed); with mixed faults it still names every failing host and check. Snapshots of both (real
    runs, non-TTY, COLUMNS=80); the faulty run's JSON is kept for tests/test_output_snapshots.py.
    The lab is rebooted first (about 3 s): a snapshot must not depend on what earlier tests left behind."""
    from tests.support.snapshots import assert_snapshot, save_report

    lab = pristine_lab

    env = {"COLUMNS": "80"}
    fresh = run_cli("preflight", "-i", str(inventory), *lab_cli_args(lab), env=env)
    lines = fresh.stdout.splitlines()
    assert_snapshot("preflight-lab-fresh-80", fresh.stdout)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert len(lines) <= 24 and max(map(len, lines)) <= 80, fresh.stdout

    faults.port_taken("node2", 10250)
    faults.duplicate_product_uuid("master3", "master2")
    faults.swap_on("node1", active=False)
    faults.sshd_stopped("ha2")
    code, report, _ = preflight(lab, inventory)
    save_report("preflight-lab-faults", report)
    table = run_cli("preflight", "-i", str(inventory), "--timeout", "3", *lab_cli_args(lab), env=env)
    assert table.returncode == code == 3, table.stdout + table.stderr
    assert max(map(len, table.stdout.splitlines())) <= 80, table.stdout
    named = _blocks(table.stdout)
    bad = {(h["host"], c["id"]) for h in report["hosts"] for c in h["checks"] if c["status"] == "fail"}
    assert bad >= {("node2", "ports.free"), ("master2", "cluster.product_uuid"), ("master3", "cluster.product_uuid"),
                   ("ha2", "ssh.connect")}, bad
    assert all(host in named.get(check, ()) for host, check in bad), (bad, table.stdout)
    assert_snapshot("preflight-lab-faults-80", table.stdout)
