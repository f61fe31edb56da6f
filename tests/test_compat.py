"""Docker Engine / cri-dockerd compatibility (provisioner/compat.py): the table, `validate`
refusing a pair the table knows is broken, and where the runtime phase gets cri-dockerd from.

Upstream facts the rows rest on (cited in compat.py too):
- moby/moby daemon/server/middleware/version.go refuses a client below the daemon's minimum API
  ("client version 1.43 is too old. Minimum supported API version is 1.44, ...");
- Docker 29.0.4 serves API 1.44-1.52 (docker/docs PR #23773);
- cri-dockerd 0.3.14 is built with the Docker client v24 (API 1.43), 0.3.16+ with v25 (1.44),
  with no version negotiation (Mirantis/cri-dockerd libdocker/client.go);
- cri-dockerd .debs exist only for packaging/deb/Makefile's distro/codename pairs, amd64 only
  before 0.4.2 (.github/workflows/build.yml job deb: matrix arch [amd64, arm64] from v0.4.2);
  the static archive cri-dockerd-VERSION.{amd64,arm64}.tgz exists for every release.
"""

from __future__ import annotations

import copy

import pytest
import yaml

from provisioner import compat
from provisioner.inventory import Inventory
from provisioner.phases.base import OsInfo, UpContext
from provisioner.steps import CommandStep, PackagesStep
from tests.support.cli import REPO, run_cli
from tests.test_render import fixed_secrets


def _inventory(**changes) -> Inventory:
    data = copy.deepcopy(yaml.safe_load((REPO / "inventories" / "seed-ha.yaml").read_text()))
    data.update(changes)
    return Inventory.model_validate(data)


def test_defaults_are_a_working_pair():
    inv = _inventory()
    assert (inv.docker_version, inv.cri_dockerd_version) == (compat.DEFAULT_DOCKER, compat.DEFAULT_CRI_DOCKERD)
    assert compat.pair_problem(inv.docker_version, inv.cri_dockerd_version) is None
    assert compat.newest_cri_dockerd_for(compat.DEFAULT_DOCKER) == compat.DEFAULT_CRI_DOCKERD


@pytest.mark.parametrize("docker,cri,ok", [
    ("29.0.4", "0.3.14", False),      # the issue: API 1.43 < 1.44
    ("29.0.4", "0.3.16", True),
    ("29.0.4", "0.4.4", True),
    ("28.1.1", "0.3.14", True),       # Docker 28 still accepts 1.24+
    ("27.3.1", "0.4.4", True),
    ("30.0.0", "0.3.14", True),       # unknown Docker line: the table does not judge it
    ("29.0.4", "0.3.99", True),       # unknown cri-dockerd: not judged either
])
def test_pair_problem(docker, cri, ok):
    assert (compat.pair_problem(docker, cri) is None) == ok


def test_validate_refuses_the_broken_pair_in_one_line(tmp_path):
    data = yaml.safe_load((REPO / "inventories" / "seed-ha.yaml").read_text())
    data["cri_dockerd_version"] = "0.3.14"
    data["kubernetes_version"] = "1.34.11"     # before 1.35 only the Docker API pair judges 0.3.x
    path = tmp_path / "inv.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    r = run_cli("validate", "-i", str(path))
    assert r.returncode == 2, r.stdout + r.stderr
    lines = [ln for ln in (r.stdout + r.stderr).splitlines() if "cri_dockerd_version" in ln]
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert str(path) in lines[0]
    assert "Docker 29.0.4 accepts 1.44-1.52" in lines[0] and "use cri_dockerd_version 0.3.16 or newer" in lines[0]
    data["docker_version"] = "28.1.1"       # the other way out the message names
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert run_cli("validate", "-i", str(path)).returncode == 0


