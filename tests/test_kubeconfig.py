"""`provisioner kubeconfig` (issue 21): a kubeconfig the admin machine can use - the endpoint's address
when its name does not resolve here - and --merge into ~/.kube/config beside what is there."""

from __future__ import annotations

import stat

import pytest
import yaml

from provisioner import cli
from tests.support.cli import REPO

SEED = str(REPO / "inventories/seed-ha.yaml")
# The shape kubeadm writes (cmd/kubeadm/app/phases/kubeconfig: one cluster, one user, one context).
ADMIN_CONF = {
    "apiVersion": "v1", "kind": "Config",
    "clusters": [{"name": "seed", "cluster": {"server": "https://kubeapi.example.org:6443",
                                                "certificate-authority-data": "Q0E="}}],
    "users": [{"name": "kubernetes-admin", "user": {"client-certificate-data": "Q0VSVA==", "client-key-data": "S0VZ"}}],
    "contexts": [{"name": "kubernetes-admin@seed", "context": {"cluster": "seed", "user": "kubernetes-admin"}}],
    "current-context": "kubernetes-admin@seed",
}


def _run(args, capsys) -> str:
    try:
        cli.app(args, standalone_mode=False)
    except SystemExit as exc:
        assert exc.code in (0, None)
    return capsys.readouterr().out.strip()


@pytest.fixture
def state(tmp_path):
    path = tmp_path / "state"
    path.mkdir()
    (path / "admin.conf").write_text(yaml.safe_dump(ADMIN_CONF))
    return path


def test_server_is_the_endpoint_address_when_its_name_does_not_resolve_here(state, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("provisioner.kubeconfig.resolves", lambda name: False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    kube = tmp_path / "home/.kube/config"
    kube.parent.mkdir(parents=True)
    kube.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "current-context": "other",
                                    "clusters": [{"name": "other", "cluster": {"server": "https://10.9.9.9:6443"}}],
                                    "users": [{"name": "other", "user": {"token": "t"}}],
                                    "contexts": [{"name": "other", "context": {"cluster": "other", "user": "other"}}]}))
    printed = _run(["kubeconfig", "-i", SEED, "--state-dir", str(state), "--merge"], capsys)
    assert printed == str(state / "kubeconfig")
    mine = yaml.safe_load((state / "kubeconfig").read_text())
    assert mine["clusters"][0]["cluster"]["server"] == "https://10.0.0.100:6443"
    assert mine["current-context"] == "seed" and mine["contexts"][0]["context"] == {"cluster": "seed", "user": "seed-admin"}
    assert stat.S_IMODE((state / "kubeconfig").stat().st_mode) == 0o600
    merged = yaml.safe_load(kube.read_text())
    assert [c["name"] for c in merged["contexts"]] == ["other", "seed"] and merged["current-context"] == "seed"
    assert stat.S_IMODE(kube.stat().st_mode) == 0o600
    _run(["kubeconfig", "-i", SEED, "--state-dir", str(state), "--merge"], capsys)     # again: replaced, not doubled
    assert [c["name"] for c in yaml.safe_load(kube.read_text())["clusters"]] == ["other", "seed"]
    assert (state / "admin.conf").read_text() == yaml.safe_dump(ADMIN_CONF), "the fetched admin.conf is left as is"


def test_a_name_that_resolves_here_is_kept(state, monkeypatch, capsys):
    monkeypatch.setattr("provisioner.kubeconfig.resolves", lambda name: name == "kubeapi.example.org")
    _run(["kubeconfig", "-i", SEED, "--state-dir", str(state)], capsys)
    mine = yaml.safe_load((state / "kubeconfig").read_text())
    assert mine["clusters"][0]["cluster"]["server"] == "https://kubeapi.example.org:6443"
