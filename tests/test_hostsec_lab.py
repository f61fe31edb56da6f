"""SELinux and the host firewall through preflight and `up`, on the lab (issue 23 points 2-3).

Real: firewalld (Debian's 1.3, nftables backend) running in the nodes, checked with firewall-cmd; keepalived's
VRRP between ha1 and ha2 through it. Stand-in: the SELinux tools on master1 and ha1 (tests/lab/selinux.py).
Before `up`: SELinux enforcing on master1 and ha1, firewalld active everywhere with nothing open but ssh.
"""

from __future__ import annotations

import json

import pytest

from tests.lab.selinux import make_selinux_host
from tests.support.cli import run_cli
from tests.support.lab_inventory import lab_cli_args, lab_inventory, sh

ALL = ["master1", "master2", "master3", "node1", "node2", "node3", "ha1", "ha2"]
SELINUX_HOSTS = ["master1", "ha1"]
PORTS = {"master1": "6443/tcp 2379-2380/tcp 10250/tcp 10259/tcp 10257/tcp 8472/udp",
         "node1": "10250/tcp 10256/tcp 30000-32767/tcp 30000-32767/udp 8472/udp",
         "ha1": "6443/tcp"}


@pytest.fixture(scope="module")
def cluster(pristine_lab, tmp_path_factory):
    lab = pristine_lab
    for n in SELINUX_HOSTS:
        make_selinux_host(lab, n, "enforcing")
    for n in ALL:
        r = sh(lab, n, "systemctl start firewalld && firewall-cmd --state")
        assert r.ok and "running" in r.stdout, (n, r)
    base = tmp_path_factory.mktemp("hostsec")
    return lab, lab_inventory(lab, base), base / "state"


def _check(report, host, check_id):
    h = next(h for h in report["hosts"] if h["host"] == host)
    return next(c for c in h["checks"] if c["id"] == check_id)


def test_preflight_reports_selinux_and_the_blocking_firewall_with_what_up_does(cluster):
    lab, inv, state = cluster
    r = run_cli("preflight", "-i", str(inv), "--format", "json", "--timeout", "3", *lab_cli_args(lab))
    report = json.loads(r.stdout)
    se = _check(report, "master1", "security.selinux")
    assert se["status"] == "warn" and "Enforcing" in se["observed"] and "setenforce 0" in se["fix"], se
    assert se["fixed_by"] == "prep"
    fw = _check(report, "master1", "security.firewall")
    assert fw["status"] == "warn" and "firewalld active, not open: 6443/tcp" in fw["observed"], fw
    assert "`up` (prep) opens 6443/tcp" in fw["fix"] and fw["fixed_by"] == "prep", fw
    assert "vrrp" in _check(report, "ha1", "security.firewall")["observed"]


def test_up_opens_each_roles_ports_and_makes_selinux_permissive(cluster):
    lab, inv, state = cluster
    r = run_cli("up", "-i", str(inv), *lab_cli_args(lab, state), timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    for node, ports in PORTS.items():
        # firewalld lists them in its own order: compared as sets (exactly these, none more)
        assert sorted(sh(lab, node, "firewall-cmd --list-ports").stdout.split()) == sorted(ports.split()), node
        assert sorted(sh(lab, node, "firewall-cmd --permanent --list-ports").stdout.split()) == sorted(ports.split()), node
    assert sh(lab, "ha1", "firewall-cmd --list-protocols").stdout.split() == ["vrrp"]
    assert sh(lab, "node1", "firewall-cmd --list-protocols").stdout.split() == []
    for n in SELINUX_HOSTS:
        assert sh(lab, n, "getenforce").stdout == "Permissive\n"
        assert "SELINUX=permissive\n" in sh(lab, n, "cat /etc/selinux/config").stdout


def test_second_up_changes_nothing(cluster):
    lab, inv, state = cluster
    r = run_cli("up", "-i", str(inv), *lab_cli_args(lab, state), "--json", "-", timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads(r.stdout)
    assert report["changed"] == 0, [(p["name"], h["host"], h["changes"]) for p in report["phases"]
                                    for h in p["hosts"] if h["changes"]]


def test_the_vip_fails_over_with_firewalld_running(cluster):
    lab, inv, state = cluster
    assert all(sh(lab, n, "firewall-cmd --state").stdout.strip() == "running" for n in ("ha1", "ha2"))
    r = run_cli("verify", "-i", str(inv), *lab_cli_args(lab, state), "--failover", "--json", "-", timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    fo = json.loads(r.stdout[r.stdout.index("{"):])["failover"]
    assert fo["holder"] == "ha1" and fo["new_holder"] == "ha2" and fo["restored"], fo
