"""Which Docker Engine, cri-dockerd and containerd go together, and how cri-dockerd is installed.

Data first: the tables below say what each release speaks, with the upstream
source each line comes from. The functions answer the two questions the
product asks: "does this pair work?" (``validate``) and "where does
cri-dockerd come from on this host?" (the runtime phase).

>>> pair_problem("29.0.4", "0.3.14")
'cri-dockerd 0.3.14 speaks Docker API 1.43 but Docker 29.0.4 accepts 1.44-1.52 (it refuses with "client version 1.43 is too old") - use cri_dockerd_version 0.3.16 or newer (default 0.4.4), or docker_version 28.x or older'
>>> pair_problem("29.0.4", "0.4.4") is None
True
>>> cri_dockerd_source("0.4.4", "debian", "bookworm", "amd64")
'deb'
>>> cri_dockerd_source("0.4.4", "ubuntu", "noble", "amd64"), cri_dockerd_source("0.4.4", "debian", "bookworm", "arm64")
('archive', 'deb')
>>> cri_dockerd_source("0.4.1", "debian", "bookworm", "arm64")
'archive'
>>> calico_for_minor(37), calico_for_minor(34)
('3.33.1', '3.32.2')
>>> calico_problem("3.32.2", 37)
'Calico 3.32.2 is not supported on Kubernetes 1.37 (Calico tests 3.32 on 1.34-1.36) - use calico_version 3.33.1 (or leave it unset)'
>>> cri_dockerd_minor_problem("0.3.16", 35)
"cri-dockerd 0.3.16 with Kubernetes 1.35: kubeadm 1.35+ asks the runtime for its cgroup driver (CRI RuntimeConfig) and the kubelet's fallback is being removed - use cri_dockerd_version 0.4.0 or newer (default 0.4.4)"
>>> cri_dockerd_minor_problem("0.3.16", 34) is None
True
>>> docker_deb_version("29.0.4", "debian", "12", "bookworm")
'5:29.0.4-1~debian.12~bookworm'
"""

from __future__ import annotations

from dataclasses import dataclass

from provisioner.versions import MAINTAINED_MINORS

# Where kubelet and kubeadm reach cri-dockerd (its packaged cri-docker.socket). provisioner.render
# re-exports it; it lives here so that checks can name it without importing render (jinja2).
CRI_SOCKET = "unix:///run/cri-dockerd.sock"


def api_tuple(version: str) -> tuple[int, int]:
    """'1.44' -> (1, 44), compared as moby's ``versions.LessThan`` does (numerically per part)."""
    major, _, minor = version.partition(".")
    return int(major), int(minor or 0)


@dataclass(frozen=True)
class DockerRelease:
    """A Docker Engine release line: the Engine API range its daemon accepts."""

    api: str            # newest API version (the daemon's default)
    min_api: str        # oldest API version it accepts (daemon/config MinAPIVersion)
    source: str


# Docker Engine, by major.minor (patch releases of a line keep the API range).
# The minimum API is enforced by moby's VersionMiddleware
# (moby/moby daemon/server/middleware/version.go: "client version %s is too old.
# Minimum supported API version is %s, please upgrade your client to a newer version").
DOCKER = {
    "29.0": DockerRelease("1.52", "1.44", "docker/docs content/reference/api/engine/_index.md (PR #23773): "
                                          "29.0.4 'API version: 1.52 (minimum version 1.44)'"),
    "28.1": DockerRelease("1.49", "1.24", "docker/docs PR #22653: 28.1.1 'API version: 1.49 (minimum version 1.24)'"),
    "28.0": DockerRelease("1.48", "1.24", "docker/docs PR #22066: 28.0.0 'API version: 1.48 (minimum version 1.24)'"),
    "27.4": DockerRelease("1.47", "1.24", "docker/docs PR #22066: 27.4.0 'API version: 1.47 (minimum version 1.24)'"),
    "27.3": DockerRelease("1.47", "1.24", "Docker 27.3 release notes (API 1.47); the lab's stand-in before 29"),
}
DEFAULT_DOCKER = "29.0.4"        # tested in the lab (stand-in of the same API range)


