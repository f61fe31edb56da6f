"""Build the stand-in .deb packages: Kubernetes, Docker and cri-dockerd as the
product downloads them, with python3 imitations inside instead of the real
programs (which cannot run in the lab).

    from tests.standins import build
    debs = build.ensure_built()                    # cached, ~2 s when it must build
    debs.k8s["1.30"], debs.docker, debs.cri_dockerd

    python -m tests.standins.build [OUT_DIR]       # build (or reuse) and print the files

Each program in ``src/`` is bundled with ``src/standin_common.py`` and a
``STANDIN_BUILD`` dict of versions into one self-contained python3 script,
installed under /usr/lib/provisioner-standins/PACKAGE/ with its code compiled
at build time; /usr/bin/PROG is a small launcher that runs that code.
Packages are named, versioned and laid out like upstream's (names, versions,
Depends, unit files, maintainer scripts that enable and start the units as
debhelper's do); static files such as units live in ``files/<package>/``.
The built .debs are cached in ``$LAB_CACHE_DIR/standins-<hash>/``
(/var/cache/provisioner-lab by default), the hash covering ``src/``,
``files/``, this file and the versions, so any change rebuilds.
"""

from __future__ import annotations

import hashlib
import json
import marshal
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE / "src"
FILES = HERE / "files"
CACHE_DIR = Path(os.environ.get("LAB_CACHE_DIR", "/var/cache/provisioner-lab"))
# The lab builds the default version of the product (provisioner.versions.DEFAULT_VERSION).
# The default first; the minor before it is served too, so that a lab cluster can be upgraded from it.
KUBE_VERSIONS = ("1.37.1", "1.36.4")

K8S_MAINTAINER = "Kubernetes Authors <dev@kubernetes.io>"
DOCKER_MAINTAINER = "Docker <support@docker.com>"
STANDIN_NOTE = (" STAND-IN built by provisioner's tests (tests/standins): a python3 imitation\n"
                " of the real program's command line, files and services, for the test lab only.")

# Versions that come with a Kubernetes minor release (pkgs.k8s.io publishes
# cri-tools and kubernetes-cni in each minor's repository).
MINOR_DEFAULTS = {
    28: {"cri_tools": "1.28.0", "cni": "1.2.0", "pause": "3.9", "etcd": "3.5.9-0", "coredns": "v1.10.1"},
    29: {"cri_tools": "1.29.0", "cni": "1.3.0", "pause": "3.9", "etcd": "3.5.12-0", "coredns": "v1.11.1"},
    30: {"cri_tools": "1.30.0", "cni": "1.4.0", "pause": "3.9", "etcd": "3.5.12-0", "coredns": "v1.11.1"},
    31: {"cri_tools": "1.31.1", "cni": "1.5.1", "pause": "3.10", "etcd": "3.5.15-0", "coredns": "v1.11.3"},
    # 1.33-1.37: pause as in provisioner/versions.py PAUSE_VERSIONS (kubeadm's PauseVersion; sources
    # there). 1.35's etcd/CoreDNS from a corpus fixture serving v1.35.8's kubeadm constants.go;
    # the rest (cri-tools, kubernetes-cni, etcd and CoreDNS of 1.33/1.34/1.36/1.37) recalled -
    # the stand-ins only print and compare them.
    33: {"cri_tools": "1.33.0", "cni": "1.6.0", "pause": "3.10", "etcd": "3.5.21-0", "coredns": "v1.12.0"},
    34: {"cri_tools": "1.34.0", "cni": "1.7.1", "pause": "3.10.1", "etcd": "3.6.4-0", "coredns": "v1.12.1"},
    35: {"cri_tools": "1.35.0", "cni": "1.7.1", "pause": "3.10.1", "etcd": "3.6.6-0", "coredns": "v1.13.1"},
    36: {"cri_tools": "1.36.0", "cni": "1.8.0", "pause": "3.10.2", "etcd": "3.6.8-0", "coredns": "v1.13.1"},
    37: {"cri_tools": "1.37.0", "cni": "1.8.0", "pause": "3.10.2", "etcd": "3.7.1-0", "coredns": "v1.13.2"},
    # PRE-RELEASE (provisioner/versions.py PRERELEASE): 1.37's values until v1.38.0 is tagged.
    38: {"cri_tools": "1.38.0", "cni": "1.8.0", "pause": "3.10.2", "etcd": "3.7.1-0", "coredns": "v1.13.2"},
}
K8S_REVISION = "1.1"            # pkgs.k8s.io (OBS) revision: 1.30.2-1.1
# The Docker release the lab's docker-ce stands for, and the Engine API range its daemon accepts
# (docker/docs PR #23773: 29.0.4 "API version: 1.52 (minimum version 1.44)"). The product's
# table (provisioner/compat.py) must say the same; tests/test_standins.py checks it.
DOCKER_VERSION = "29.0.4"
DOCKER_API_VERSION = "1.52"
DOCKER_MIN_API_VERSION = "1.44"
DOCKER_DEB_VERSION = f"5:{DOCKER_VERSION}-1~debian.12~bookworm"
CONTAINERD_VERSION = "1.7.22"
CONTAINERD_DEB_VERSION = f"{CONTAINERD_VERSION}-1"
# cri-dockerd releases in the lab, with the Docker client API each is built with (go.mod's
# github.com/docker/docker: v24 -> 1.43 in 0.3.14, v25 -> 1.44 from 0.3.16). The first is the
# default the product installs; 0.3.14 is there to show it fails against Docker 29.
CRI_DOCKERD_RELEASES = {"0.4.4": "1.44", "0.3.14": "1.43"}
CRI_DOCKERD_VERSION = next(iter(CRI_DOCKERD_RELEASES))
CRI_DOCKERD_ARCHIVE_ARCHES = ("amd64", "arm64")


