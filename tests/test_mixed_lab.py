"""inventories/mixed.yaml built end to end in the lab: Rocky Linux 9 and AlmaLinux 10 hosts (EL-like lab nodes,
tests/lab/eltree.py) beside Debian 12 ones, one cluster (issue 23 point 6).

Real on the EL-like nodes: dnf and rpm (Debian's builds of them) installing from signed, createrepo_c-indexed
repositories in upstream's rpm layouts (tests/standins/rpms.py), the exclude lines pinning the packages,
firewalld, sshd, keepalived/haproxy/chrony (the Debian binaries, repackaged as .rpm with EL's unit names and
paths). Stand-ins: SELinux's tools (tests/lab/selinux.py), and as everywhere kubeadm, kubelet, Docker and
cri-dockerd (tests/standins); kubectl is the real one. Not real: the kernel (this machine's) and the
userland under dnf (Debian's), so nothing here proves a real Rocky or Alma host works.
"""

from __future__ import annotations

import atexit
import json

import pytest
import yaml

from tests.lab.fixtures import require_lab, session_lock
from tests.lab.lab import Lab
from tests.lab.selinux import make_selinux_host
from tests.lab.util import wait_for
from tests.support.cli import REPO, run_cli
from tests.support.lab_inventory import lab_cli_args, lab_inventory, sh

OS = {"ha1": "rocky9", "ha2": "debian12", "cp1": "rocky9", "cp2": "alma10", "cp3": "debian12",
      "w1": "debian12", "w2": "alma10"}
EL = [h for h, o in OS.items() if o != "debian12"]
KUBE = ["cp1", "cp2", "cp3", "w1", "w2"]
SOURCE = REPO / "inventories/mixed.yaml"


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    require_lab()
    data = yaml.safe_load(SOURCE.read_text())
    nodes = [{"hostname": h["hostname"], "address": h["address"], "roles": h["roles"], "os": OS[h["hostname"]]}
             for h in data["hosts"]]
    lab = Lab(nodes=nodes, name="mixed", bridge_cidr="172.31.250.129/28",
              vip=data["control_plane_endpoint"]["address"], domain=data["domain"])
    with session_lock(lab.name):
        atexit.register(lab.down)
        try:
            lab.up()
            yield _prepared(lab, data, tmp_path_factory)
        finally:
            lab.down()
            atexit.unregister(lab.down)


def _prepared(lab: Lab, data: dict, tmp_path_factory):
    for host in EL:     # as Rocky and Alma come: SELinux enforcing, firewalld running
        make_selinux_host(lab, host, "enforcing")
        r = sh(lab, host, "systemctl start firewalld && firewall-cmd --state")
        assert r.ok and "running" in r.stdout, (host, r)
    base = tmp_path_factory.mktemp("mixed")
    return lab, lab_inventory(lab, base, SOURCE), base / "state"


def test_nodes_are_what_they_say(mixed):
    lab, _, _ = mixed
    for host, os_ in OS.items():
        release = sh(lab, host, ". /etc/os-release; echo $ID $VERSION_ID").stdout.split()
        assert release[0] == {"rocky9": "rocky", "alma10": "almalinux", "debian12": "debian"}[os_], (host, release)
    assert sh(lab, "cp2", "rpm -q kubeadm").stdout.strip() == "package kubeadm is not installed"


def test_preflight_reads_each_family_and_says_what_up_changes(mixed):
    lab, inv, _ = mixed
    r = run_cli("preflight", "-i", str(inv), "--format", "json", "--timeout", "5", *lab_cli_args(lab))
    report = json.loads(r.stdout)
    by_host = {h["host"]: {c["id"]: c for c in h["checks"]} for h in report["hosts"]}
    assert by_host["cp1"]["os.supported"]["status"] == "pass", by_host["cp1"]["os.supported"]
    assert "Rocky" in by_host["cp1"]["os.supported"]["observed"] or "rocky" in by_host["cp1"]["os.supported"]["observed"]
    se = by_host["cp2"]["security.selinux"]
    assert se["status"] == "warn" and "Enforcing" in se["observed"] and "setenforce 0" in se["fix"], se
    assert se["fixed_by"] == "prep", se
    # firewalld running with nothing open but ssh: blocks the API port; preflight says up opens it
    fw = by_host["cp1"]["security.firewall"]
    assert fw["status"] == "warn" and "not open: 6443/tcp" in fw["observed"], fw
    assert "`up` (prep) opens 6443/tcp" in fw["fix"] and fw["fixed_by"] == "prep", fw
    assert by_host["cp3"]["security.selinux"]["status"] == "skip"      # Debian: no SELinux
    sources = by_host["w2"]["net.package_repos"]
    assert sources["status"] == "pass", sources


