"""RHEL-family hosts (Rocky, AlmaLinux): what `up` writes and runs there instead of apt - dnf repository files
as upstream documents them, packages pinned by the repository's exclude line, EL paths and unit names.

The rpm query is checked against this machine's real rpm (Debian's `rpm` package, the same rpm 4.18 code that
EL 9 ships) on a database built here from a package made with the real rpmbuild."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from provisioner.facts import RpmPackagesProbe
from provisioner.factdata import Fact
from provisioner.packagestep import DnfPackagesStep
from provisioner.phases import kube_packages, prep, runtime
from provisioner.phases.base import OsInfo, UpContext
from provisioner.probebatch import batch_probes
from provisioner.render import render_host
from provisioner.steps import CommandStep, FileStep, PackagesStep, ServiceStep
from tests.support.fixed_secrets import fixed_secrets
from tests.support.lab_inventory import lab_model
from tests.support.skips import need_tool

REPO = Path(__file__).resolve().parents[1]
ROCKY9 = OsInfo("rocky", "9.5", "", "rhel centos fedora", "x86_64")
ALMA10 = OsInfo("almalinux", "10.0", "", "rhel centos fedora", "x86_64")
BOOKWORM = OsInfo("debian", "12", "bookworm", "", "amd64")


def _inventory(tmp_path, **changes):
    return lab_model(tmp_path, **changes)


def _files(inv, host, os_):
    return {f.path: f for f in render_host(inv, fixed_secrets(), inv.host(host), os_)}


def test_el_control_plane_gets_upstreams_dnf_repository_files_and_no_apt_ones(tmp_path):
    inv = _inventory(tmp_path)
    files = _files(inv, "master1", ROCKY9)
    k8s = files["/etc/yum.repos.d/kubernetes.repo"].content
    # the kubeadm install guide's kubernetes.repo (kubernetes.io "Installing kubeadm", Red Hat-based tab)
    assert "[kubernetes]\n" in k8s
    assert "baseurl=http://172.31.250.1:8080/k8s/core:/stable:/v1.37/rpm/\n" in k8s
    assert "gpgkey=http://172.31.250.1:8080/k8s/core:/stable:/v1.37/rpm/repodata/repomd.xml.key\n" in k8s
    assert "exclude=kubelet kubeadm kubectl cri-tools kubernetes-cni\n" in k8s and "repo_gpgcheck=1\n" in k8s
    docker = files["/etc/yum.repos.d/docker-ce.repo"].content
    assert "baseurl=http://172.31.250.1:8080/docker/linux/rhel/$releasever/$basearch/stable\n" in docker
    assert "gpgkey=http://172.31.250.1:8080/docker/linux/rhel/gpg\n" in docker
    assert "exclude=docker-ce docker-ce-cli containerd.io\n" in docker
    assert "/etc/chrony.conf" in files and "/etc/chrony/chrony.conf" not in files
    assert not [p for p in files if p.startswith("/etc/apt/")], "no apt file on a dnf host"
    debian = _files(inv, "master1", BOOKWORM)
    assert "/etc/apt/sources.list.d/kubernetes.list" in debian and not [p for p in debian if "yum.repos.d" in p]


def test_yum_mirror_replaces_the_distribution_repositories_checked_by_its_own_key(tmp_path):
    inv = _inventory(tmp_path, package_mirrors={**yaml.safe_load((REPO / "inventories/lab.yaml").read_text())
                                                ["package_mirrors"], "yum": "http://172.31.250.1:8080/el/"})
    rocky = _files(inv, "ha1", ROCKY9)["/etc/yum.repos.d/provisioner-mirror.repo"].content
    assert "baseurl=http://172.31.250.1:8080/el/$releasever/BaseOS/$basearch/os/\n" in rocky
    assert "baseurl=http://172.31.250.1:8080/el/$releasever/AppStream/$basearch/os/\n" in rocky
    assert "gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-Rocky-$releasever\n" in rocky
    alma = _files(inv, "ha1", ALMA10)["/etc/yum.repos.d/provisioner-mirror.repo"].content
    assert "gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-AlmaLinux-$releasever\n" in alma
    assert "/etc/yum.repos.d/provisioner-mirror.repo" not in _files(inv, "ha1", BOOKWORM)


def test_proxy_reaches_dnf_through_each_repository_file(tmp_path):
    inv = _inventory(tmp_path, proxy={"http": "http://proxy.lab.test:3128"})
    files = _files(inv, "node1", ROCKY9)
    for path in ("/etc/yum.repos.d/kubernetes.repo", "/etc/yum.repos.d/docker-ce.repo"):
        assert "proxy=http://proxy.lab.test:3128\n" in files[path].content
    assert "/etc/apt/apt.conf.d/95provisioner-proxy" not in files


def _ctx(inv, os_by_host):
    return UpContext(inv=inv, secrets=fixed_secrets(), state_dir=REPO, os=os_by_host)


def test_el_phases_install_with_dnf_pinned_by_the_repositories_exclude_line(tmp_path):
    inv = _inventory(tmp_path)
    ctx = _ctx(inv, {"master1": ROCKY9, "ha1": ROCKY9})
    k8s = kube_packages.steps(ctx, inv.host("master1"))
    dnf = next(s for s in k8s if isinstance(s, DnfPackagesStep))
    assert dnf.packages == {"kubelet": "1.37.1", "kubeadm": "1.37.1", "kubectl": "1.37.1"}
    assert dnf.repo == "kubernetes" and not any(isinstance(s, PackagesStep) for s in k8s)
    assert not any(isinstance(s, CommandStep) and "keyring" in s.name.lower() for s in k8s)
    assert [s.path for s in k8s if isinstance(s, FileStep)][:1] == ["/etc/yum.repos.d/kubernetes.repo"]
    rt = runtime.steps(ctx, inv.host("master1"))
    docker = next(s for s in rt if isinstance(s, DnfPackagesStep))
    assert docker.repo == "docker-ce-stable" and set(docker.packages) == {"docker-ce", "docker-ce-cli", "containerd.io"}
    # cri-dockerd: upstream's static archive (its .deb is for Debian/Ubuntu only)
    assert any("cri-dockerd" in s.name and ".tgz" in s.name for s in rt)
    steps = prep.steps(ctx, inv.host("ha1"))
    assert [s.unit for s in steps if isinstance(s, ServiceStep)] == ["chronyd"]
    assert "/etc/chrony.conf" in [s.path for s in steps if isinstance(s, FileStep)]
    chrony = next(s for s in steps if isinstance(s, DnfPackagesStep))
    assert "gnupg" not in chrony.packages and chrony.repo is None


def test_dnf_step_installs_name_version_with_the_repositorys_excludes_lifted():
    step = DnfPackagesStep({"kubelet": "1.37.1", "kubeadm": "1.37.1", "socat": None}, repo="kubernetes")
    found = Fact("kubelet 1.37.1-150500.1.1\nkubeadm 1.36.4-150500.1.1\npackage socat is not installed", 2)
    change = step.change(found, set())
    assert change.plan == ("kubeadm", "socat")
    assert change.commands == ["dnf -y -q install --disableexcludes=kubernetes kubeadm-1.37.1 socat"]
    # 1.37.10 is not 1.37.1
    assert step.change(Fact("kubelet 1.37.10-150500.1.1\nkubeadm 1.37.1-1\nsocat 1.7.4.1-5.el9", 0), set()).plan == (
        "kubelet",)
    assert step.change(Fact("kubelet 1.37.1-1\nkubeadm 1.37.1-1\nsocat 1.7.4.1-5.el9", 0), set()) is None


def _rpm_env(tmp_path) -> dict:
    """rpm pointed at a database of its own (the ~/.rpmmacros rpm reads), holding one package built here."""
    need_tool("rpmbuild", "Debian: apt-get install rpm")
    home = tmp_path / "home"
    (home / "rpmbuild" / "SPECS").mkdir(parents=True)
    db = tmp_path / "rpmdb"
    (home / ".rpmmacros").write_text(f"%_dbpath {db}\n%_topdir {home}/rpmbuild\n")
    env = {**os.environ, "HOME": str(home)}
    spec = home / "rpmbuild" / "SPECS" / "kubeadm.spec"
    spec.write_text("Name: kubeadm\nVersion: 1.37.1\nRelease: 150500.1.1\nSummary: test\nLicense: ASL 2.0\n"
                    "BuildArch: noarch\n%description\ntest\n%files\n")
    subprocess.run(["rpmbuild", "-bb", "--quiet", str(spec)], env=env, check=True, capture_output=True, timeout=120)
    built = next((home / "rpmbuild" / "RPMS").rglob("*.rpm"))
    subprocess.run(["rpm", "--initdb"], env=env, check=True, timeout=60)
    subprocess.run(["rpm", "-i", "--justdb", "--nodeps", "--nosignature", str(built)], env=env, check=True,
                   capture_output=True, timeout=60)
    return env


def test_rpm_probe_parses_reals_rpm_answer_and_a_batch_splits_as_each_would_print(tmp_path):
    env = _rpm_env(tmp_path)

    def run(command):
        r = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=60)
        return Fact(r.stdout, r.returncode)

    one = RpmPackagesProbe(["kubeadm", "kubelet"])
    fact = run(one)
    assert fact.rc == 1 and "package kubelet is not installed" in fact.output     # rpm says so on stdout
    assert RpmPackagesProbe.parse(fact) == {"kubeadm": "1.37.1-150500.1.1"}
    other = RpmPackagesProbe(["kubelet"])
    commands, expand = batch_probes([one, other, "true"])
    assert commands[0].count("rpm -q") == 1
    answers = expand({c: run(c) for c in commands})
    assert RpmPackagesProbe.parse(answers[one]) == {"kubeadm": "1.37.1-150500.1.1"}
    assert RpmPackagesProbe.parse(answers[other]) == {}


@pytest.mark.parametrize("os_,expected", [(ROCKY9, "rhel"), (ALMA10, "rhel"), (BOOKWORM, "debian"),
                                          (OsInfo("ubuntu", "24.04", "noble", "debian", "amd64"), "debian")])
def test_family_follows_os_release_id_like(os_, expected):
    assert os_.family == expected
