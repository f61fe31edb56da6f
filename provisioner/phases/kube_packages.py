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


def source_steps(ctx: UpContext, host) -> list:
    """The pkgs.k8s.io repository of the inventory's minor (each minor has its own) and, for apt, its key."""
    if ctx.family(host) == "rhel":
        return [FileStep.of(ctx.file(host, KUBERNETES_REPO))]      # dnf fetches the repository's key itself
    return [keyring_step("Kubernetes", ctx.file(host, KUBERNETES_KEYRING)),
            FileStep.of(ctx.file(host, KUBERNETES_LIST), notify="apt-sources")]


def package_step(ctx: UpContext, host, names: tuple[str, ...]):
    """``names`` at the inventory's version, held (apt) or pinned by the repository's exclude line (dnf)."""
    version = str(ctx.inv.kubernetes_version)
    return ctx.packages(host, {name: version for name in names}, hold=True, repo=KUBERNETES_REPO_ID)


def steps(ctx: UpContext, host) -> list:
    return [
        *source_steps(ctx, host),
        package_step(ctx, host, ("kubelet", "kubeadm", "kubectl")),
        # Enabled, not started: the kubelet waits for kubeadm init/join to give it a config.
        *proxy_dropin(ctx, host, proxy.KUBELET_DROPIN, "kubelet", try_restart=True),
        ServiceStep("kubelet", started=False),
    ]


PHASE = Phase("kube-packages", "kubeadm, kubelet, kubectl pinned and held", lambda inv: inv.kube_nodes, steps)