def cri_dockerd_deb_version(version: str) -> str:
    return f"{version}~3-0~debian-bookworm"


def cri_dockerd_asset(version: str) -> str:
    """The GitHub release asset's name (dots where the package version has ~)."""
    return f"cri-dockerd_{version}.3-0.debian-bookworm_amd64.deb"


def cri_dockerd_archive(version: str, arch: str) -> str:
    """The static release archive's name (Mirantis/cri-dockerd packaging/static/Makefile)."""
    return f"cri-dockerd-{version}.{arch}.tgz"


CRI_DOCKERD_DEB_VERSION = cri_dockerd_deb_version(CRI_DOCKERD_VERSION)
CRI_DOCKERD_ASSET = cri_dockerd_asset(CRI_DOCKERD_VERSION)
CNI_PLUGINS = ("bandwidth", "bridge", "dhcp", "dummy", "firewall", "host-device", "host-local",
               "ipvlan", "loopback", "macvlan", "portmap", "ptp", "sbr", "static", "tap", "tuning",
               "vlan", "vrf")
# Debian packages the stand-in packages depend on (besides each other): what
# tests/standins/publish.py fetches into the lab's debian mirror when the lab
# root filesystem lacks them.
DEBIAN_DEPENDS = ("iptables", "conntrack", "ebtables", "ethtool", "socat", "iproute2", "mount",
                  "util-linux", "libseccomp2", "libc6", "libsystemd0", "init-system-helpers")


@dataclass
class Package:
    """One .deb: control fields, payload (dest path -> (source, mode)), scripts."""

    name: str
    version: str
    description: str
    maintainer: str
    section: str = "admin"
    homepage: str = ""
    depends: tuple[str, ...] = ()
    pre_depends: tuple[str, ...] = ()
    recommends: tuple[str, ...] = ()
    suggests: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    replaces: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    # dest -> ("prog:NAME" | "file:REL under files/" | "dir" | "link:TARGET", mode)
    payload: dict[str, tuple[str, int]] = field(default_factory=dict)
    units: tuple[str, ...] = ()          # enabled + started by postinst, like dh_installsystemd
    postinst_head: str = ""              # runs before the unit snippet (e.g. groupadd)
    filename: str | None = None

    @property
    def deb_name(self) -> str:
        upstream = self.version.split(":", 1)[-1]
        return self.filename or f"{self.name}_{upstream}_amd64.deb"


