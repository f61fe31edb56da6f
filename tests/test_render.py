"""Rendered configs pass the real checkers, match the golden files, and follow the runbook."""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path

import pytest
import yaml

from provisioner.inventory import Inventory
from provisioner.output import write_tree
from provisioner.render import render_cluster
from provisioner.secrets import SecretStore
from provisioner.validation import load_inventory
from tests.support import checkers
from tests.support.fixed_secrets import GOLDEN, fixed_secrets
from tests.support.skips import skip_or_fail

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = ["seed-ha", "colocated", "single", "lab", "vagrant", "bastion"]
IN_CI = os.environ.get("CI") == "true"


def _need(tool: str) -> None:
    if not checkers.have(tool):
        if IN_CI:
            pytest.fail(f"{tool} is not installed - .ci/run must install it")
        skip_or_fail(f"{tool} not installed (apt-get install {tool})")


@pytest.fixture(scope="module", params=EXAMPLES)
def rendered(request, tmp_path_factory) -> tuple[Inventory, Path]:
    inv = load_inventory(REPO / "inventories" / f"{request.param}.yaml")
    out = tmp_path_factory.mktemp(request.param) / "out"
    write_tree(render_cluster(inv, fixed_secrets()), out, inv.cluster_name)
    return inv, out


def test_haproxy_accepts_every_lb_config(rendered):
    _need("haproxy")
    inv, out = rendered
    for lb in inv.load_balancers:
        ok, output = checkers.haproxy_check(out / lb.hostname / "etc/haproxy/haproxy.cfg")
        assert ok, f"{lb.hostname}: {output}"


def test_keepalived_accepts_every_lb_config(rendered):
    _need("keepalived")
    inv, out = rendered
    for lb in inv.load_balancers:
        base = out / lb.hostname / "etc/keepalived"
        ok, output = checkers.keepalived_check(base / "keepalived.conf", base / "check_haproxy.sh",
                                               "/etc/keepalived/check_haproxy.sh", lb.nic)
        assert ok, f"{lb.hostname}: {output}"


def test_chronyd_accepts_every_chrony_config(rendered):
    _need("chronyd")
    inv, out = rendered
    for host in inv.hosts:
        ok, output = checkers.chrony_check(out / host.hostname / "etc/chrony/chrony.conf")
        assert ok, f"{host.hostname}: {output}"


def test_systemd_accepts_cri_dockerd_units(rendered):
    _need("systemd-analyze")
    inv, out = rendered
    for node in inv.kube_nodes:
        units = out / node.hostname / "etc/systemd/system"
        ok, output = checkers.systemd_verify([units / "cri-docker.socket", units / "cri-docker.service"])
        assert ok, f"{node.hostname}: {output}"


def test_checkers_reject_broken_configs(tmp_path):
    """The checkers above are not rubber stamps: each rejects a broken file."""
    _need("haproxy"), _need("keepalived"), _need("chronyd")
    inv = load_inventory(REPO / "inventories/seed-ha.yaml")
    out = tmp_path / "out"
    write_tree(render_cluster(inv, fixed_secrets()), out, inv.cluster_name)
    lb = inv.load_balancers[0]
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text((out / lb.hostname / "etc/haproxy/haproxy.cfg").read_text().replace("balance roundrobin", "balance nosuch"))
    assert not checkers.haproxy_check(cfg)[0]
    conf = tmp_path / "keepalived.conf"
    conf.write_text((out / lb.hostname / "etc/keepalived/keepalived.conf").read_text().replace("priority 100", "priority 999"))
    script = out / lb.hostname / "etc/keepalived/check_haproxy.sh"
    assert not checkers.keepalived_check(conf, script, "/etc/keepalived/check_haproxy.sh", lb.nic)[0]
    chrony = tmp_path / "chrony.conf"
    chrony.write_text("pool pool.ntp.org iburst nonsense\n")
    assert not checkers.chrony_check(chrony)[0]


def test_kubeadm_documents_match_upstream_types(rendered):
    from tests.kubeadm_types import check_stream

    inv, out = rendered
    for node in inv.kube_nodes:
        name = "kubeadm-init.yaml" if node == inv.first_control_plane else "kubeadm-join.yaml"
        text = (out / node.hostname / "etc/kubernetes/provisioner" / name).read_text()
        assert check_stream(text, minor=inv.version.minor) == [], node.hostname


# Every accepted minor: the three maintained ones and the two accepted with an end-of-life warning.
ACCEPTED = ["1.33.13", "1.34.11", "1.35.8", "1.36.3", "1.37.1"]


