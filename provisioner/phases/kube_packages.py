"""kube-packages (control planes and workers): kubeadm, kubelet, kubectl from the pkgs.k8s.io
repository of the inventory's minor version, at its exact patch version, held.
"""

from __future__ import annotations

from provisioner import proxy
from provisioner.desired import KUBERNETES_KEYRING, KUBERNETES_LIST
from provisioner.desired import kubernetes_repo_url as repo_url  # noqa: F401 - validation's tests read it here
from provisioner.phases.base import Phase, UpContext, keyring_step, proxy_dropin
from provisioner.steps import FileStep, PackagesStep, ServiceStep

KEYRING = KUBERNETES_KEYRING


def steps(ctx: UpContext, host) -> list:
    inv = ctx.inv
    version = str(inv.kubernetes_version)
    return [
        keyring_step("Kubernetes", ctx.file(host, KUBERNETES_KEYRING)),
        FileStep.of(ctx.file(host, KUBERNETES_LIST), notify="apt-sources"),
        PackagesStep({"kubelet": version, "kubeadm": version, "kubectl": version}, hold=True),
        # Enabled, not started: the kubelet waits for kubeadm init/join to give it a config.
        *proxy_dropin(ctx, host, proxy.KUBELET_DROPIN, "kubelet", try_restart=True),
        ServiceStep("kubelet", started=False),
    ]


PHASE = Phase("kube-packages", "kubeadm, kubelet, kubectl pinned and held", lambda inv: inv.kube_nodes, steps)