@dataclass
class Built:
    """Where the built .debs are, grouped by the repository that serves them."""

    root: Path
    k8s: dict[str, list[Path]]           # "1.30" -> kubeadm, kubelet, kubectl, cri-tools, kubernetes-cni
    docker: list[Path]                   # docker-ce, docker-ce-cli, containerd.io
    cri_dockerd: Path                    # the default release's .deb asset
    # every cri-dockerd release: version -> its assets (.deb, static .tgz per arch)
    cri_dockerd_releases: dict[str, list[Path]] = field(default_factory=dict)

    def all(self) -> list[Path]:
        """The default minor's packages (KUBE_VERSIONS[0], built first) and the runtime's: one installable set
        (every minor's kubeadm holds the same paths). The older minor is served for upgrades only."""
        return next(iter(self.k8s.values())) + self.docker + [self.cri_dockerd]


# ------------------------------------------------------------------ bundling

def config_schema() -> dict:
    """Field trees of every config kind kubeadm reads, from tests/kubeadm_types (the upstream Go
    types transcribed): the stand-in kubeadm decodes strictly against them."""
    from tests.kubeadm_types.checker import REGISTRY
    from tests.kubeadm_types.shapes import ListOf, MapOf, Struct

    def tree(shape):
        if isinstance(shape, Struct):
            return {"f": {k: tree(f.shape) for k, f in shape.fields.items()}}
        if isinstance(shape, ListOf):
            return {"l": tree(shape.item)}
        if isinstance(shape, MapOf):
            return {"m": tree(shape.value)}
        return None

    return {f"{av}/{kind}": tree(struct) for (av, kind), struct in sorted(REGISTRY.items())}


def build_info(kube_version: str) -> dict:
    minor = int(kube_version.split(".")[1])
    if minor not in MINOR_DEFAULTS:   # never borrow another minor's pause/etcd: kubeadm would not
        raise ValueError(f"no MINOR_DEFAULTS row for Kubernetes 1.{minor} - add one to tests/standins/build.py")
    d = MINOR_DEFAULTS[minor]
    return {
        "kubernetes_version": kube_version, "kubernetes_revision": K8S_REVISION,
        "cri_tools_version": d["cri_tools"], "cni_version": d["cni"], "pause_version": d["pause"],
        "etcd_version": d["etcd"], "coredns_version": d["coredns"],
        "docker_version": DOCKER_VERSION, "docker_api_version": DOCKER_API_VERSION,
        "docker_min_api_version": DOCKER_MIN_API_VERSION,
        "containerd_version": CONTAINERD_VERSION, "cri_dockerd_version": CRI_DOCKERD_VERSION,
        "cri_dockerd_api_version": CRI_DOCKERD_RELEASES[CRI_DOCKERD_VERSION],
        "config_schema": config_schema(),
    }


def bundle(prog: str, info: dict, package: str) -> str:
    """One executable python3 script: STANDIN_BUILD + standin_common + src/PROG.py."""
    common = (SRC / "standin_common.py").read_text()
    body = (SRC / f"{prog}.py").read_text()
    if "from __future__ import annotations\n" not in common:
        raise ValueError("standin_common.py must import annotations from __future__")
    common = common.replace("from __future__ import annotations\n", "", 1)
    marker = "from standin_common import *"
    if marker not in body:
        raise ValueError(f"src/{prog}.py does not import standin_common")
    body = "\n".join("# (standin_common is bundled above)" if line.startswith(marker) else line
                     for line in body.splitlines()) + "\n"
    build = {**info, "package": package, "program": prog}
    if prog != "kubeadm":
        build.pop("config_schema", None)     # only kubeadm decodes configs
    return ("#!/usr/bin/python3\n"
            f"# STAND-IN {prog} ({package}) for provisioner's tests: NOT the real program.\n"
            "# Generated by tests/standins/build.py from tests/standins/src/; do not edit.\n"
            "from __future__ import annotations\n\n"
            f"STANDIN_BUILD = __import__('json').loads({json.dumps(build, sort_keys=True)!r})\n\n"
            f"{common}\n\n# {'-' * 70} src/{prog}.py\n\n{body}")


# Where a package's programs live; /usr/bin/PROG (and the like) is a launcher that runs one of them.
PROGRAM_DIR = "/usr/lib/provisioner-standins"