@pytest.mark.parametrize("version", ACCEPTED)
def test_kubeadm_config_is_v1beta4_for_every_accepted_minor(version):
    """v1beta4 everywhere: 1.33-1.36 read it and 1.37 reads nothing else (v1beta3 removed in 1.37)."""
    from tests.kubeadm_types import check_stream

    inv = _variant("seed-ha", kubernetes_version=version)
    files = {(f.host, f.path): f.content for f in render_cluster(inv, fixed_secrets())}
    kubeadm_files = {k: v for k, v in files.items() if k[1].startswith("/etc/kubernetes/provisioner/kubeadm-")}
    assert kubeadm_files
    for (host, path), text in kubeadm_files.items():
        docs = list(yaml.safe_load_all(text))
        assert docs[0]["apiVersion"] == "kubeadm.k8s.io/v1beta4"
        assert check_stream(text, minor=inv.version.minor) == [], (host, path)


# --- Kubernetes schema validation of the manifests we render ---------------------------------
#
# kubernetes-validate (PyPI, maintained; 1.37.0 ships the OpenAPI-derived JSON schemas of
# Kubernetes 1.35.0, 1.36.0 and 1.37.0 - and older - and works offline). strict=True refuses
# fields the schema does not define, as `kubectl apply --validate=strict` does. CRD-backed kinds
# (calico's operator.tigera.io Installation) have no schema in it: they are checked in
# test_calico_installation_shape instead.

def _cni_manifests(inv: Inventory) -> dict[str, str]:
    """path -> YAML text of every manifest the cni phase writes for ``inv`` (as `up` renders them)."""
    from provisioner.phases import cni
    from provisioner.phases.base import UpContext
    from provisioner.steps import FileStep

    secrets = fixed_secrets()
    ctx = UpContext(inv=inv, secrets=secrets, state_dir=REPO)
    steps = cni.steps(ctx, inv.first_control_plane)
    return {s.path: s.content for s in steps
            if isinstance(s, FileStep) and s.path.endswith((".yml", ".yaml"))}


def _schema_errors(text: str, version: str) -> list[str]:
    import kubernetes_validate

    errors = []
    for n, doc in enumerate(yaml.safe_load_all(text), start=1):
        if doc is None:
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            if "." in doc.get("apiVersion", "").split("/")[0] and not doc["apiVersion"].endswith(".k8s.io/v1"):
                continue          # a CRD kind (operator.tigera.io/...): no upstream schema exists
            errors.append(f"document {n} ({doc.get('kind')}): no schema for {doc.get('apiVersion')} in Kubernetes {version}")
        except kubernetes_validate.ValidationError as exc:
            where = "/".join(str(p) for p in exc.path)
            errors.append(f"document {n} ({doc.get('kind')}) {where}: {exc.message}")
    return errors


@pytest.mark.parametrize("example", ["seed-ha", "colocated", "single", "lab", "vagrant"])
@pytest.mark.parametrize("version", ["1.35.8", "1.36.3", "1.37.1"])
def test_cni_manifests_match_the_kubernetes_schemas(example, version):
    for cni in ("flannel", "calico"):
        manifests = _cni_manifests(_variant(example, kubernetes_version=version, cni=cni))
        if cni == "flannel":
            assert any(p.endswith("kube-flannel.yml") for p in manifests), manifests.keys()
        for path, text in manifests.items():
            assert _schema_errors(text, version) == [], (example, cni, path)


def test_schema_validation_rejects_a_broken_manifest():
    """Not a rubber stamp: a misplaced field and a wrong type in the flannel DaemonSet both fail."""
    inv = _variant("seed-ha", cni="flannel")
    (text,) = [t for p, t in _cni_manifests(inv).items() if p.endswith("kube-flannel.yml")]
    assert _schema_errors(text, "1.37.1") == []
    assert "hostNetwork" in text
    misplaced = text.replace("hostNetwork: true", "hostNetwrok: true", 1)
    assert any("hostNetwrok" in e for e in _schema_errors(misplaced, "1.37.1"))
    docs = list(yaml.safe_load_all(text))
    ds = next(d for d in docs if d and d["kind"] == "DaemonSet")
    ds["spec"]["template"]["spec"]["hostNetwork"] = "yes"
    assert any("DaemonSet" in e for e in _schema_errors(yaml.safe_dump_all(docs), "1.37.1"))


