"""runtime (control planes and workers): Docker Engine from Docker's repository at the inventory's
pinned version (held), daemon.json with the systemd cgroup driver, the docker group (cri-dockerd
fails without it), cri-dockerd - from upstream's .deb where one exists for the host's
distro/codename/arch, else from upstream's static archive - with our units pointing at the pause
image of the Kubernetes version. Which versions go together: provisioner/compat.py.
"""

from __future__ import annotations

from shlex import quote as q

from provisioner import compat, proxy
from provisioner.desired import DOCKER_KEYRING, DOCKER_LIST, DOCKER_REPO, DOCKER_REPO_ID
from provisioner.phases.base import Phase, UpContext, keyring_step, proxy_dropin
from provisioner.steps import CommandStep, FileStep, PackagesStep, ServiceStep

KEYRING = DOCKER_KEYRING
# One path for both install methods, so one unit file serves every host.
CRI_DOCKERD_BIN = "/usr/bin/cri-dockerd"


def cri_dockerd_url(ctx: UpContext, os_) -> str:
    """The .deb release asset for this host (only where compat says upstream publishes one)."""
    inv = ctx.inv
    return inv.package_mirrors.cri_dockerd.format(version=inv.cri_dockerd_version, distro=os_.distro,
                                                  codename=os_.codename, arch=os_.arch)


def cri_dockerd_archive_url(ctx: UpContext, os_) -> str:
    inv = ctx.inv
    return inv.package_mirrors.cri_dockerd_archive.format(version=inv.cri_dockerd_version, arch=os_.arch)


def cri_dockerd_archive_step(url: str, version: str) -> CommandStep:
    """Install the binary from upstream's static archive (``cri-dockerd/cri-dockerd`` inside),
    when the installed one is not this version. The units are ours, as on .deb hosts."""
    check = f"[ \"$({CRI_DOCKERD_BIN} --version 2>&1 | awk '{{print $2; exit}}')\" = {q(version)} ]"
    command = (f"d=$(mktemp -d) && curl -fsSL --retry 3 -o \"$d/a.tgz\" {q(url)} && tar -xzf \"$d/a.tgz\" -C \"$d\""
               f" && install -m 0755 -o root -g root \"$d/cri-dockerd/cri-dockerd\" {CRI_DOCKERD_BIN}.new"
               f" && mv -f {CRI_DOCKERD_BIN}.new {CRI_DOCKERD_BIN} && rm -rf \"$d\"")
    return CommandStep(f"cri-dockerd {version} from {url}", check, command, notify="cri-docker",
                       why=f"could not install cri-dockerd {version} from {url}", timeout=600)


def steps(ctx: UpContext, host) -> list:
    inv, os_ = ctx.inv, ctx.os[host.hostname]
    if ctx.family(host) == "rhel":
        sources = [FileStep.of(ctx.file(host, DOCKER_REPO))]      # dnf fetches the repository's key itself
        deb = False
    else:
        sources = [keyring_step("Docker", ctx.file(host, DOCKER_KEYRING)),
                   FileStep.of(ctx.file(host, DOCKER_LIST), notify="apt-sources")]
        deb = compat.cri_dockerd_source(inv.cri_dockerd_version, os_.distro, os_.codename, os_.arch) == "deb"
    if deb:
        cri = PackagesStep({"cri-dockerd": inv.cri_dockerd_version},
                           debs={"cri-dockerd": (inv.cri_dockerd_version, cri_dockerd_url(ctx, os_))},
                           notify="cri-docker")
    else:
        cri = cri_dockerd_archive_step(cri_dockerd_archive_url(ctx, os_), inv.cri_dockerd_version)
    return [
        *sources,
        CommandStep("docker group", "getent group docker >/dev/null", "groupadd --system docker"),
        FileStep.of(ctx.file(host, "/etc/docker/daemon.json"), notify="docker"),
        # Exact versions, held: an unattended upgrade to a Docker whose minimum API is above
        # cri-dockerd's client API stops every node's runtime (Docker 29 vs cri-dockerd 0.3.14).
        ctx.packages(host, {"docker-ce": inv.docker_version, "docker-ce-cli": inv.docker_version,
                            "containerd.io": inv.containerd_version}, hold=True, repo=DOCKER_REPO_ID, notify="docker"),
        *proxy_dropin(ctx, host, proxy.DOCKER_DROPIN, "docker"),
        ServiceStep("docker", restart_on=("docker",)),
        cri,
        FileStep.of(ctx.file(host, "/etc/systemd/system/cri-docker.socket"), notify="cri-docker"),
        FileStep.of(ctx.file(host, "/etc/systemd/system/cri-docker.service"), notify="cri-docker"),
        CommandStep("systemctl daemon-reload", None, "systemctl daemon-reload", when_notified="cri-docker"),
        ServiceStep("cri-docker.socket", restart_on=("cri-docker",)),
        ServiceStep("cri-docker.service", restart_on=("cri-docker",)),
    ]


PHASE = Phase("runtime", "Docker + cri-dockerd", lambda inv: inv.kube_nodes, steps, needs_os=True)