LAUNCHER = """\
#!/usr/bin/python3
# STAND-IN {prog} ({package}) for provisioner's tests: NOT the real program.
# Generated by tests/standins/build.py from tests/standins/src/; do not edit. The program is {module}.py; this
# runs the code compiled from it at build time ({module}.<python>.code, for the build's Python), else its
# source. The real program is a Go binary that starts in milliseconds; compiling the bundle at every start
# cost 20-50 ms of CPU, and every lab node starts these dozens of times (a kubelet without its config is
# restarted every 10 s).
import marshal, os, sys
_p = os.path.join(os.path.dirname(os.path.realpath(__file__)), {module!r})
try:
    with open(_p + "." + sys.implementation.cache_tag + ".code", "rb") as _f:
        _c = marshal.load(_f)
except (OSError, EOFError, ValueError, TypeError):
    with open(_p + ".py", "rb") as _f:
        _c = compile(_f.read(), _p + ".py", "exec")
del _f, _p
exec(_c)
"""


def write_program(target: Path, prog: str, info: dict, package: str, stage: Path) -> None:
    """PROG bundled (:func:`bundle`) at PROGRAM_DIR/PACKAGE/PROG.py with its code compiled beside it, and a
    launcher for it at ``target``: the program runs as the bundle would, in the launcher's ``__main__``."""
    source = bundle(prog, info, package)
    module = stage / PROGRAM_DIR.lstrip("/") / package / prog
    module.parent.mkdir(parents=True, exist_ok=True)
    py = module.with_suffix(".py")
    if not py.exists():
        py.write_text(source)
        py.chmod(0o644)
        code = module.parent / f"{prog}.{sys.implementation.cache_tag}.code"
        code.write_bytes(marshal.dumps(compile(source, f"{PROGRAM_DIR}/{package}/{prog}.py", "exec")))
        code.chmod(0o644)
    rel = os.path.relpath(module, target.parent)
    target.write_text(LAUNCHER.format(prog=prog, package=package, module=rel))


SELINUX_TOOLS = ("getenforce", "setenforce", "getsebool", "setsebool", "semanage", "restorecon")


def selinux_tools(out_dir: Path) -> dict[str, Path]:
    """The SELinux stand-ins (src/selinux.py, one script under each name), written into ``out_dir``. No
    package: a test installs them only on the nodes it makes SELinux hosts (tests/lab/selinux.py)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    text = bundle("selinux", build_info(KUBE_VERSIONS[0]), "selinux-standin")
    paths = {}
    for name in SELINUX_TOOLS:
        path = out_dir / name
        path.write_text(text)
        path.chmod(0o755)
        paths[name] = path
    return paths


# --------------------------------------------------------- maintainer scripts

def _quoted(units) -> str:
    return " ".join(f"'{u}'" for u in units)


def postinst(pkg: Package) -> str | None:
    """What debhelper's dh_installsystemd writes: enable the units, start them."""
    if not pkg.units and not pkg.postinst_head:
        return None
    s = "#!/bin/sh\nset -e\n\n" + pkg.postinst_head
    for unit in pkg.units:
        s += f"""# Automatically added by dh_installsystemd
if [ "$1" = "configure" ] || [ "$1" = "abort-upgrade" ] || [ "$1" = "abort-deconfigure" ] || [ "$1" = "abort-remove" ] ; then
	# This will only remove masks created by d-s-h on package removal.
	deb-systemd-helper unmask '{unit}' >/dev/null || true

	# was-enabled defaults to true, so new installations run enable.
	if deb-systemd-helper --quiet was-enabled '{unit}'; then
		# Enables the unit on first installation, creates new
		# symlinks on upgrades if the unit file has changed.
		deb-systemd-helper enable '{unit}' >/dev/null || true
	else
		# Update the statefile to add new symlinks (if any), which need to be
		# cleaned up on purge. Also remove old symlinks.
		deb-systemd-helper update-state '{unit}' >/dev/null || true
	fi
fi
# End automatically added section
"""
    if pkg.units:
        s += f"""# Automatically added by dh_installsystemd
if [ "$1" = "configure" ] || [ "$1" = "abort-upgrade" ] || [ "$1" = "abort-deconfigure" ] || [ "$1" = "abort-remove" ] ; then
	if [ -d /run/systemd/system ]; then
		systemctl --system daemon-reload >/dev/null || true
		if [ -n "$2" ]; then
			_dh_action=restart
		else
			_dh_action=start
		fi
		deb-systemd-invoke $_dh_action {_quoted(pkg.units)} >/dev/null || true
	fi
fi
# End automatically added section
"""
    return s