def test_calico_installation_shape():
    """The Installation has no Kubernetes schema (a tigera CRD); check what we render of it."""
    inv = _variant("seed-ha", cni="calico")
    (f,) = [f for f in render_cluster(inv, fixed_secrets()) if f.path.endswith("calico-installation.yaml")]
    (doc,) = [d for d in yaml.safe_load_all(f.content) if d]
    assert (doc["apiVersion"], doc["kind"], doc["metadata"]["name"]) == ("operator.tigera.io/v1", "Installation", "default")
    assert doc["spec"]["calicoNetwork"]["ipPools"][0]["cidr"] == str(inv.networking.pod_cidr)


def _variant(example: str, **changes) -> Inventory:
    data = yaml.safe_load((REPO / "inventories" / f"{example}.yaml").read_text())
    data = copy.deepcopy(data)
    data.update(changes)
    return Inventory.model_validate(data)


def _docs(inv: Inventory, host: str, path: str) -> list[dict]:
    (f,) = [f for f in render_cluster(inv, fixed_secrets()) if f.host == host and f.path == path]
    return list(yaml.safe_load_all(f.content))


def test_joins_pin_the_ca_and_never_skip_verification():
    inv = load_inventory(REPO / "inventories/seed-ha.yaml")
    secrets = fixed_secrets()
    for host in ("master2", "node1"):
        (join,) = _docs(inv, host, "/etc/kubernetes/provisioner/kubeadm-join.yaml")
        discovery = join["discovery"]["bootstrapToken"]
        assert discovery["caCertHashes"] == [secrets.ca_cert_hash]
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", secrets.ca_cert_hash)
        assert "unsafeSkipCAVerification" not in discovery
        assert discovery["apiServerEndpoint"] == "kubeapi.example.org:6443"
    (cp_join,) = _docs(inv, "master2", "/etc/kubernetes/provisioner/kubeadm-join.yaml")
    (worker_join,) = _docs(inv, "node1", "/etc/kubernetes/provisioner/kubeadm-join.yaml")
    assert cp_join["controlPlane"]["certificateKey"] == secrets.certificate_key
    assert cp_join["controlPlane"]["localAPIEndpoint"]["advertiseAddress"] == "10.0.0.102"
    assert "controlPlane" not in worker_join


def test_v1beta4_uses_name_value_args():
    inv = _variant("seed-ha", kubernetes_version="1.35.8")
    init = _docs(inv, "master1", "/etc/kubernetes/provisioner/kubeadm-init.yaml")[0]
    assert init["nodeRegistration"]["kubeletExtraArgs"] == [{"name": "node-ip", "value": "10.0.0.101"}]


def test_init_carries_the_runbook_values():
    inv = load_inventory(REPO / "inventories/seed-ha.yaml")
    init, cluster, kubelet, proxy = _docs(inv, "master1", "/etc/kubernetes/provisioner/kubeadm-init.yaml")
    assert init["nodeRegistration"]["criSocket"] == "unix:///run/cri-dockerd.sock"
    assert init["localAPIEndpoint"]["advertiseAddress"] == "10.0.0.101"
    assert init["bootstrapTokens"][0]["ttl"] == "24h0m0s", "tokens expire by default"
    assert cluster["controlPlaneEndpoint"] == "kubeapi.example.org:6443"
    assert cluster["kubernetesVersion"] == "v1.37.1"
    assert cluster["imageRepository"] == "registry.aliyuncs.com/google_containers"
    assert cluster["networking"] == {"podSubnet": "10.244.0.0/16", "serviceSubnet": "10.96.0.0/12",
                                     "dnsDomain": "cluster.local"}
    assert "10.0.0.100" in cluster["apiServer"]["certSANs"]
    assert kubelet["cgroupDriver"] == "systemd" and kubelet["clusterDNS"] == ["10.96.0.10"]
    assert proxy["clusterCIDR"] == "10.244.0.0/16"


def test_pause_image_matches_version_and_mirror():
    for version, pause in [("1.33.13", "3.10"), ("1.35.8", "3.10.1"), ("1.36.3", "3.10.2"), ("1.37.1", "3.10.2")]:
        inv = _variant("seed-ha", kubernetes_version=version)
        (unit,) = [f for f in render_cluster(inv, fixed_secrets())
                   if f.host == "node1" and f.path.endswith("cri-docker.service")]
        assert f"--pod-infra-container-image registry.aliyuncs.com/google_containers/pause:{pause}\n" in unit.content


