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
('archive', 'archive')
>>> docker_deb_version("29.0.4", "debian", "12", "bookworm")
'5:29.0.4-1~debian.12~bookworm'
"""

from __future__ import annotations

from dataclasses import dataclass

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
    """A cri-dockerd release: the Docker client API it is built with, and its .deb targets."""

    client_api: str
    # (distro, codename) pairs upstream builds a .deb for (packaging/deb/Makefile at the tag); amd64 only.
    debs: frozenset[tuple[str, str]]
    source: str


_DEBS_03 = frozenset({("ubuntu", "bionic"), ("ubuntu", "focal"), ("ubuntu", "jammy"),
                      ("debian", "bullseye"), ("debian", "bookworm")})

# cri-dockerd creates its client with dockerapi.NewClientWithOpts(dockerapi.FromEnv) and no
# version negotiation (Mirantis/cri-dockerd libdocker/client.go), so it speaks exactly the
# default API version of the Docker client library in its go.mod.
CRI_DOCKERD = {
    "0.3.14": CriDockerdRelease("1.43", _DEBS_03, "Mirantis/cri-dockerd go.mod at v0.3.14: github.com/docker/docker "
                                                  "v24 (API 1.43)"),
    "0.3.16": CriDockerdRelease("1.44", _DEBS_03, "Mirantis/cri-dockerd go.mod at v0.3.16: github.com/docker/docker "
                                                  "v25 (API 1.44); Mirantis/cri-dockerd#395"),
    "0.4.0": CriDockerdRelease("1.44", _DEBS_03, "Mirantis/cri-dockerd go.mod (stored copy of the default "
                                                 "branch): github.com/docker/docker v25.0.14+incompatible (API 1.44)"),
    "0.4.4": CriDockerdRelease("1.44", _DEBS_03, "as 0.4.0; newest release asset seen "
                                                 "(cri-dockerd-0.4.4.amd64.tgz)"),
}
DEFAULT_CRI_DOCKERD = "0.4.4"

# Archive architectures upstream publishes: cri-dockerd-VERSION.{amd64,arm64}.tgz
# (Mirantis/cri-dockerd packaging/static/Makefile); the .deb is amd64 only.
ARCHIVE_ARCHES = ("amd64", "arm64")
DEB_ARCHES = ("amd64",)

# The calico release the cni phase installs (provisioner/phases/cni.py); pinned here so validation
# can fill package_mirrors.calico's {version} without importing the phases. Calico 3.32 ships its
# CRDs apart from the operator (v1_crd_projectcalico_org.yaml + tigera-operator.yaml): v3.32.2 is
# the newest release seen in install guides of late 2026. Its support of Kubernetes 1.35-1.37 is
# recalled, not read from calico's release notes.
CALICO_VERSION = "3.32.2"

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
    return "deb" if arch in DEB_ARCHES and (distro, codename) in debs else "archive"


def docker_deb_version(version: str, distro: str, version_id: str, codename: str) -> str:
    """download.docker.com's package version, e.g. 5:29.0.4-1~debian.12~bookworm (epoch 5, revision 1)."""
    return f"5:{version}-1~{distro}.{version_id}~{codename}"


def table_rows() -> list[str]:
    """The table for humans (README, ``--help``): one line per pair that works."""
    rows = []
    for line, d in DOCKER.items():
        ok = [v for v, c in CRI_DOCKERD.items() if api_tuple(d.min_api) <= api_tuple(c.client_api) <= api_tuple(d.api)]
        rows.append(f"Docker {line}.x (API {d.min_api}-{d.api}): cri-dockerd {', '.join(ok)}")
    return rows