def prerm(pkg: Package) -> str | None:
    if not pkg.units:
        return None
    return f"""#!/bin/sh
set -e
# Automatically added by dh_installsystemd
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
	deb-systemd-invoke stop {_quoted(pkg.units)} >/dev/null || true
fi
# End automatically added section
"""


def postrm(pkg: Package) -> str | None:
    if not pkg.units:
        return None
    return f"""#!/bin/sh
set -e
# Automatically added by dh_installsystemd
if [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null || true
fi
# End automatically added section
# Automatically added by dh_installsystemd
if [ "$1" = "remove" ]; then
	if [ -x "/usr/bin/deb-systemd-helper" ]; then
		deb-systemd-helper mask {_quoted(pkg.units)} >/dev/null || true
	fi
fi

if [ "$1" = "purge" ]; then
	if [ -x "/usr/bin/deb-systemd-helper" ]; then
		deb-systemd-helper purge {_quoted(pkg.units)} >/dev/null || true
		deb-systemd-helper unmask {_quoted(pkg.units)} >/dev/null || true
	fi
fi
# End automatically added section
"""


DAEMON_RELOAD = """if [ "$1" = "configure" ] && [ -d /run/systemd/system ]; then
	# A new kubelet drop-in: make systemd read it before anyone restarts the kubelet.
	systemctl --system daemon-reload >/dev/null || true
fi
"""

DOCKER_GROUP = """case "$1" in
	configure)
		if [ -z "$2" ]; then
			if ! getent group docker > /dev/null; then
				groupadd --system docker
			fi
		fi
		;;
	abort-*)
		# How'd we get here??
		exit 1
		;;
	*)
		;;
esac

"""


# ------------------------------------------------------------------ packages

def packages(kube_version: str) -> list[Package]:
    """Every stand-in package for one Kubernetes version (Docker's and
    cri-dockerd's do not depend on it)."""
    info = build_info(kube_version)
    minor = int(kube_version.split(".")[1])
    kv = f"{kube_version}-{K8S_REVISION}"
    kubeadm_deps = (("cri-tools (>= 1.30.0)",) if minor >= 30 else
                    ("kubelet (>= 1.19.0)", "kubectl (>= 1.19.0)", "kubernetes-cni (>= 1.2.0)",
                     "cri-tools (>= 1.28.0)"))
    k8s = dict(maintainer=K8S_MAINTAINER, homepage="https://kubernetes.io")
    return [
        Package("kubeadm", kv, "Command-line utility for administering a Kubernetes cluster", **k8s,
                depends=kubeadm_deps,
                payload={"/usr/bin/kubeadm": ("prog:kubeadm", 0o755),
                         "/usr/libexec/kubeadm-standin/kube-apiserver": ("prog:kube_apiserver", 0o755),
                         "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf":
                             ("file:kubeadm/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf", 0o644)},
                postinst_head=DAEMON_RELOAD),
        Package("kubelet", kv, "Node agent for Kubernetes clusters", section="net", **k8s,
                depends=("iptables (>= 1.4.21)", "kubernetes-cni (>= 1.2.0)", "iproute2", "mount",
                         "socat", "util-linux", "ethtool", "ebtables", "conntrack"),
                payload={"/usr/bin/kubelet": ("prog:kubelet", 0o755),
                         "/usr/lib/systemd/system/kubelet.service":
                             ("file:kubelet/usr/lib/systemd/system/kubelet.service", 0o644),
                         "/etc/default/kubelet": ("file:kubelet/etc/default/kubelet", 0o644),
                         # flanneld for the DaemonSet pods the stand-in kubelet "runs" (H3 lane)
                         "/usr/libexec/kubelet-standin/flanneld": ("prog:flanneld", 0o755),
                         "/usr/lib/systemd/system/standin-pods.service":
                             ("file:kubelet/usr/lib/systemd/system/standin-pods.service", 0o644),
                         # the etcd static pod, run with Debian's etcd where the node has it
                         "/usr/libexec/kubelet-standin/etcd-pod": ("prog:etcd_pod", 0o755),
                         "/usr/lib/systemd/system/standin-etcd.service":
                             ("file:kubelet/usr/lib/systemd/system/standin-etcd.service", 0o644),
                         "/etc/kubernetes/manifests": ("dir", 0o755),
                         "/var/lib/kubelet": ("dir", 0o755)},
                units=("kubelet.service", "standin-pods.service")),
        Package("kubectl", kv, "Command-line utility for interacting with a Kubernetes cluster", **k8s,
                payload={"/usr/bin/kubectl": ("prog:kubectl", 0o755)}),
        Package("cri-tools", f"{info['cri_tools_version']}-{K8S_REVISION}",
                "Command-line utility for interacting with a container runtime", **k8s,
                payload={"/usr/bin/crictl": ("prog:crictl", 0o755)}),
        Package("kubernetes-cni", f"{info['cni_version']}-{K8S_REVISION}",
                "Binaries required to provision kubernetes container networking", section="net", **k8s,
                payload={**{f"/opt/cni/bin/{p}": ("prog:cni_plugin", 0o755) for p in CNI_PLUGINS},
                         "/etc/cni/net.d": ("dir", 0o755)}),
    ]


