"""The cni phase's steps (no hosts): flannel pinned by NIC, images from the image repository;
calico from the configured mirror, CRDs Established before the Installation."""

from __future__ import annotations

from pathlib import Path

import yaml

from provisioner.phases import cni
from provisioner.phases.base import UpContext
from provisioner.steps import CommandStep, FileStep, WaitStep
from provisioner.validation import check_inventory, load_inventory
from tests.support.fixed_secrets import fixed_secrets

REPO = Path(__file__).resolve().parents[1]


def _steps(inv):
    secrets = fixed_secrets()
    ctx = UpContext(inv=inv, secrets=secrets, state_dir=REPO)
    return cni.steps(ctx, inv.first_control_plane)


def _inventory(tmp_path, **changes) -> Path:
    data = yaml.safe_load((REPO / "inventories/lab.yaml").read_text())
    data.update(changes)
    path = tmp_path / "inv.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_flannel_never_reaches_for_an_address_and_takes_images_from_the_repository(tmp_path):
    for repo, image in (("registry.k8s.io", "ghcr.io/flannel-io/flannel:"),
                        ("registry.example.org/k8s", "registry.example.org/k8s/flannel:")):
        inv = load_inventory(_inventory(tmp_path, image_repository=repo))
        manifest = next(s.content for s in _steps(inv) if isinstance(s, FileStep) and s.path.endswith(".yml"))
        ds = next(d for d in yaml.safe_load_all(manifest) if d and d["kind"] == "DaemonSet")
        pod = ds["spec"]["template"]["spec"]
        assert pod["containers"][0]["args"] == ["--ip-masq", "--kube-subnet-mgr", "--iface=eth0"]
        assert not [a for c in pod["containers"] for a in c["args"] if a.startswith("--iface-can-reach")]
        assert {c["image"].rsplit(":", 1)[0] + ":" for c in pod["containers"] + pod["initContainers"]
                if "cni-plugin" not in c["image"]} == {image}


def test_calico_comes_from_the_mirror_and_waits_for_established_crds(tmp_path):
    mirrors = yaml.safe_load((REPO / "inventories/lab.yaml").read_text())["package_mirrors"]
    mirrors["calico"] = "http://172.31.250.1:8080/calico/v{version}/manifests"
    inv = load_inventory(_inventory(tmp_path, cni="calico", package_mirrors=mirrors))
    steps = _steps(inv)
    names = [s.name for s in steps]
    commands = " ".join(getattr(s, "command", "") for s in steps)
    assert f"http://172.31.250.1:8080/calico/v{cni.CALICO_VERSION}/manifests/tigera-operator.yaml" in commands
    assert "raw.githubusercontent.com" not in commands
    wait = next(s for s in steps if isinstance(s, WaitStep))
    assert "wait --for condition=established" in wait.command and "crd/installations.operator.tigera.io" in wait.command
    assert names.index(wait.name) < names.index("calico installation")
    assert names.index("calico operator") < names.index(wait.name)
    assert all("create -f" in s.command for s in steps if isinstance(s, CommandStep) and s.name.startswith("calico ")
               and s.name != "calico installation")


def test_calico_without_a_mirror_on_an_offline_site_is_refused(tmp_path):
    inv, problems = check_inventory(_inventory(tmp_path, cni="calico"))   # lab.yaml sets an apt mirror
    assert [(p.path, p.warning) for p in problems if "calico" in p.message] == [(("package_mirrors", "calico"), False)]
    inv, problems = check_inventory(_inventory(tmp_path, cni="calico", package_mirrors={}))  # online: upstream
    assert not [p for p in problems if "calico" in p.message]