def test_up_builds_the_mixed_cluster_and_a_rerun_changes_nothing(mixed, tmp_path):
    lab, inv, state = mixed
    r = run_cli("up", "-i", str(inv), *lab_cli_args(lab, state), timeout=1200)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-4000:]

    def ready() -> bool:
        out = sh(lab, "cp1", "kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes -o json")
        if not out.ok:
            return False
        items = json.loads(out.stdout)["items"]
        return sorted(i["metadata"]["name"] for i in items) == sorted(KUBE) and all(
            c["status"] == "True" for i in items for c in i["status"]["conditions"] if c["type"] == "Ready")
    wait_for(ready, timeout=120, what="every node of the mixed cluster Ready")

    report = tmp_path / "rerun.json"
    again = run_cli("up", "-i", str(inv), "--json", str(report), *lab_cli_args(lab, state), timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(report.read_text())["changed"] == 0, again.stdout[-3000:]


def test_el_hosts_got_dnf_packages_pinned_selinux_permissive_and_their_ports_open(mixed):
    lab, _, _ = mixed
    for host in ("cp1", "cp2", "w2"):
        pkgs = sh(lab, host, "rpm -q kubeadm kubelet kubectl docker-ce containerd.io").stdout
        assert "kubeadm-1.37.1-150500.1.1" in pkgs and "docker-ce-29.0.4-1.el" in pkgs, (host, pkgs)
        repo = sh(lab, host, "cat /etc/yum.repos.d/kubernetes.repo").stdout
        assert "exclude=kubelet kubeadm kubectl cri-tools kubernetes-cni" in repo, repo
        # the exclude line holds them: a plain dnf does not see them (dnf: "No match for argument")
        held = sh(lab, host, "dnf -q -y upgrade kubeadm 2>&1; dnf -q list --available kubeadm 2>&1")
        assert "kubeadm" not in held.stdout.replace("No match for argument: kubeadm", ""), held.stdout
        assert sh(lab, host, "getenforce").stdout.strip() == "Permissive"
        assert "SELINUX=permissive" in sh(lab, host, "cat /etc/selinux/config").stdout
        assert sh(lab, host, "systemctl is-active chronyd docker cri-docker.service").stdout.split() == ["active"] * 3
    assert "6443/tcp" in sh(lab, "cp1", "firewall-cmd --list-ports").stdout
    assert "6443/tcp" in sh(lab, "ha1", "firewall-cmd --list-ports").stdout       # the lb port
    assert "10250/tcp" in sh(lab, "w2", "firewall-cmd --list-ports").stdout
    assert sh(lab, "ha1", "rpm -q keepalived haproxy").ok
    assert "stats socket /var/lib/haproxy/stats" in sh(lab, "ha1", "cat /etc/haproxy/haproxy.cfg").stdout
    assert sh(lab, "ha1", "systemctl is-active haproxy keepalived").stdout.split() == ["active", "active"]
    # Debian hosts beside them: apt, held
    held = sh(lab, "cp3", "apt-mark showhold").stdout.split()
    assert {"kubeadm", "kubelet", "kubectl"} <= set(held), held
    assert not sh(lab, "cp3", "test -e /etc/yum.repos.d/kubernetes.repo").ok


def test_the_vip_fails_over_between_rocky_and_debian_with_firewalld_running(mixed):
    """VRRP (protocol 112) allowed by `up` in ha1's firewalld: stopping ha1's keepalived moves the VIP to ha2."""
    lab, inv, state = mixed
    assert sh(lab, "ha1", "firewall-cmd --state").stdout.strip() == "running"
    assert "vrrp" in sh(lab, "ha1", "firewall-cmd --list-protocols").stdout
    r = run_cli("verify", "-i", str(inv), *lab_cli_args(lab, state), "--failover", "--json", "-", timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    fo = json.loads(r.stdout[r.stdout.index("{"):])["failover"]
    assert {fo["holder"], fo["new_holder"]} == {"ha1", "ha2"} and fo["restored"], fo