def runtime_packages() -> list[Package]:
    docker = dict(maintainer=DOCKER_MAINTAINER, homepage="https://www.docker.com")
    return [
        Package("containerd.io", CONTAINERD_DEB_VERSION, "An open and reliable container runtime",
                maintainer="Containerd team <help@containerd.io>", homepage="https://containerd.io",
                section="devel", depends=("libc6 (>= 2.34)", "libseccomp2 (>= 2.5.0)"),
                conflicts=("containerd", "runc"), replaces=("containerd", "runc"),
                provides=("containerd", "runc"),
                payload={"/usr/bin/containerd": ("prog:containerd", 0o755),
                         "/lib/systemd/system/containerd.service":
                             ("file:containerd.io/lib/systemd/system/containerd.service", 0o644),
                         "/etc/containerd/config.toml": ("file:containerd.io/etc/containerd/config.toml", 0o644)},
                units=("containerd.service",)),
        Package("docker-ce-cli", DOCKER_DEB_VERSION, "Docker CLI: the open-source application container engine",
                **docker, depends=("libc6 (>= 2.34)",),
                recommends=("docker-buildx-plugin", "docker-compose-plugin"),
                conflicts=("docker (<< 1.5~)", "docker-engine", "docker.io"),
                replaces=("docker-ce (<< 5:0)", "docker-engine"),
                payload={"/usr/bin/docker": ("prog:docker", 0o755)}),
        Package("docker-ce", DOCKER_DEB_VERSION, "Docker: the open-source application container engine",
                **docker,
                depends=("containerd.io (>= 1.6.24)", "docker-ce-cli", "iptables", "libseccomp2 (>= 2.3.0)",
                         "libc6 (>= 2.34)", "libsystemd0"),
                pre_depends=("init-system-helpers (>= 1.54~)",),
                recommends=("apparmor", "ca-certificates", "docker-ce-rootless-extras", "git", "libltdl7",
                            "pigz", "procps", "xz-utils"),
                suggests=("aufs-tools", "cgroupfs-mount | cgroup-lite"),
                conflicts=("docker (<< 1.5~)", "docker-engine", "docker.io"), replaces=("docker-engine",),
                payload={"/usr/bin/dockerd": ("prog:dockerd", 0o755),
                         "/lib/systemd/system/docker.service":
                             ("file:docker-ce/lib/systemd/system/docker.service", 0o644),
                         "/lib/systemd/system/docker.socket":
                             ("file:docker-ce/lib/systemd/system/docker.socket", 0o644),
                         "/etc/default/docker": ("file:docker-ce/etc/default/docker", 0o644)},
                units=("docker.service", "docker.socket"), postinst_head=DOCKER_GROUP),
    ]


def cri_dockerd_package(version: str) -> Package:
    return Package("cri-dockerd", cri_dockerd_deb_version(version),
            "cri-dockerd is a lightweight implementation of the CRI specification which talks to docker.",
            maintainer="Mirantis <support@mirantis.com>", homepage="https://www.mirantis.com",
            depends=("containerd (>= 1.2.2-3) | containerd.io (>= 1.2.2-3)", "iptables",
                     "libseccomp2 (>= 2.3.0)", "libc6 (>= 2.34)"),
            recommends=("aufs-tools", "ca-certificates", "cgroupfs-mount | cgroup-lite", "git", "pigz",
                        "xz-utils", "libltdl7"),
            payload={"/usr/bin/cri-dockerd": ("prog:cri_dockerd", 0o755),
                     "/lib/systemd/system/cri-docker.service":
                         ("file:cri-dockerd/lib/systemd/system/cri-docker.service", 0o644),
                     "/lib/systemd/system/cri-docker.socket":
                         ("file:cri-dockerd/lib/systemd/system/cri-docker.socket", 0o644)},
            units=("cri-docker.service", "cri-docker.socket"), filename=cri_dockerd_asset(version))


