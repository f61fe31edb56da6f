"""cni (first control plane): the pod network with the inventory's pod CIDR.

flannel: our rendering of upstream's kube-flannel.yml (net-conf.json from the
inventory), images from the inventory's image repository, flanneld pinned to
the hosts' NIC, applied with kubectl. calico: the CRDs and the tigera operator
from the configured calico mirror (downloaded, then ``kubectl create``), a wait
until the operator's CRDs are Established, then an Installation whose IP pool
is the pod CIDR.

>>> flannel_iface_args(inv)            # every kube node on eth0      # doctest: +SKIP
['--iface=eth0']
"""

from __future__ import annotations

import json
import re

from provisioner.compat import CALICO_VERSION, FLANNEL, FLANNEL_VERSION, calico_for_minor
from provisioner.phases.base import ADMIN_CONF, KUBECTL, Phase, UpContext, api_read, q
from provisioner.render import KUBEADM_DIR
from provisioner.steps import CommandStep, FileStep, WaitStep

# The flannel release and the CNI plugin its own manifest pins (data and sources: provisioner/compat.py).
FLANNEL_CNI_PLUGIN_VERSION = FLANNEL[FLANNEL_VERSION].cni_plugin
FLANNEL_UPSTREAM_REPOSITORY = "ghcr.io/flannel-io"
CALICO_UPSTREAM = "https://raw.githubusercontent.com/projectcalico/calico/v{version}/manifests"
CALICO_MANIFESTS = ("v1_crd_projectcalico_org.yaml", "tigera-operator.yaml")
# The Installation (and the operator's other kinds) can be created only once their CRDs are Established.
CALICO_OPERATOR_CRDS = ("installations.operator.tigera.io", "apiservers.operator.tigera.io")


def flannel_images(inv) -> tuple[str, str]:
    """(flannel, flannel-cni-plugin) images: upstream's ghcr.io, or the inventory's image repository
    when it is a mirror (a site that mirrors registry.k8s.io mirrors flannel beside it)."""
    repo = FLANNEL_UPSTREAM_REPOSITORY if inv.image_repository == "registry.k8s.io" else inv.image_repository
    return f"{repo}/flannel:{FLANNEL_VERSION}", f"{repo}/flannel-cni-plugin:{FLANNEL_CNI_PLUGIN_VERSION}"


def flannel_iface_args(inv) -> list[str]:
    """How flanneld finds the NIC of the host network on every node.

    Never ``--iface-can-reach=<endpoint>``: flannel takes the interface of the route to
    that address (flannel-io/flannel pkg/ip/iface.go GetInterfaceBySpecificIPRouting), and
    on the node holding it (mode none's control plane, colocated mode's VIP holder) that
    route is ``lo``. One NIC name for all nodes: ``--iface=NAME``. Names that differ: one
    ``--iface-regex`` of the nodes' exact addresses - flannel matches it against each
    interface's IPv4 addresses before names (pkg/ipmatch/match.go), so every node takes
    the interface carrying its inventory address. Several ``--iface`` would not do: flanneld
    takes the first name that exists (main.go), a NAT NIC named like another host's NIC
    included.
    """
    nics = list(dict.fromkeys(h.nic for h in inv.kube_nodes))
    if len(nics) == 1:
        return [f"--iface={nics[0]}"]
    addresses = "|".join(re.escape(str(h.address)) for h in inv.kube_nodes)
    return [f"--iface-regex=^({addresses})$"]


def calico_version(inv) -> str:
    """The inventory's calico_version, else the newest Calico that lists the cluster's minor."""
    return inv.calico_version or calico_for_minor(inv.version.minor) or CALICO_VERSION


def calico_manifest_base(inv) -> str:
    return (inv.package_mirrors.calico or CALICO_UPSTREAM).replace("{version}", calico_version(inv)).rstrip("/")


def steps(ctx: UpContext, host) -> list:
    if ctx.inv.cni == "flannel":
        net_conf = ctx.file(host, f"{KUBEADM_DIR}/cni/flannel-net-conf.json").content
        json.loads(net_conf)   # rendered JSON must parse before it reaches the cluster
        image, cni_image = flannel_images(ctx.inv)
        manifest = ctx.render("cni/kube-flannel.yml.j2", net_conf=net_conf.strip(), flannel_version=FLANNEL_VERSION,
                              flannel_image=image, flannel_cni_plugin_image=cni_image,
                              flanneld_args=["--ip-masq", "--kube-subnet-mgr", *flannel_iface_args(ctx.inv)])
        path = f"{KUBEADM_DIR}/cni/kube-flannel.yml"
        return [
            FileStep(path, manifest, notify="cni"),
            # The DaemonSet exists: one curl with admin.conf's credentials, kubectl only when that fails.
            CommandStep("kubectl apply flannel",
                        f"{api_read(ADMIN_CONF, '/apis/apps/v1/namespaces/kube-flannel/daemonsets/kube-flannel-ds')} "
                        f">/dev/null 2>&1 || {KUBECTL} get -n kube-flannel daemonset kube-flannel-ds >/dev/null 2>&1",
                        f"{KUBECTL} apply -f {q(path)}", when_notified="cni", why="applying flannel failed"),
        ]
    return calico_steps(ctx, host)


def calico_steps(ctx: UpContext, host) -> list:
    base, version = calico_manifest_base(ctx.inv), calico_version(ctx.inv)
    local = f"{KUBEADM_DIR}/cni/calico-v{version}"
    out = []
    for name in CALICO_MANIFESTS:
        url, path = f"{base}/{name}", f"{local}/{name}"
        out.append(CommandStep(
            f"download {name} (calico v{version})", f"[ -s {q(path)} ]",
            f"install -d -m 0755 {q(local)} && curl -fsSL --retry 3 -o {q(path + '.part')} {q(url)} "
            f"&& mv -f {q(path + '.part')} {q(path)}",
            why=f"could not download {url}"))
    crds, operator = (f"{local}/{n}" for n in CALICO_MANIFESTS)
    installation = ctx.file(host, f"{KUBEADM_DIR}/cni/calico-installation.yaml")
    established = " ".join(f"crd/{c}" for c in CALICO_OPERATOR_CRDS)
    # `create`, not `apply`: the CRDs are too large for client-side apply's last-applied annotation.
    return out + [
        CommandStep("calico CRDs", f"{KUBECTL} get crd ippools.crd.projectcalico.org >/dev/null 2>&1",
                    f"{KUBECTL} create -f {q(crds)}", why="creating the calico CRDs failed"),
        CommandStep("calico operator", f"{KUBECTL} get namespace tigera-operator >/dev/null 2>&1",
                    f"{KUBECTL} create -f {q(operator)}", why="installing the tigera operator failed"),
        # An Installation sent before its CRD is Established fails ("no matches for kind").
        WaitStep("the tigera operator's CRDs Established",
                 f"{KUBECTL} wait --for condition=established --timeout=10s {established} >/dev/null 2>&1",
                 timeout=120),
        FileStep.of(installation, notify="cni"),
        CommandStep("calico installation", f"{KUBECTL} get installation default >/dev/null 2>&1",
                    f"{KUBECTL} apply -f {q(installation.path)}", when_notified="cni"),
    ]


PHASE = Phase("cni", "pod network", lambda inv: [inv.first_control_plane], steps)