def test_keepalived_pair_follows_the_runbook():
    inv = load_inventory(REPO / "inventories/seed-ha.yaml")
    files = {(f.host, f.path): f for f in render_cluster(inv, fixed_secrets())}
    ha1 = files[("ha1", "/etc/keepalived/keepalived.conf")].content
    ha2 = files[("ha2", "/etc/keepalived/keepalived.conf")].content
    assert "state MASTER" in ha1 and "priority 100" in ha1
    assert "state BACKUP" in ha2 and "priority 80" in ha2
    for text in (ha1, ha2):
        assert "virtual_router_id 66" in text and "weight -30" in text
        assert "10.0.0.100/24 dev ens33 label ens33:1" in text
    assert "unicast_peer {\n        10.0.0.108\n" in ha1
    script = files[("ha1", "/etc/keepalived/check_haproxy.sh")]
    assert script.mode == 0o755
    cfg = files[("ha1", "/etc/haproxy/haproxy.cfg")].content
    assert "bind 10.0.0.100:6443" in cfg
    assert all(f"server master{i} 10.0.0.10{i}:6443" in cfg for i in (1, 2, 3))
    assert "bind 127.0.0.1:8888" in cfg, "stats are bound to localhost by default"
    assert files[("ha1", "/etc/sysctl.d/90-provisioner-lb.conf")].content.count("net.ipv4.ip_nonlocal_bind = 1") == 1


def test_colocated_runs_lb_on_control_planes_on_8443():
    inv = load_inventory(REPO / "inventories/colocated.yaml")
    files = {(f.host, f.path): f for f in render_cluster(inv, fixed_secrets())}
    for cp in ("cp1", "cp2", "cp3"):
        assert "bind 192.168.56.50:8443" in files[(cp, "/etc/haproxy/haproxy.cfg")].content
    assert ("w1", "/etc/haproxy/haproxy.cfg") not in files
    priorities = [re.search(r"priority (\d+)", files[(cp, "/etc/keepalived/keepalived.conf")].content).group(1)
                  for cp in ("cp1", "cp2", "cp3")]
    assert priorities == ["100", "90", "80"]


def test_secret_files_are_private():
    inv = load_inventory(REPO / "inventories/seed-ha.yaml")
    for f in render_cluster(inv, fixed_secrets()):
        if f.origin:    # content fetched or copied on the host: tests/test_desired_lab.py reads it there
            continue
        holds_secret = any(v in f.content for v in fixed_secrets().values())
        assert holds_secret == f.secret, f"{f.host}:{f.path}"
        if f.secret:
            assert f.mode == 0o600, f"{f.host}:{f.path}"


def test_containerd_is_refused_at_render():
    from provisioner.errors import RenderError

    with pytest.raises(RenderError, match="containerd is not yet supported"):
        render_cluster(_variant("seed-ha", runtime="containerd"), fixed_secrets())


def test_golden_seed_ha(tmp_path):
    """seed-ha renders byte for byte as the reviewed golden files (UPDATE_GOLDEN=1 rewrites them)."""
    inv = load_inventory(REPO / "inventories/seed-ha.yaml")
    files = [f for f in render_cluster(inv, fixed_secrets()) if not f.origin]    # origin: no content to write
    golden = GOLDEN / "seed-ha"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        write_tree(files, golden, inv.cluster_name)
        os.chmod(golden, 0o755)
    expected = {str(p.relative_to(golden)) for p in golden.rglob("*") if p.is_file() and p.name != "manifest.json"}
    actual = {f"{f.host}{f.path}" for f in files}
    assert actual == expected
    for f in files:
        assert (golden / f.host / f.path.lstrip("/")).read_text() == f.content, f"{f.host}:{f.path} differs from golden"


def test_render_reuses_stored_secrets(tmp_path):
    inv = load_inventory(REPO / "inventories/lab.yaml")
    store = SecretStore(tmp_path / "state")
    first = render_cluster(inv, store.load_or_create(inv.cluster_name))
    second = render_cluster(inv, SecretStore(tmp_path / "state").load_or_create(inv.cluster_name))
    assert [f.content for f in first] == [f.content for f in second]
    assert (tmp_path / "state/secrets.yaml").stat().st_mode & 0o777 == 0o600


def test_standin_kubeadm_expects_the_pause_image_we_render():
    """The lab's stand-in kubeadm (tests/standins/build.py MINOR_DEFAULTS) and cri-dockerd's unit
    (provisioner/versions.py PAUSE_VERSIONS) must name the same pause image per minor, or the lab
    would hide the preflight warning real kubeadm prints."""
    from provisioner.versions import DEFAULT_VERSION, PAUSE_VERSIONS
    from tests.standins import build

    for minor, pause in PAUSE_VERSIONS.items():
        assert build.MINOR_DEFAULTS[minor]["pause"] == pause, minor
    assert build.KUBE_VERSIONS[0] == DEFAULT_VERSION, "the lab builds the default version first"