@dataclass(frozen=True)
class CriDockerdRelease:
    """A cri-dockerd release: the Docker client API it is built with, its .deb targets, and
    whether it answers the CRI RuntimeConfig call (the cgroup driver the kubelet asks for)."""

    client_api: str
    # (distro, codename) pairs upstream builds a .deb for (packaging/deb/Makefile at the tag).
    debs: frozenset[tuple[str, str]]
    deb_arches: tuple[str, ...]
    runtime_config: bool
    source: str


_DEBS_03 = frozenset({("ubuntu", "bionic"), ("ubuntu", "focal"), ("ubuntu", "jammy"),
                      ("debian", "bullseye"), ("debian", "bookworm")})
_AMD64, _BOTH = ("amd64",), ("amd64", "arm64")

# cri-dockerd creates its client with dockerapi.NewClientWithOpts(dockerapi.FromEnv) and no
# version negotiation (Mirantis/cri-dockerd libdocker/client.go), so it speaks exactly the
# default API version of the Docker client library in its go.mod (docker v25 -> 1.44, v27.0 -> 1.46).
# RuntimeConfig: core/docker_service.go func RuntimeConfig, first at v0.3.17 and v0.4.0.
# arm64 .deb: .github/workflows/build.yml job deb, matrix arch [amd64, arm64] from v0.4.2.
# Read in the Mirantis/cri-dockerd snapshot (newest tag v0.4.3; release/0.4 d969e29f, 2026-04-28). Releases
# between the rows (0.3.17: docker v25.0.8, RuntimeConfig; 0.4.1: v27.0.2; 0.4.2/0.4.3: v25.0.8) are
# judged by the rules below; the rows are the ones README's table shows.
DEB_ARM64_FROM = "0.4.2"
CRI_DOCKERD = {
    "0.3.14": CriDockerdRelease("1.43", _DEBS_03, _AMD64, False, "go.mod at v0.3.14: github.com/docker/docker v24"),
    "0.3.16": CriDockerdRelease("1.44", _DEBS_03, _AMD64, False, "go.mod at v0.3.16: docker v25.0.6; no RuntimeConfig"),
    "0.4.0": CriDockerdRelease("1.46", _DEBS_03, _AMD64, True, "go.mod at v0.4.0: docker v27.0.2+incompatible"),
    "0.4.4": CriDockerdRelease("1.44", _DEBS_03, _BOTH, True, "release asset cri-dockerd-0.4.4.amd64.tgz; the tag "
                                                             "is not in the snapshot: 0.4.2+ are cut from branch "
                                                             "release/0.4, whose go.mod (d969e29f) has docker v25.0.8"),
}
DEFAULT_CRI_DOCKERD = "0.4.4"

# The oldest cri-dockerd each Kubernetes minor works with, and why. kubeadm 1.35+ asks the runtime
# for RuntimeConfig and warns without it; the kubelet's fallback is being removed
# (kubernetes/kubernetes CHANGELOG-1.37 #139121, #139122). 0.3.x is refused from 1.35: 0.4 is the
# maintained line (0.3.17+ answers RuntimeConfig, older 0.3 do not).
# Keyed by the first minor a minimum applies to; it holds for every later minor.
MIN_CRI_DOCKERD = {35: "0.4.0"}

# Archive architectures upstream publishes: cri-dockerd-VERSION.{amd64,arm64}.tgz
# (Mirantis/cri-dockerd packaging/static/Makefile).
ARCHIVE_ARCHES = ("amd64", "arm64")
DEB_ARCHES = ("amd64", "arm64")      # union over the table; per release: CriDockerdRelease.deb_arches


@dataclass(frozen=True)
class CalicoRelease:
    """A Calico line: the patch we install and the Kubernetes minors Calico tests it against."""

    version: str
    kube_minors: tuple[int, ...]
    source: str


