"""The pod network on the lab: `up` with flannel in load-balancer modes none (single.yaml's
layout) and colocated, and with calico from manifests served by the lab repository.

Every node runs the stand-in flanneld (tests/standins/src/flanneld.py, started by the
kubelet package's standin-pods.service): it applies flannel's interface selection
(flannel-io/flannel main.go, pkg/ipmatch/match.go, pkg/ip/iface.go) to the DaemonSet
arguments actually applied, on the node's real interfaces, and the stand-in API keeps the
node NotReady when flanneld would pick `lo` or an address that is not the node's.
`--iface-can-reach=<endpoint>` picks `lo` on the node that holds the endpoint address: the
control plane in mode none, the VIP holder in colocated mode.

Three disjoint clusters on the lab's nodes (the module gets a freshly booted lab):
single: master1 + node1; colocated: master2, master3, ha1 + node2; calico: ha2 + node3.
"""

from __future__ import annotations

import shlex
import time

import pytest
import yaml

from provisioner.phases.verify import nodes_ready
from tests.lab.util import LabError, wait_for
from tests.support.cli import REPO, run_cli
from tests.support.lab_inventory import lab_cli_args

KUBECTL = "kubectl --kubeconfig=/etc/kubernetes/admin.conf"
READY = ('{range .items[*]}{.metadata.name}{"\\t"}{.status.conditions[?(@.type=="Ready")].status}'
         '{"\\t"}{.status.conditions[?(@.type=="Ready")].message}{"\\n"}{end}')


def inventory(lab, directory, name: str, mode: str, cps: list[str], workers: list[str], **extra):
    """inventories/lab.yaml cut down to the named hosts, in another load-balancer mode."""
    data = yaml.safe_load((REPO / "inventories/lab.yaml").read_text())
    data["host_defaults"]["ssh"]["key"] = str(lab.key_path)
    data["cluster_name"] = name
    data["load_balancer"] = {"mode": mode}
    data["control_plane_endpoint"] = {"name": "kubeapi"}
    if mode == "colocated":
        data["control_plane_endpoint"]["address"] = lab.vip
    by_name = {h["hostname"]: h for h in data["hosts"]}
    data["hosts"] = ([{**by_name[h], "roles": ["control-plane"]} for h in cps]
                     + [{**by_name[h], "roles": ["worker"]} for h in workers])
    data.pop("registry", None)
    data.update(extra)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "inventory.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def up(lab, inv, state):
    r = run_cli("up", "-i", str(inv), *lab_cli_args(lab, state), timeout=900)
    print(r.stdout[-2500:], r.stderr[-4000:])
    return r


def node_status(lab, cp: str) -> dict:
    """name -> (Ready status, message), as kubectl on the first control plane prints them."""
    with lab.ssh(cp) as s:
        r = s.sudo(f"{KUBECTL} get nodes -o jsonpath={shlex.quote(READY)}")
    assert r.rc == 0, r.stdout + r.stderr
    return {line.split("\t")[0]: tuple(line.split("\t")[1:3]) for line in r.stdout.splitlines() if line.strip()}


def wait_status(lab, cp: str, node: str, ready: str, timeout: float = 60, saying: str = "") -> tuple:
    """Poll until ``node``'s Ready status is ``ready`` (and its message holds ``saying``)."""
    deadline = time.monotonic() + timeout
    while True:
        st = node_status(lab, cp).get(node, ("", ""))
        if st[0] == ready and saying in st[1]:
            return st
        assert time.monotonic() < deadline, f"{node} still {st} after {timeout}s (want Ready={ready})"
        time.sleep(1)


def wait_nodes(lab, cp: str, want: dict, timeout: float = 120) -> dict:
    """Poll until every node's (Ready status, message) - or only its status where ``want`` gives a string - is
    what ``want`` says: Ready flips node by node, so one read right after ``up`` may see a node still False."""
    def now():
        st = node_status(lab, cp)
        got = {n: (s if isinstance(want.get(n), tuple) else s[0]) for n, s in st.items()}
        return st if got == want else None
    try:
        return wait_for(now, timeout=timeout, interval=1, what=f"nodes {want}")
    except LabError as exc:
        raise AssertionError(f"{exc}: last read {node_status(lab, cp)}") from None


def vip_holder(lab, names: tuple, timeout: float = 60) -> str:
    """The node that holds the VIP, polled: keepalived may still be moving it."""
    def holder():
        return next((n for n in names if f" {lab.vip}/" in lab.nodes[n].exec(
            ["ip", "-4", "-o", "addr", "show", "dev", "eth0"]).stdout), None)
    return wait_for(holder, timeout=timeout, interval=0.5, what=f"a VIP holder among {names}")


