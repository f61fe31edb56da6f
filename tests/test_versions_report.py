"""provisioner.versions_report: the table `provisioner versions [--json]` prints, read from
versions.py (MINORS) and compat.py (CALICO, CRI_DOCKERD, DOCKER, FLANNEL) - no copy of the data."""

from __future__ import annotations

import json

from provisioner import compat, versions
from provisioner.versions_report import versions_report


def test_json_has_every_minor_with_its_pairs():
    data = json.loads(versions_report(True))
    assert data["default_kubernetes"] == versions.DEFAULT_VERSION
    rows = {m["minor"]: m for m in data["minors"]}
    assert set(rows) == {f"1.{m}" for m in (*versions.MINORS, *versions.PRERELEASE)}
    assert rows["1.38"]["status"] == "pre-release" and rows["1.38"]["opt_in"] == "PROVISIONER_PRERELEASE=1.38"
    assert rows["1.37"] | {"source": ""} == {
        "minor": "1.37", "status": "maintained", "default": "1.37.1", "end_of_life": "2027-10-28",
        "pause": "3.10.2", "calico": "3.33.1", "min_cri_dockerd": "0.4.0", "source": ""}
    assert rows["1.34"]["status"] == "end-of-life" and rows["1.34"]["min_cri_dockerd"] is None
    assert rows["1.34"]["calico"] == "3.32.2"
    assert all(m["source"] for m in data["minors"])          # every row says where it was read
    assert data["docker"][0] == {"docker": "29.0.x", "api": "1.44-1.52", "cri_dockerd": ["0.3.16", "0.4.0", "0.4.4"]}
    assert data["calico"]["3.32"] == {"version": "3.32.2", "kubernetes": ["1.34", "1.35", "1.36"]}
    assert data["flannel"] == {"version": "v0.28.9", "cni_plugin": "v1.9.1-flannel3"}


def test_text_shows_the_same_rows():
    text = versions_report(False)
    lines = text.splitlines()
    assert lines[0] == (f"Default: Kubernetes {versions.DEFAULT_VERSION}, Docker {compat.DEFAULT_DOCKER}, "
                        f"cri-dockerd {compat.DEFAULT_CRI_DOCKERD}")
    row = next(ln for ln in lines if ln.startswith("1.35 "))
    assert row.split() == ["1.35", "maintained", "1.35.9", "2027-02-28", "3.10.1", "3.33.1", ">=", "0.4.0"]
    assert any(ln.split()[:2] == ["29.0.x", "1.44-1.52"] for ln in lines)
    assert "flannel v0.28.9 with flannel-cni-plugin v1.9.1-flannel3" in lines


def test_a_new_minor_row_appears_without_code(monkeypatch):
    # Adding a minor is a data change: a row in versions.MINORS shows up in the report.
    row = versions.Minor(0, "2028-02-28", "3.10.2", "maintained", "test row")
    monkeypatch.setitem(versions.MINORS, 39, row)
    data = json.loads(versions_report(True))
    added = next(m for m in data["minors"] if m["minor"] == "1.39")
    assert added["default"] == "1.39.0" and added["min_cri_dockerd"] == "0.4.0"


def test_prerelease_minor_needs_the_opt_in(tmp_path):
    # 1.38 is PRE-RELEASE (versions.PRERELEASE): refused unless PROVISIONER_PRERELEASE=1.38, then a warning.
    import yaml

    from tests.support.cli import REPO, run_cli

    data = yaml.safe_load((REPO / "inventories" / "seed-ha.yaml").read_text())
    data["kubernetes_version"] = "1.38.0"
    path = tmp_path / "inv.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    r = run_cli("validate", "-i", str(path), env={"PROVISIONER_PRERELEASE": ""})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "1.38 is available as a pre-release with PROVISIONER_PRERELEASE=1.38" in r.stdout + r.stderr
    r = run_cli("validate", "-i", str(path), env={"PROVISIONER_PRERELEASE": "1.38"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PRE-RELEASE" in r.stdout + r.stderr and "not for production" in r.stdout + r.stderr


def test_prerelease_renders_like_its_predecessor(monkeypatch):
    # Adding a minor is data: with the opt-in, 1.38 renders (pause from its row, v1beta4) and the rendered
    # kubeadm documents pass the type checker for 1.38 (tests/kubeadm_types/minors.py).
    from provisioner.versions import KubeVersion, kubeadm_api_version, pause_version

    v = KubeVersion.parse("1.38.0")
    assert (kubeadm_api_version(v), pause_version(v)) == ("kubeadm.k8s.io/v1beta4", "3.10.2")
    monkeypatch.setattr(versions, "PRERELEASE_OPTED", (38,))
    assert versions.support_of(v) == "pre-release" and versions.is_supported(v)
    from provisioner.render import render_cluster
    from tests.kubeadm_types import check_stream
    from tests.test_render import _variant, fixed_secrets

    inv = _variant("seed-ha", kubernetes_version="1.38.0")
    files = [f for f in render_cluster(inv, fixed_secrets()) if f.path.startswith("/etc/kubernetes/provisioner/kubeadm-")]
    assert files and all(check_stream(f.content, minor=38) == [] for f in files)
    assert any("pause:3.10.2" in f.content for f in render_cluster(inv, fixed_secrets())
               if f.path.endswith("cri-docker.service"))