# Calico's support table (docs.tigera.io/calico/3.NN/getting-started/kubernetes/requirements,
# "We test Calico 3.NN against the following Kubernetes versions") as read from Rusty-Gopher/kupre
# v0.5.0's release notes, which quote the vendor's versioned docs: "3.33 covers 1.35 to 1.37,
# 3.32 covers 1.34 to 1.36, and 3.31 covers 1.32 to 1.35". Patches: GitHub releases
# projectcalico/calico v3.33.1 (2026-11-16); v3.32.2 (2026-08-30), v3.31.7 (2026-08-21) per the
# api-evangelist calico changelog. Each line ships v1_crd_projectcalico_org.yaml + tigera-operator.yaml.
CALICO = {
    "3.33": CalicoRelease("3.33.1", (35, 36, 37), "docs.tigera.io calico 3.33 requirements; release v3.33.1"),
    "3.32": CalicoRelease("3.32.2", (34, 35, 36), "docs.tigera.io calico 3.32 requirements; release v3.32.2"),
    "3.31": CalicoRelease("3.31.7", (32, 33, 34, 35), "docs.tigera.io calico 3.31 requirements; release v3.31.7"),
}


def _vtuple(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split("."))


def calico_for_minor(minor: int) -> str | None:
    """The newest Calico whose support table lists 1.<minor>, e.g. 37 -> '3.33.1'."""
    lines = [c for c in CALICO.values() if minor in c.kube_minors]
    return max(lines, key=lambda c: _vtuple(c.version)).version if lines else None


# The calico release installed by default (the default minor's); validation fills {version} of
# package_mirrors.calico with it. A cluster gets calico_version(inv) (cni phase).
CALICO_VERSION = calico_for_minor(MAINTAINED_MINORS[-1])


def calico_problem(calico_version: str, minor: int) -> str | None:
    """One line when Calico's table does not list this Kubernetes minor for the release."""
    if not CHECK_PAIRS:
        return None
    line = CALICO.get(_line(calico_version))
    if line is None or minor in line.kube_minors:
        return None
    fix = calico_for_minor(minor)
    lo, hi = min(line.kube_minors), max(line.kube_minors)
    return (f"Calico {calico_version} is not supported on Kubernetes 1.{minor} (Calico tests {_line(calico_version)} "
            f"on 1.{lo}-1.{hi}) - " + (f"use calico_version {fix} (or leave it unset)" if fix else
                                         "no Calico in the table lists this minor"))


def min_cri_dockerd(minor: int) -> str | None:
    """The oldest cri-dockerd Kubernetes 1.<minor> works with (None: any in the table)."""
    return next((v for m, v in sorted(MIN_CRI_DOCKERD.items(), reverse=True) if minor >= m), None)


def cri_dockerd_minor_problem(cri_dockerd_version: str, minor: int) -> str | None:
    """One line when this Kubernetes minor needs a newer cri-dockerd than the inventory's."""
    need = min_cri_dockerd(minor)
    if not CHECK_PAIRS or need is None or _vtuple(cri_dockerd_version) >= _vtuple(need):
        return None
    return (f"cri-dockerd {cri_dockerd_version} with Kubernetes 1.{minor}: kubeadm 1.35+ asks the runtime for its "
            f"cgroup driver (CRI RuntimeConfig) and the kubelet's fallback is being removed - use "
            f"cri_dockerd_version {need} or newer (default {DEFAULT_CRI_DOCKERD})")


@dataclass(frozen=True)
class FlannelRelease:
    """A flannel release and the flannel-cni-plugin image its own manifest pins."""

    cni_plugin: str
    source: str