def flanneld_args(lab, cp: str) -> list:
    """The kube-flannel container's args in the manifest the product applied."""
    with lab.ssh(cp) as s:
        text = s.sudo("cat /etc/kubernetes/provisioner/cni/kube-flannel.yml", check=True).stdout
    ds = next(d for d in yaml.safe_load_all(text) if d and d.get("kind") == "DaemonSet")
    return ds["spec"]["template"]["spec"]["containers"][0]["args"]


def break_with_iface_can_reach(lab, cp: str, address: str) -> None:
    """Re-apply the product's flannel manifest with the old --iface-can-reach=<endpoint> argument."""
    path = "/etc/kubernetes/provisioner/cni/kube-flannel.yml"
    with lab.ssh(cp) as s:
        text = s.sudo(f"cat {path}", check=True).stdout
        old = yaml.safe_load_all(text)
        docs = list(old)
        ds = next(d for d in docs if d and d.get("kind") == "DaemonSet")
        c = ds["spec"]["template"]["spec"]["containers"][0]
        c["args"] = [a for a in c["args"] if not a.startswith("--iface")] + [f"--iface-can-reach={address}"]
        s.put(yaml.safe_dump_all(docs).encode(), "/tmp/flannel-can-reach.yml", mode=0o644)
        r = s.sudo(f"{KUBECTL} apply -f /tmp/flannel-can-reach.yml")
        assert r.rc == 0, r.stdout + r.stderr


def restore(lab, cp: str) -> None:
    with lab.ssh(cp) as s:
        r = s.sudo(f"{KUBECTL} apply -f /etc/kubernetes/provisioner/cni/kube-flannel.yml")
        assert r.rc == 0, r.stdout + r.stderr


@pytest.fixture(scope="module")
def cni_lab(pristine_lab):
    return pristine_lab


def test_single_mode_flannel_every_node_ready(cni_lab, tmp_path):
    """single.yaml's layout (mode none: the endpoint is master1's own address)."""
    lab = cni_lab
    inv = inventory(lab, tmp_path, "single", "none", ["master1"], ["node1"])
    r = up(lab, inv, tmp_path / "state")
    assert r.returncode == 0, "up failed (a node NotReady?): " + r.stderr[-3000:]
    wait_nodes(lab, "master1", {"master1": ("True", "kubelet is posting ready status"),
                                "node1": ("True", "kubelet is posting ready status")})
    assert flanneld_args(lab, "master1") == ["--ip-masq", "--kube-subnet-mgr", "--iface=eth0"]
    with lab.ssh("master1") as s:     # the lab's kubectl is the real one (tests/standins/real_kubectl.py)
        assert s.run("head -c 4 /usr/bin/kubectl | od -An -c").stdout.split() == ["177", "E", "L", "F"]

    # The old argument, --iface-can-reach=<endpoint>: on master1 the route to its own address
    # is lo (flannel-io/flannel pkg/ip/iface.go GetInterfaceBySpecificIPRouting): NotReady.
    break_with_iface_can_reach(lab, "master1", lab.nodes["master1"].address)
    try:
        status, message = wait_status(lab, "master1", "master1", "False", saying="flanneld")
        print(f"master1 with --iface-can-reach: {message}")
        assert "interface lo (loopback" in message
        wait_status(lab, "master1", "node1", "True")                 # node1 routes to master1 over eth0
        with lab.ssh("master1") as s:                                 # what verify prints when it times out
            r = s.sudo(f"bash -c {shlex.quote(nodes_ready(2))}")    # up runs every step under bash (remote.py)
        assert r.rc != 0 and "node master1 not Ready: " in r.stderr and "loopback" in r.stderr, r.stderr
    finally:
        restore(lab, "master1")
    wait_status(lab, "master1", "master1", "True")


