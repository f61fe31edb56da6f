"""kube-packages (control planes and workers): kubeadm, kubelet, kubectl from the pkgs.k8s.io
repository of the inventory's minor version, at its exact patch version, held (apt) or excluded from
every other dnf transaction (the repository's exclude line).
"""

from __future__ import annotations

from provisioner import proxy
from provisioner.desired import KUBERNETES_KEYRING, KUBERNETES_LIST, KUBERNETES_REPO, KUBERNETES_REPO_ID
from provisioner.desired import kubernetes_repo_url as repo_url  # noqa: F401 - validation's tests read it here
from provisioner.phases.base import Phase, UpContext, keyring_step, proxy_dropin
from provisioner.steps import FileStep, ServiceStep

KEYRING = KUBERNETES_KEYRING


def steps(ctx: UpContext, host) -> list:
    inv = ctx.inv
    version = str(inv.kubernetes_version)
    if ctx.family(host) == "rhel":
        sources = [FileStep.of(ctx.file(host, KUBERNETES_REPO))]      # dnf fetches the repository's key itself
    else:
        sources = [keyring_step("Kubernetes", ctx.file(host, KUBERNETES_KEYRING)),
                   FileStep.of(ctx.file(host, KUBERNETES_LIST), notify="apt-sources")]
    return [
        *sources,
        ctx.packages(host, {"kubelet": version, "kubeadm": version, "kubectl": version}, hold=True,
                     repo=KUBERNETES_REPO_ID),
        # Enabled, not started: the kubelet waits for kubeadm init/join to give it a config.
        *proxy_dropin(ctx, host, proxy.KUBELET_DROPIN, "kubelet", try_restart=True),
        ServiceStep("kubelet", started=False),
    ]


PHASE = Phase("kube-packages", "kubeadm, kubelet, kubectl pinned and held", lambda inv: inv.kube_nodes, steps)
