"""cni (first control plane): the pod network with the inventory's pod CIDR.

flannel: our rendering of upstream's kube-flannel.yml (net-conf.json from the
inventory), images from the inventory's image repository, flanneld pinned to
the hosts' NIC - a file of the desired state (provisioner.render) - applied
with kubectl. calico: the CRDs and the tigera operator
from the configured calico mirror (downloaded, then ``kubectl create``), a wait
until the operator's CRDs are Established, then an Installation whose IP pool
is the pod CIDR.

>>> flannel_iface_args(inv)            # every kube node on eth0      # doctest: +SKIP
['--iface=eth0']
"""

from __future__ import annotations

from provisioner.compat import CALICO_VERSION  # noqa: F401 - tests read it here
from provisioner.desired import (CALICO_MANIFESTS, FLANNEL_CNI_PLUGIN_VERSION, FLANNEL_VERSION,  # noqa: F401
                                 calico_manifest_base, calico_manifest_dir, calico_version, flannel_iface_args,
                                 flannel_images)
from provisioner.phases.base import ADMIN_CONF, KUBECTL, Phase, UpContext, api_read, q
from provisioner.render import KUBEADM_DIR
from provisioner.steps import CommandStep, FileStep, WaitStep

# The Installation (and the operator's other kinds) can be created only once their CRDs are Established.
CALICO_OPERATOR_CRDS = ("installations.operator.tigera.io", "apiservers.operator.tigera.io")


def steps(ctx: UpContext, host) -> list:
    if ctx.inv.cni == "flannel":
        path = f"{KUBEADM_DIR}/cni/kube-flannel.yml"
        return [
            FileStep.of(ctx.file(host, path), notify="cni"),
            # The DaemonSet exists: one curl with admin.conf's credentials, kubectl only when that fails.
            CommandStep("kubectl apply flannel",
                        f"{api_read(ADMIN_CONF, '/apis/apps/v1/namespaces/kube-flannel/daemonsets/kube-flannel-ds')} "
                        f">/dev/null 2>&1 || {KUBECTL} get -n kube-flannel daemonset kube-flannel-ds >/dev/null 2>&1",
                        f"{KUBECTL} apply -f {q(path)}", when_notified="cni", why="applying flannel failed"),
        ]
    return calico_steps(ctx, host)


def calico_steps(ctx: UpContext, host) -> list:
    local, version = calico_manifest_dir(ctx.inv), calico_version(ctx.inv)
    out = []
    for name in CALICO_MANIFESTS:
        manifest = ctx.file(host, f"{local}/{name}")
        url, path = manifest.origin, manifest.path
        out.append(CommandStep(
            f"download {name} (calico v{version})", f"[ -s {q(path)} ]",
            f"install -d -m 0755 {q(local)} && curl -fsSL --retry 3 -o {q(path + '.part')} {q(url)} "
            f"&& mv -f {q(path + '.part')} {q(path)}",
            why=f"could not download {url}", writes=(path,)))
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