def build_archive(version: str, arch: str, info: dict, out_dir: Path) -> Path:
    """upstream's static archive: ``cri-dockerd/cri-dockerd`` (the same stand-in script for every
    arch: python3 runs anywhere), root-owned, fixed mtime so the bytes only change with the sources."""
    import io
    import tarfile

    out = out_dir / cri_dockerd_archive(version, arch)
    data = bundle("cri_dockerd", info, "cri-dockerd").encode()
    with tarfile.open(out, "w:gz", format=tarfile.GNU_FORMAT) as tar:
        d = tarfile.TarInfo("cri-dockerd")
        d.type, d.mode, d.mtime = tarfile.DIRTYPE, 0o755, 1700000000
        tar.addfile(d)
        f = tarfile.TarInfo("cri-dockerd/cri-dockerd")
        f.size, f.mode, f.mtime = len(data), 0o755, 1700000000
        tar.addfile(f, io.BytesIO(data))
    return out


# ------------------------------------------------------------------ building

def control(pkg: Package, installed_kib: int) -> str:
    fields = [("Package", pkg.name), ("Version", pkg.version), ("Architecture", "amd64"),
              ("Maintainer", pkg.maintainer), ("Installed-Size", str(installed_kib)),
              ("Pre-Depends", ", ".join(pkg.pre_depends)), ("Depends", ", ".join(pkg.depends)),
              ("Recommends", ", ".join(pkg.recommends)), ("Suggests", ", ".join(pkg.suggests)),
              ("Conflicts", ", ".join(pkg.conflicts)), ("Replaces", ", ".join(pkg.replaces)),
              ("Provides", ", ".join(pkg.provides)), ("Section", pkg.section), ("Priority", "optional"),
              ("Homepage", pkg.homepage)]
    text = "".join(f"{k}: {v}\n" for k, v in fields if v)
    return text + f"Description: {pkg.description}\n{STANDIN_NOTE}\n"


def build_deb(pkg: Package, info: dict, out_dir: Path, work: Path) -> Path:
    """Stage ``pkg`` under ``work`` and build it with dpkg-deb (files owned by root)."""
    stage = work / pkg.name
    bundles: dict[str, Path] = {}
    for dest, (source, mode) in sorted(pkg.payload.items()):
        target = stage / dest.lstrip("/")
        if source == "dir":
            target.mkdir(parents=True, exist_ok=True)
            target.chmod(mode)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        kind, _, ref = source.partition(":")
        if kind == "prog" and ref in bundles:
            os.link(bundles[ref], target)      # CNI plugins: one script, many names (hard links)
            continue
        if kind == "prog":
            write_program(target, ref, info, pkg.name, stage)
            bundles[ref] = target
        elif kind == "file":
            shutil.copyfile(FILES / ref, target)
        else:
            raise ValueError(f"{pkg.name}: bad payload source {source!r}")
        target.chmod(mode)
    debian = stage / "DEBIAN"
    debian.mkdir(parents=True)
    conffiles = [d for d in pkg.payload if d.startswith("/etc/") and pkg.payload[d][0].startswith("file:")]
    if conffiles:
        (debian / "conffiles").write_text("".join(f"{c}\n" for c in sorted(conffiles)))
    for name, text in (("postinst", postinst(pkg)), ("prerm", prerm(pkg)), ("postrm", postrm(pkg))):
        if text:
            (debian / name).write_text(text)
            (debian / name).chmod(0o755)
    md5 = []
    size = 0
    seen: set[int] = set()
    for f in sorted(p for p in stage.rglob("*") if p.is_file() and debian not in p.parents):
        st = f.stat()
        if st.st_ino not in seen:
            seen.add(st.st_ino)
            size += st.st_size
        md5.append(f"{hashlib.md5(f.read_bytes()).hexdigest()}  {f.relative_to(stage)}\n")
    (debian / "md5sums").write_text("".join(md5))
    (debian / "control").write_text(control(pkg, (size + 1023) // 1024 + 4))
    deb = out_dir / pkg.deb_name
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "-z1", "--build", str(stage), str(deb)],
                   check=True, capture_output=True, text=True)
    return deb