@pytest.mark.parametrize("distro,codename,arch,source", [
    ("debian", "bookworm", "amd64", "deb"),
    ("debian", "bullseye", "amd64", "deb"),
    ("ubuntu", "jammy", "amd64", "deb"),
    ("ubuntu", "noble", "amd64", "archive"),     # no .deb for 24.04 at release tags
    ("debian", "trixie", "amd64", "archive"),    # nor for Debian 13
    ("debian", "bookworm", "arm64", "deb"),      # arm64 .debs from 0.4.2 (build.yml deb matrix)
    ("ubuntu", "noble", "arm64", "archive"),
])
def test_cri_dockerd_source(distro, codename, arch, source):
    assert compat.cri_dockerd_source(compat.DEFAULT_CRI_DOCKERD, distro, codename, arch) == source


def _runtime_steps(inv, os_):
    from provisioner.phases import runtime

    secrets = fixed_secrets()
    host = inv.control_planes[0]
    ctx = UpContext(inv=inv, secrets=secrets, state_dir=REPO,
                    os={host.hostname: os_})
    return runtime.steps(ctx, host)


def test_runtime_pins_and_holds_docker_and_takes_the_deb_on_bookworm_amd64():
    steps = _runtime_steps(_inventory(), OsInfo("debian", "12", "bookworm", "", "amd64"))
    docker = next(s for s in steps if isinstance(s, PackagesStep) and "docker-ce" in s.packages)
    assert docker.packages == {"docker-ce": "29.0.4", "docker-ce-cli": "29.0.4", "containerd.io": None}
    assert docker.hold
    cri = next(s for s in steps if isinstance(s, PackagesStep) and "cri-dockerd" in s.packages)
    assert cri.debs["cri-dockerd"][1] == ("https://github.com/Mirantis/cri-dockerd/releases/download/v0.4.4/"
                                          "cri-dockerd_0.4.4.3-0.debian-bookworm_amd64.deb")


@pytest.mark.parametrize("os_,arch", [(OsInfo("ubuntu", "24.04", "noble", "debian", "amd64"), "amd64"),
                                      (OsInfo("ubuntu", "24.04", "noble", "debian", "arm64"), "arm64")])
def test_runtime_installs_the_static_archive_where_no_deb_exists(os_, arch):
    steps = _runtime_steps(_inventory(), os_)
    assert not any(isinstance(s, PackagesStep) and "cri-dockerd" in s.packages for s in steps)
    cri = next(s for s in steps if isinstance(s, CommandStep) and s.name.startswith("cri-dockerd "))
    url = f"https://github.com/Mirantis/cri-dockerd/releases/download/v0.4.4/cri-dockerd-0.4.4.{arch}.tgz"
    assert url in cri.command and "/usr/bin/cri-dockerd" in cri.command
    assert cri.check == "[ \"$(/usr/bin/cri-dockerd --version 2>&1 | awk '{print $2; exit}')\" = 0.4.4 ]"


def test_docker_deb_version_format():
    # download.docker.com: epoch 5, revision 1, distro.version~codename (e.g. 5:29.3.1-1~ubuntu.24.04~noble)
    from provisioner.steps import version_matches

    v = compat.docker_deb_version("29.0.4", "ubuntu", "24.04", "noble")
    assert v == "5:29.0.4-1~ubuntu.24.04~noble"
    assert version_matches(v, "29.0.4") and not version_matches(
        compat.docker_deb_version("29.0.41", "debian", "12", "bookworm"), "29.0.4")


