"""cni (first control plane): the pod network with the inventory's pod CIDR.

flannel: our rendering of kube-flannel.yml (net-conf.json from the
inventory), applied with kubectl. calico: the tigera operator, then an
Installation whose IP pool is the pod CIDR.
"""

from __future__ import annotations

import json

from provisioner.phases.base import KUBECTL, Phase, UpContext, q
from provisioner.render import KUBEADM_DIR
from provisioner.steps import CommandStep, FileStep

FLANNEL_VERSION = "v0.25.6"
FLANNEL_CNI_PLUGIN_VERSION = "v1.5.1-flannel2"
CALICO_OPERATOR = "https://raw.githubusercontent.com/projectcalico/calico/v3.28.1/manifests/tigera-operator.yaml"


def steps(ctx: UpContext, host) -> list:
    if ctx.inv.cni == "flannel":
        net_conf = ctx.file(host, f"{KUBEADM_DIR}/cni/flannel-net-conf.json").content
        json.loads(net_conf)   # rendered JSON must parse before it reaches the cluster
        manifest = ctx.render("cni/kube-flannel.yml.j2", net_conf=net_conf.strip(), flannel_version=FLANNEL_VERSION,
                              flannel_cni_plugin_version=FLANNEL_CNI_PLUGIN_VERSION,
                              iface_reach=str(ctx.inv.control_plane_endpoint.address or host.address))
        path = f"{KUBEADM_DIR}/cni/kube-flannel.yml"
        return [
            FileStep(path, manifest, notify="cni"),
            CommandStep("kubectl apply flannel", f"{KUBECTL} get -n kube-flannel daemonset kube-flannel-ds >/dev/null 2>&1",
                        f"{KUBECTL} apply -f {q(path)}", when_notified="cni", why="applying flannel failed"),
        ]
    installation = ctx.file(host, f"{KUBEADM_DIR}/cni/calico-installation.yaml")
    return [
        CommandStep("calico operator", f"{KUBECTL} get namespace tigera-operator >/dev/null 2>&1",
                    f"{KUBECTL} create -f {q(CALICO_OPERATOR)}", why="installing the tigera operator failed"),
        FileStep.of(installation, notify="cni"),
        CommandStep("calico installation", f"{KUBECTL} get installation default >/dev/null 2>&1",
                    f"{KUBECTL} apply -f {q(installation.path)}", when_notified="cni"),
    ]


PHASE = Phase("cni", "pod network", lambda inv: [inv.first_control_plane], steps)
