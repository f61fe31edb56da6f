"""What the desired state of a host is made of, besides the templates: package sources, CNI inputs, host OS.

>>> docker_keyring_url(inv, ASSUMED_OS)      # doctest: +SKIP
'https://download.docker.com/linux/debian/gpg'

The desired state itself - every file ``up`` writes on a host, with its mode,
owner and whether it holds a secret - is ONE function,
:func:`provisioner.render.render_host` (:func:`~provisioner.render.render_cluster`
for every host). ``render -o DIR`` writes its result, ``up`` and ``up --plan``
diff the hosts against it, and the phases only consume it (``ctx.file(host,
path)``): none of them renders a file. This module holds the values that
function and the phases share (repository URLs and key locations, the CNI
images and versions), so the phases need not import the renderer's internals.

Inputs of the desired state: the inventory; the cluster secrets of the state
directory (``secrets.yaml``: bootstrap token, certificate key, VRRP and haproxy
stats passwords, the cluster CA - whose hash the join configs pin, so the CA
hash is known before ``kubeadm init``); and each host's OS (distro, codename,
architecture: the apt lines name them). ``up`` reads the OS from the host;
``render`` takes what each host reported on the last ``up``/``up --plan``
(the state directory's journal) and :data:`ASSUMED_OS` for a host never read.

Run-time values, marked on the file they concern:

- ``origin``: the content is not ours, only the location is: fetched on the
  host at run time from a URL (the apt repository keys, recorded beside each
  key as ``KEY.source``; calico's CRD and operator manifests), or copied on
  the host from a file ``kubeadm init`` writes (the user's ``~/.kube/config``,
  from ``/etc/kubernetes/admin.conf``). ``render`` lists these in its manifest
  without content.
- ``renewable``: the bootstrap token and certificate key in the kubeadm
  init/join configs. ``up`` renews them when they expire before a late join
  (:mod:`provisioner.phases.material`) and writes the config with the renewed
  values in their place (:meth:`~provisioner.render.RenderedFile.current`);
  the file is otherwise the desired one, and its masked form is the same.
- ``transient``: written for one kubeadm command and removed right after (the
  init/join configs hold the token): not on the host once ``up`` is done.

Not in the desired state (``up`` edits these host files in place, keeping what
the host has): swap lines commented out in /etc/fstab and swap units masked,
the distribution's .sources renamed when an apt mirror replaces them, /etc/hosts
lines outside our block that contradict it, the /etc/localtime link. Nor what
packages install or kubeadm generates (PKI, kubeconfigs, static pods).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from provisioner.compat import CALICO_VERSION, FLANNEL, FLANNEL_VERSION, calico_for_minor


class HostOs(NamedTuple):
    """The part of a host's OS the desired state depends on (a ``phases.base.OsInfo`` fits too)."""

    distro: str
    codename: str
    arch: str


# What `render` assumes for a host no run has read yet: the first supported target (Debian 12, amd64).
ASSUMED_OS = HostOs("debian", "bookworm", "amd64")

KUBEADM_DIR = "/etc/kubernetes/provisioner"
# RHEL family (Rocky, AlmaLinux, RHEL, CentOS Stream, Oracle): dnf repositories, EL paths.
KUBERNETES_REPO = "/etc/yum.repos.d/kubernetes.repo"
DOCKER_REPO = "/etc/yum.repos.d/docker-ce.repo"
YUM_MIRROR_REPO = "/etc/yum.repos.d/provisioner-mirror.repo"
KUBERNETES_REPO_ID, DOCKER_REPO_ID = "kubernetes", "docker-ce-stable"     # what --disableexcludes names
RHEL_DISTROS = ("rocky", "almalinux", "rhel", "centos", "ol")
# Each distribution's own release key, as its release package installs it (the yum mirror keeps checking it).
RELEASE_KEYS = {"rocky": "RPM-GPG-KEY-Rocky-$releasever", "almalinux": "RPM-GPG-KEY-AlmaLinux-$releasever",
                "rhel": "RPM-GPG-KEY-redhat-release", "centos": "RPM-GPG-KEY-centosofficial",
                "ol": "RPM-GPG-KEY-oracle"}
DOCKER_KEYRING = "/etc/apt/keyrings/docker.gpg"
KUBERNETES_KEYRING = "/etc/apt/keyrings/kubernetes-apt-keyring.gpg"
DOCKER_LIST = "/etc/apt/sources.list.d/docker.list"
KUBERNETES_LIST = "/etc/apt/sources.list.d/kubernetes.list"
APT_MIRROR_LIST = "/etc/apt/sources.list"


