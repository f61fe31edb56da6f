"""runtime (control planes and workers): Docker Engine from Docker's repository, daemon.json with the
systemd cgroup driver, the docker group (cri-dockerd fails without it), cri-dockerd with our units
pointing at the pause image of the Kubernetes version.
"""

from __future__ import annotations

from provisioner.phases.base import Phase, UpContext, keyring_step
from provisioner.steps import CommandStep, FileStep, PackagesStep, ServiceStep

KEYRING = "/etc/apt/keyrings/docker.gpg"


def cri_dockerd_url(ctx: UpContext, os_) -> str:
    inv = ctx.inv
    return inv.package_mirrors.cri_dockerd.format(version=inv.cri_dockerd_version, distro=os_.distro,
                                                  codename=os_.codename)


def steps(ctx: UpContext, host) -> list:
    inv, os_ = ctx.inv, ctx.os[host.hostname]
    base = inv.package_mirrors.docker.rstrip("/")
    sources = ctx.render("apt/docker.list.j2", url=base, distro=os_.distro, codename=os_.codename,
                         arch=os_.arch, keyring=KEYRING)
    return [
        keyring_step("Docker", f"{base}/{os_.distro}/gpg", KEYRING),
        FileStep("/etc/apt/sources.list.d/docker.list", sources, notify="apt-sources"),
        CommandStep("docker group", "getent group docker >/dev/null", "groupadd --system docker"),
        FileStep.of(ctx.file(host, "/etc/docker/daemon.json"), notify="docker"),
        PackagesStep({"docker-ce": None, "docker-ce-cli": None, "containerd.io": None}),
        ServiceStep("docker", restart_on=("docker",)),
        PackagesStep({"cri-dockerd": inv.cri_dockerd_version},
                     debs={"cri-dockerd": (inv.cri_dockerd_version, cri_dockerd_url(ctx, os_))}),
        FileStep.of(ctx.file(host, "/etc/systemd/system/cri-docker.socket"), notify="cri-docker"),
        FileStep.of(ctx.file(host, "/etc/systemd/system/cri-docker.service"), notify="cri-docker"),
        CommandStep("systemctl daemon-reload", None, "systemctl daemon-reload", when_notified="cri-docker"),
        ServiceStep("cri-docker.socket", restart_on=("cri-docker",)),
        ServiceStep("cri-docker.service", restart_on=("cri-docker",)),
    ]


PHASE = Phase("runtime", "Docker + cri-dockerd", lambda inv: inv.kube_nodes, steps)