FLANNEL = {
    "v0.28.9": FlannelRelease("v1.9.1-flannel3", "flannel-io/flannel v0.28.9 Documentation/kube-flannel.yml "
                                                 "(install-cni-plugin image) and chart/kube-flannel/values.yaml "
                                                 "flannel.flannel_cni.image.tag"),
    "v0.28.8": FlannelRelease("v1.9.1-flannel2", "flannel-io/flannel v0.28.8 Documentation/kube-flannel.yml"),
}
FLANNEL_VERSION = "v0.28.9"     # newest tag in the flannel-io/flannel snapshot on 2026-12-04

# Set to False only by tests that prove, in the lab, that a pair refused here really fails.
CHECK_PAIRS = True


def _line(version: str) -> str:
    return ".".join(version.split(".")[:2])


def docker_release(version: str) -> DockerRelease | None:
    return DOCKER.get(_line(version))


def newest_cri_dockerd_for(docker_version: str) -> str | None:
    """The newest cri-dockerd in the table whose client API the daemon accepts."""
    rel = docker_release(docker_version)
    ok = [v for v, c in CRI_DOCKERD.items()
          if rel is None or api_tuple(rel.min_api) <= api_tuple(c.client_api) <= api_tuple(rel.api)]
    return max(ok, key=lambda v: tuple(int(x) for x in v.split("."))) if ok else None


def pair_problem(docker_version: str, cri_dockerd_version: str) -> str | None:
    """One line when the table knows this pair cannot work, else None (unknown versions pass)."""
    if not CHECK_PAIRS:
        return None
    rel, cri = docker_release(docker_version), CRI_DOCKERD.get(cri_dockerd_version)
    if rel is None or cri is None:
        return None
    api = api_tuple(cri.client_api)
    if api_tuple(rel.min_api) <= api <= api_tuple(rel.api):
        return None
    works = sorted((v for v, c in CRI_DOCKERD.items()
                    if api_tuple(rel.min_api) <= api_tuple(c.client_api) <= api_tuple(rel.api)),
                   key=lambda v: tuple(int(x) for x in v.split(".")))
    older = sorted((line for line, d in DOCKER.items() if api_tuple(d.min_api) <= api),
                   key=lambda v: tuple(int(x) for x in v.split(".")))
    fix = f"use cri_dockerd_version {works[0]} or newer (default {DEFAULT_CRI_DOCKERD})" if works else \
        "no cri-dockerd in the table talks to it"
    if older:
        fix += f", or docker_version {older[-1].split('.')[0]}.x or older"
    return (f"cri-dockerd {cri_dockerd_version} speaks Docker API {cri.client_api} but Docker {docker_version} "
            f"accepts {rel.min_api}-{rel.api} (it refuses with \"client version {cri.client_api} is too old\") - {fix}")


def cri_dockerd_source(version: str, distro: str, codename: str, arch: str) -> str:
    """'deb' where upstream publishes a .deb for this distro/codename/arch, else 'archive'."""
    cri = CRI_DOCKERD.get(version)
    debs = cri.debs if cri else _DEBS_03
    arches = cri.deb_arches if cri else _BOTH if _vtuple(version) >= _vtuple(DEB_ARM64_FROM) else _AMD64
    return "deb" if arch in arches and (distro, codename) in debs else "archive"


def docker_deb_version(version: str, distro: str, version_id: str, codename: str) -> str:
    """download.docker.com's package version, e.g. 5:29.0.4-1~debian.12~bookworm (epoch 5, revision 1)."""
    return f"5:{version}-1~{distro}.{version_id}~{codename}"


def cri_dockerd_for(d: DockerRelease) -> list[str]:
    """The cri-dockerd releases in the table whose client API this Docker line accepts."""
    return [v for v, c in CRI_DOCKERD.items() if api_tuple(d.min_api) <= api_tuple(c.client_api) <= api_tuple(d.api)]


def table_rows() -> list[str]:
    """The table for humans (README, ``--help``): one line per pair that works."""
    return [f"Docker {line}.x (API {d.min_api}-{d.api}): cri-dockerd {', '.join(cri_dockerd_for(d))}"
            for line, d in DOCKER.items()]
