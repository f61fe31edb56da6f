"""kube-packages (control planes and workers): kubeadm, kubelet, kubectl from the pkgs.k8s.io
repository of the inventory's minor version, at its exact patch version, held.
"""

from __future__ import annotations

from provisioner import proxy
from provisioner.phases.base import Phase, UpContext, keyring_step, proxy_dropin
from provisioner.steps import FileStep, PackagesStep, ServiceStep

KEYRING = "/etc/apt/keyrings/kubernetes-apt-keyring.gpg"


def repo_url(inv) -> str:
    return inv.package_mirrors.kubernetes.format(minor=inv.version.minor_str).rstrip("/")


def steps(ctx: UpContext, host) -> list:
    inv = ctx.inv
    url = repo_url(inv)
    version = str(inv.kubernetes_version)
    return [
        keyring_step("Kubernetes", f"{url}/deb/Release.key", KEYRING),
        FileStep("/etc/apt/sources.list.d/kubernetes.list",
                 ctx.render("apt/kubernetes.list.j2", url=url, keyring=KEYRING), notify="apt-sources"),
        PackagesStep({"kubelet": version, "kubeadm": version, "kubectl": version}, hold=True),
        # Enabled, not started: the kubelet waits for kubeadm init/join to give it a config.
        *proxy_dropin(ctx, host, proxy.KUBELET_DROPIN, "kubelet", try_restart=True),
        ServiceStep("kubelet", started=False),
    ]


PHASE = Phase("kube-packages", "kubeadm, kubelet, kubectl pinned and held", lambda inv: inv.kube_nodes, steps)