def test_readme_table_is_the_data():
    """docs/inventory.md's Docker/cri-dockerd table says what provisioner/compat.py says (no stale copy)."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "docs/inventory.md").read_text()
    rows = {}
    for line in readme.splitlines():
        m = re.match(r"\| (\d+\.\d+)\.x[^|]*\| ([\d.]+)-([\d.]+) \| ([^|]+) \|$", line)
        if m:
            rows[m.group(1)] = (m.group(2), m.group(3), re.findall(r"\d+\.\d+\.\d+", m.group(4)))
    data = {}
    for row in compat.table_rows():
        m = re.match(r"Docker ([\d.]+)\.x \(API ([\d.]+)-([\d.]+)\): cri-dockerd (.*)", row)
        data[m.group(1)] = (m.group(2), m.group(3), m.group(4).split(", "))
    assert rows == data


def _validate(tmp_path, **changes):
    data = yaml.safe_load((REPO / "inventories" / "seed-ha.yaml").read_text())
    data.update(changes)
    path = tmp_path / "inv.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path, run_cli("validate", "-i", str(path))


@pytest.mark.parametrize("cri", ["0.3.16", "0.3.17"])
def test_validate_refuses_cri_dockerd_03_from_kubernetes_135(tmp_path, cri):
    # kubeadm 1.35+ asks for RuntimeConfig (Mirantis/cri-dockerd core/docker_service.go: from
    # v0.3.17/v0.4.0); 0.4 is the line we require from 1.35 (compat.MIN_CRI_DOCKERD).
    path, r = _validate(tmp_path, cri_dockerd_version=cri, kubernetes_version="1.35.9")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    line = next(ln for ln in (r.stdout + r.stderr).splitlines() if "cri_dockerd_version" in ln)
    assert str(path) in line and f"cri-dockerd {cri} with Kubernetes 1.35" in line
    assert "use cri_dockerd_version 0.4.0 or newer" in line
    assert _validate(tmp_path, cri_dockerd_version=cri, kubernetes_version="1.34.11")[1].returncode == 0


def test_validate_refuses_calico_that_does_not_list_the_minor(tmp_path):
    # Calico 3.32 is tested on 1.34-1.36 (compat.CALICO, Calico's requirements page).
    path, r = _validate(tmp_path, cni="calico", calico_version="3.32.2", kubernetes_version="1.37.1")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    line = next(ln for ln in (r.stdout + r.stderr).splitlines() if "calico_version" in ln)
    assert "Calico 3.32.2 is not supported on Kubernetes 1.37" in line and "use calico_version 3.33.1" in line
    assert _validate(tmp_path, cni="calico", calico_version="3.32.2", kubernetes_version="1.36.4")[1].returncode == 0


@pytest.mark.parametrize("minor,calico", [(33, "3.31.7"), (34, "3.32.2"), (35, "3.33.1"), (37, "3.33.1")])
def test_calico_default_is_the_newest_that_lists_the_minor(minor, calico):
    from provisioner.phases import cni

    assert compat.calico_for_minor(minor) == calico
    inv = _inventory(cni="calico", kubernetes_version=f"1.{minor}.1")
    assert cni.calico_manifest_base(inv).endswith(f"/v{calico}/manifests")


def test_the_flannel_manifest_pins_the_cni_plugin_its_release_pins():
    # flannel-io/flannel v0.28.9 Documentation/kube-flannel.yml: flannel-cni-plugin:v1.9.1-flannel3,
    # and install-cni runs /opt/bin/install-conf.
    from provisioner.phases import cni

    inv = _inventory()
    text = cni.steps(_ctx(inv), inv.control_planes[0])[0].content
    assert f"flannel-cni-plugin:{compat.FLANNEL[compat.FLANNEL_VERSION].cni_plugin}" in text
    assert "flannel-cni-plugin:v1.9.1-flannel3" in text and "flannel:v0.28.9" in text
    assert "command: [/opt/bin/install-conf]" in text


def _ctx(inv):
    return UpContext(inv=inv, secrets=fixed_secrets(), state_dir=REPO, os={})


def test_arm64_deb_url_names_the_arch():
    steps = _runtime_steps(_inventory(), OsInfo("debian", "12", "bookworm", "", "arm64"))
    cri = next(s for s in steps if isinstance(s, PackagesStep) and "cri-dockerd" in s.packages)
    assert cri.debs["cri-dockerd"][1].endswith("cri-dockerd_0.4.4.3-0.debian-bookworm_arm64.deb")
