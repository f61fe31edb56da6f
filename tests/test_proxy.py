"""The inventory's proxy: what `up` writes for apt, Docker and the kubelet, NO_PROXY completed so that no
cluster address goes through the proxy (the same rules the proxy.no_proxy check judges hosts by)."""

from __future__ import annotations

from pathlib import Path


from provisioner import proxy
from provisioner.checks.proxyenv import bypassed, cluster_targets
from provisioner.phases import kube_packages, prep, runtime
from provisioner.phases.base import OsInfo, UpContext
from provisioner.render import render_cluster
from provisioner.steps import CommandStep, FileStep, PackagesStep, ServiceStep
from tests.support.fixed_secrets import fixed_secrets
from tests.support.lab_inventory import lab_model

REPO = Path(__file__).resolve().parents[1]
PROXY = {"http": "http://proxy.example.org:3128", "no_proxy": ["git.example.org"]}


def _inventory(tmp_path, **changes):
    return lab_model(tmp_path, **changes)


def _ctx(inv) -> UpContext:
    return UpContext(inv=inv, secrets=fixed_secrets(), state_dir=REPO,
                     os={h.hostname: OsInfo("debian", "12", "bookworm", "", "amd64") for h in inv.hosts})


def test_no_proxy_keeps_every_cluster_address_direct(tmp_path):
    inv = _inventory(tmp_path, proxy=PROXY)
    env = proxy.environment(inv)
    assert env["HTTPS_PROXY"] == env["https_proxy"] == env["HTTP_PROXY"] == "http://proxy.example.org:3128"
    assert all(bypassed(t, env["NO_PROXY"]) for t in cluster_targets(inv)), env["NO_PROXY"]
    for name in ("kubernetes.default.svc", "kube-dns.kube-system.svc.cluster.local", "master1", "git.example.org"):
        assert bypassed(name, env["no_proxy"]), name
    assert not bypassed("registry.k8s.io", env["NO_PROXY"])


def test_files_for_apt_docker_and_kubelet_only_with_a_proxy(tmp_path):
    files = {(f.host, f.path): f for f in render_cluster(_inventory(tmp_path, proxy=PROXY), fixed_secrets())}
    assert (("ha1", proxy.APT_CONF) in files and ("ha1", proxy.DOCKER_DROPIN) not in files
            and ("node1", proxy.KUBELET_DROPIN) in files and ("master1", proxy.DOCKER_DROPIN) in files)
    assert 'Acquire::https::Proxy "http://proxy.example.org:3128";' in files["ha1", proxy.APT_CONF].content
    dropin = files["node1", proxy.KUBELET_DROPIN].content
    assert dropin.startswith("# Managed") and "[Service]\nEnvironment=\"HTTP_PROXY=http://proxy.example.org:3128\"" in dropin
    assert files["node1", proxy.KUBELET_DROPIN].mode == 0o644
    plain = render_cluster(_inventory(tmp_path), fixed_secrets())
    assert not [f for f in plain if f.component == "proxy"]


def test_credentials_stay_private_and_percent_is_no_systemd_specifier(tmp_path):
    inv = _inventory(tmp_path, proxy={"https": "http://user:p%40ss@proxy.example.org:3128"})
    files = {(f.host, f.path): f for f in render_cluster(inv, fixed_secrets())}
    dropin = files["node1", proxy.DOCKER_DROPIN]
    assert dropin.mode == 0o600 and dropin.secret and files["ha1", proxy.APT_CONF].mode == 0o600
    assert "HTTPS_PROXY=http://user:p%%40ss@proxy.example.org:3128" in dropin.content


def _index(steps, kind, test=lambda s: True) -> int:
    return next(i for i, s in enumerate(steps) if isinstance(s, kind) and test(s))


def test_up_writes_them_before_apt_docker_and_the_kubelet_need_them(tmp_path):
    ctx = _ctx(_inventory(tmp_path, proxy=PROXY))
    node = ctx.inv.host("node1")
    steps = prep.steps(ctx, node)
    assert _index(steps, FileStep, lambda s: s.path == proxy.APT_CONF) < _index(steps, PackagesStep)
    steps = runtime.steps(ctx, node)
    dropin = _index(steps, FileStep, lambda s: s.path == proxy.DOCKER_DROPIN)
    assert steps[dropin].notify == "docker" and isinstance(steps[dropin + 1], CommandStep)
    assert "daemon-reload" in steps[dropin + 1].command
    assert dropin < _index(steps, ServiceStep, lambda s: s.unit == "docker")
    steps = kube_packages.steps(ctx, node)
    dropin = _index(steps, FileStep, lambda s: s.path == proxy.KUBELET_DROPIN)
    assert "systemctl try-restart kubelet" in steps[dropin + 1].command      # the kubelet runs once joined
    plain = _ctx(_inventory(tmp_path))
    assert not [s for s in prep.steps(plain, node) if isinstance(s, FileStep) and s.path == proxy.APT_CONF]


def test_the_check_passes_what_up_writes(tmp_path):
    """proxy.no_proxy reads the drop-ins `up` writes (as its fact command prints them: the lines naming a proxy)."""
    from provisioner.checks import NODE_CHECKS
    from provisioner.checks.base import PASS, Fact, Facts, Node

    inv = _inventory(tmp_path, proxy=PROXY)
    files = {(f.host, f.path): f for f in render_cluster(inv, fixed_secrets())}
    lines = [f"{path}: {line}" for path in (proxy.DOCKER_DROPIN, proxy.KUBELET_DROPIN)
             for line in files["node1", path].content.splitlines() if "proxy" in line.lower()]
    check = next(c for c in NODE_CHECKS if c.id == "proxy.no_proxy")
    node = Node(inv.host("node1"), inv, Facts({"proxy.env": Fact("\n".join(lines), 0)}))
    verdict = check.evaluate(node.facts, node)
    assert len(lines) == 14 and verdict.status == PASS, verdict      # 2 x (comment + 6 variables)