def test_colocated_mode_flannel_every_node_ready(cni_lab, tmp_path):
    """Colocated: keepalived + haproxy on the control planes; the VIP holder holds the endpoint."""
    lab = cni_lab
    inv = inventory(lab, tmp_path, "colo", "colocated", ["master2", "master3", "ha1"], ["node2"])
    r = up(lab, inv, tmp_path / "state")
    assert r.returncode == 0, "up failed (a node NotReady?): " + r.stderr[-3000:]
    wait_nodes(lab, "master2", {"master2": "True", "master3": "True", "ha1": "True", "node2": "True"})
    holder = vip_holder(lab, ("master2", "master3", "ha1"))
    break_with_iface_can_reach(lab, "master2", lab.vip)
    try:
        status, message = wait_status(lab, "master2", holder, "False", saying="flanneld")
        print(f"VIP holder {holder} with --iface-can-reach={lab.vip}: {message}")
        assert "loopback" in message
    finally:
        restore(lab, "master2")
    wait_status(lab, "master2", holder, "True")


# STAND-IN calico manifests (tests only): the objects of calico v3.32's
# v1_crd_projectcalico_org.yaml and tigera-operator.yaml the product's steps touch.
def _crd(name: str, group: str, kind: str, scope: str = "Cluster") -> dict:
    plural = name.split(".")[0]
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": name},
            "spec": {"group": group, "scope": scope, "names": {"kind": kind, "plural": plural},
                     "versions": [{"name": "v1", "served": True, "storage": True}]}}


CALICO_CRDS = [_crd("ippools.crd.projectcalico.org", "crd.projectcalico.org", "IPPool"),
               _crd("felixconfigurations.crd.projectcalico.org", "crd.projectcalico.org", "FelixConfiguration")]
TIGERA_OPERATOR = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tigera-operator"}},
    _crd("installations.operator.tigera.io", "operator.tigera.io", "Installation"),
    _crd("apiservers.operator.tigera.io", "operator.tigera.io", "APIServer"),
    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "tigera-operator",
                                                               "namespace": "tigera-operator"}},
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "tigera-operator",
                                                                "namespace": "tigera-operator"},
     "spec": {"template": {"spec": {"containers": [{"name": "tigera-operator",
                                                     "image": "quay.io/tigera/operator:v1.40.2",
                                                     "command": ["operator"]}]}}}},
]


def test_calico_from_the_lab_mirror(cni_lab, tmp_path):
    """cni calico, manifests from package_mirrors.calico (the lab repository, no internet); the
    Installation is applied after the operator's CRDs are Established (the stand-in API takes 2 s)."""
    from provisioner.phases.cni import CALICO_VERSION

    lab = cni_lab
    web = lab.repo.root / f"calico/v{CALICO_VERSION}/manifests"
    web.mkdir(parents=True, exist_ok=True)
    (web / "v1_crd_projectcalico_org.yaml").write_text(yaml.safe_dump_all(CALICO_CRDS))
    (web / "tigera-operator.yaml").write_text(yaml.safe_dump_all(TIGERA_OPERATOR))
    mirrors = yaml.safe_load((REPO / "inventories/lab.yaml").read_text())["package_mirrors"]
    mirrors["calico"] = "http://172.31.250.1:8080/calico/v{version}/manifests"
    inv = inventory(lab, tmp_path, "calico", "none", ["ha2"], ["node3"], cni="calico", package_mirrors=mirrors,
                    networking={"host_network": "172.31.250.0/24", "pod_cidr": "192.168.0.0/16",
                                "service_cidr": "10.96.0.0/12"})
    r = up(lab, inv, tmp_path / "state")
    assert r.returncode == 0, r.stderr[-3000:]
    wait_nodes(lab, "ha2", {"ha2": "True", "node3": "True"})
    with lab.ssh("ha2") as s:
        assert s.sudo(f"{KUBECTL} get installation default").rc == 0
    # The run's log: the manifests came from the lab mirror; the Installation waited for the CRDs.
    log = max((tmp_path / "state" / "logs").glob("up-*.log")).read_text()
    order = [log.index(f"http://172.31.250.1:8080/calico/v{CALICO_VERSION}/manifests/tigera-operator.yaml"),
             log.index("create -f /etc/kubernetes/provisioner/cni/calico-v"),
             log.index("wait --for condition=established"),
             log.index("apply -f /etc/kubernetes/provisioner/cni/calico-installation.yaml")]
    assert order == sorted(order) and "raw.githubusercontent.com" not in log
    # Without a calico mirror, an inventory with package mirrors is refused (no internet fetch).
    mirrors.pop("calico")
    bad = inventory(lab, tmp_path / "bad", "calico", "none", ["ha2"], ["node3"], cni="calico",
                    package_mirrors=mirrors)
    r = run_cli("validate", "-i", str(bad))
    assert r.returncode == 2 and "package_mirrors.calico" in r.stdout + r.stderr, r.stdout + r.stderr