def family(os) -> str:
    """"rhel" or "debian": which package manager and paths a host's OS takes (an ``OsInfo`` says it itself,
    ID_LIKE included; a :class:`HostOs` by its distribution; None, an OS not read yet: the first supported
    target's, as :data:`ASSUMED_OS`)."""
    if os is None:
        return "debian"
    return getattr(os, "family", None) or ("rhel" if os.distro in RHEL_DISTROS else "debian")


def chrony_conf(os) -> str:
    """chrony's configuration file: Debian's package reads /etc/chrony/chrony.conf, EL's /etc/chrony.conf."""
    return "/etc/chrony.conf" if family(os) == "rhel" else "/etc/chrony/chrony.conf"


def chrony_unit(os) -> str:
    return "chronyd" if family(os) == "rhel" else "chrony"


def release_key(os) -> str:
    return "file:///etc/pki/rpm-gpg/" + RELEASE_KEYS.get(os.distro, RELEASE_KEYS["rhel"])


def keyring_source(keyring: str) -> str:
    """Where ``up`` records the URL a key was fetched from (a new URL fetches the key again)."""
    return f"{keyring}.source"


def kubernetes_repo_url(inv) -> str:
    return inv.package_mirrors.kubernetes.format(minor=inv.version.minor_str).rstrip("/")


def docker_repo_url(inv) -> str:
    return inv.package_mirrors.docker.rstrip("/")


def docker_keyring_url(inv, os_) -> str:
    return f"{docker_repo_url(inv)}/{os_.distro}/gpg"


def kubernetes_keyring_url(inv) -> str:
    return f"{kubernetes_repo_url(inv)}/deb/Release.key"


# The flannel release and the CNI plugin its own manifest pins (data and sources: provisioner/compat.py).
FLANNEL_CNI_PLUGIN_VERSION = FLANNEL[FLANNEL_VERSION].cni_plugin
FLANNEL_UPSTREAM_REPOSITORY = "ghcr.io/flannel-io"
CALICO_UPSTREAM = "https://raw.githubusercontent.com/projectcalico/calico/v{version}/manifests"
CALICO_MANIFESTS = ("v1_crd_projectcalico_org.yaml", "tigera-operator.yaml")


def flannel_images(inv) -> tuple[str, str]:
    """(flannel, flannel-cni-plugin) images: upstream's ghcr.io, or the inventory's image repository
    when it is a mirror (a site that mirrors registry.k8s.io mirrors flannel beside it)."""
    repo = FLANNEL_UPSTREAM_REPOSITORY if inv.image_repository == "registry.k8s.io" else inv.image_repository
    return f"{repo}/flannel:{FLANNEL_VERSION}", f"{repo}/flannel-cni-plugin:{FLANNEL_CNI_PLUGIN_VERSION}"


def flannel_iface_args(inv) -> list[str]:
    """How flanneld finds the NIC of the host network on every node.

    Never ``--iface-can-reach=<endpoint>``: flannel takes the interface of the route to
    that address (flannel-io/flannel pkg/ip/iface.go GetInterfaceBySpecificIPRouting), and
    on the node holding it (mode none's control plane, colocated mode's VIP holder) that
    route is ``lo``. One NIC name for all nodes: ``--iface=NAME``. Names that differ: one
    ``--iface-regex`` of the nodes' exact addresses - flannel matches it against each
    interface's IPv4 addresses before names (pkg/ipmatch/match.go), so every node takes
    the interface carrying its inventory address. Several ``--iface`` would not do: flanneld
    takes the first name that exists (main.go), a NAT NIC named like another host's NIC
    included.
    """
    nics = list(dict.fromkeys(h.nic for h in inv.kube_nodes))
    if len(nics) == 1:
        return [f"--iface={nics[0]}"]
    addresses = "|".join(re.escape(str(h.address)) for h in inv.kube_nodes)
    return [f"--iface-regex=^({addresses})$"]


def calico_version(inv) -> str:
    """The inventory's calico_version, else the newest Calico that lists the cluster's minor."""
    return inv.calico_version or calico_for_minor(inv.version.minor) or CALICO_VERSION


def calico_manifest_base(inv) -> str:
    return (inv.package_mirrors.calico or CALICO_UPSTREAM).replace("{version}", calico_version(inv)).rstrip("/")


def calico_manifest_dir(inv) -> str:
    """Where the cni phase keeps calico's downloaded manifests on the first control plane."""
    return f"{KUBEADM_DIR}/cni/calico-v{calico_version(inv)}"