def sources_hash(kube_versions) -> str:
    h = hashlib.sha256(json.dumps(sorted(kube_versions)).encode())
    for base in (SRC, FILES, HERE.parent / "kubeadm_types"):
        for p in sorted(base.rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts:
                h.update(str(p.relative_to(HERE.parent)).encode() + b"\0" + p.read_bytes() + b"\0")
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()[:16]


def build_all(out_dir: Path, kube_versions=KUBE_VERSIONS) -> Built:
    """Build every package into ``out_dir`` (k8s-1.NN/, docker/, cri-dockerd/)."""
    out_dir = Path(out_dir)
    work = Path(tempfile.mkdtemp(prefix="standins-stage-"))
    try:
        k8s: dict[str, list[Path]] = {}
        for kv in kube_versions:
            minor = ".".join(kv.split(".")[:2])
            if minor in k8s:
                raise ValueError(f"two versions of Kubernetes {minor}: the stand-in repository holds one")
            d = out_dir / f"k8s-{minor}"
            d.mkdir(parents=True, exist_ok=True)
            info = build_info(kv)
            k8s[minor] = [build_deb(p, info, d, work / kv) for p in packages(kv)]
        info = build_info(kube_versions[0])
        runtime = {}
        for p in runtime_packages():
            d = out_dir / "docker"
            d.mkdir(parents=True, exist_ok=True)
            runtime[p.name] = build_deb(p, info, d, work / "runtime")
        releases: dict[str, list[Path]] = {}
        for version, api in CRI_DOCKERD_RELEASES.items():
            d = out_dir / "cri-dockerd" / version
            d.mkdir(parents=True, exist_ok=True)
            cinfo = {**info, "cri_dockerd_version": version, "cri_dockerd_api_version": api}
            releases[version] = [build_deb(cri_dockerd_package(version), cinfo, d, work / f"cri-{version}")] + \
                [build_archive(version, arch, cinfo, d) for arch in CRI_DOCKERD_ARCHIVE_ARCHES]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    built = Built(out_dir, k8s, [runtime["docker-ce"], runtime["docker-ce-cli"], runtime["containerd.io"]],
                  releases[CRI_DOCKERD_VERSION][0], releases)
    (out_dir / "built.json").write_text(json.dumps(
        {"k8s": {m: [p.name for p in debs] for m, debs in k8s.items()},
         "docker": [p.name for p in built.docker],
         "cri_dockerd": {v: [p.name for p in files] for v, files in releases.items()}}, indent=1))
    return built


def load_built(out_dir: Path) -> Built:
    d = json.loads((out_dir / "built.json").read_text())
    releases = {v: [out_dir / "cri-dockerd" / v / n for n in names] for v, names in d["cri_dockerd"].items()}
    return Built(out_dir, {m: [out_dir / f"k8s-{m}" / n for n in names] for m, names in d["k8s"].items()},
                 [out_dir / "docker" / n for n in d["docker"]], releases[CRI_DOCKERD_VERSION][0], releases)


def ensure_built(kube_versions=KUBE_VERSIONS, cache_dir: Path | None = None) -> Built:
    """The cached build for the current sources, built first when missing."""
    cache_dir = Path(cache_dir or CACHE_DIR)
    out = cache_dir / f"standins-{sources_hash(kube_versions)}"
    if (out / ".complete").exists():
        return load_built(out)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".standins-build-", dir=cache_dir))
    t0 = time.monotonic()
    try:
        build_all(tmp, kube_versions)
        (tmp / ".complete").touch()
        tmp.chmod(0o755)
        try:
            os.rename(tmp, out)
        except OSError:                   # built meanwhile by another process: use theirs
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    prune(cache_dir, keep=out)
    print(f"standins: built {out.name} in {time.monotonic() - t0:.1f}s")
    return load_built(out)


def prune(cache_dir: Path, keep: Path) -> None:
    """Remove builds of older sources (the hash changed)."""
    for old in cache_dir.glob("standins-*"):
        if old != keep and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)


def main(argv: list[str]) -> int:
    if argv:
        built = build_all(Path(argv[0]))
    else:
        built = ensure_built()
    for deb in built.all():
        print(deb)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
