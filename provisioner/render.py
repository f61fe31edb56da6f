"""The desired state: every file ``up`` writes, per host, rendered once from Jinja2 templates.

>>> files = render_cluster(inv, secrets, os={"ha1": host_os})     # doctest: +SKIP
>>> [f.path for f in files if f.host == "ha1"]                     # doctest: +SKIP
['/etc/hostname', '/etc/hosts', '/etc/apt/sources.list', '/etc/chrony/chrony.conf', ...]

Rendering is pure: inventory + secrets + each host's OS in, :class:`RenderedFile`
list out. ``render -o DIR`` writes exactly this list, ``up`` writes it to the
hosts (the phases take each file from it, none renders one itself). One template
per target file, under ``templates/``. Which inputs it needs and which values
are only known at run time: :mod:`provisioner.desired`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jinja2

from provisioner import desired as D
from provisioner import proxy
from provisioner.compat import CRI_SOCKET
from provisioner.errors import RenderError
from provisioner.inventory import Host, Inventory
from provisioner.secrets import ClusterSecrets
from provisioner.versions import kubeadm_api_version, pause_version

KUBEADM_DIR = D.KUBEADM_DIR
INIT_CONFIG = f"{KUBEADM_DIR}/kubeadm-init.yaml"
JOIN_CONFIG = f"{KUBEADM_DIR}/kubeadm-join.yaml"
CHECK_SCRIPT = "/etc/keepalived/check_haproxy.sh"

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
if not TEMPLATES_DIR.is_dir():  # running from a source checkout
    TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"


@dataclass(frozen=True)
class RenderedFile:
    """One file for one host: where it goes, who owns it, and its text."""

    host: str
    path: str                 # absolute path on the host
    content: str
    component: str            # which phase installs it: hosts, chrony, keepalived, ...
    mode: int = 0o644
    owner: str = "root"
    group: str = "root"
    merge: str = "replace"    # "block": a marked block merged into an existing file (/etc/hosts)
    secret: bool = False      # contains a secret: mode 0600 and masked in diffs
    # Run-time values (see provisioner.desired): content fetched from a URL or copied from a host path...
    origin: str = ""
    # ...secret values up may renew before writing the file: (ClusterSecrets field, value rendered here)...
    renewable: tuple[tuple[str, str], ...] = ()
    transient: bool = False   # ...and a file removed right after the command that reads it

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content.encode()).hexdigest()

    def current(self, secrets: ClusterSecrets) -> str:
        """The content with the renewable values as ``secrets`` holds them now (renewed by a late join)."""
        text = self.content
        for name, rendered in self.renewable:
            text = text.replace(rendered, getattr(secrets, name))
        return text

    def masked(self, secrets: ClusterSecrets) -> str:
        """The form shown and compared where secrets must not be: every secret value as ``<redacted>``."""
        return mask(self.content, secrets) if self.secret else self.content


def mask(text: str, secrets: ClusterSecrets) -> str:
    for value in sorted(secrets.values(), key=len, reverse=True):
        if value:
            text = text.replace(value, "<redacted>")
    return text


@lru_cache(maxsize=1)
def template_env() -> jinja2.Environment:
    """The one Jinja2 environment: undefined names are errors, never empty strings."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


@dataclass(frozen=True)
class _NtpSource:
    name: str
    is_address: bool


def hosts_entries(inv: Inventory) -> list[dict]:
    """The managed /etc/hosts block: one entry (address, names) per line."""
    def names(name: str) -> list[str]:
        full = inv.fqdn(name)
        return [full, name] if full != name else [name]

    entries = []
    endpoint_address = inv.control_plane_endpoint.address
    entries.append({"address": endpoint_address, "names": names(inv.control_plane_endpoint.name)})
    for h in inv.hosts:
        entries.append({"address": h.address, "names": names(h.hostname)})
    if inv.registry:
        entries.append({"address": inv.registry.address, "names": names(inv.registry.hostname)})
    return entries


def _vrrp(inv: Inventory, host: Host) -> dict:
    lbs = inv.load_balancers
    index = [h.hostname for h in lbs].index(host.hostname)
    step = 20 if inv.load_balancer.mode == "pair" else 10   # pair: 100/80 as in the runbook
    return {
        "state": "MASTER" if index == 0 else "BACKUP",
        "priority": 100 - step * index,
        "peers": [str(h.address) for h in lbs if h.hostname != host.hostname],
    }


def cluster_context(inv: Inventory, secrets: ClusterSecrets) -> dict:
    """Values every template may use, computed once per cluster."""
    service_net = inv.networking.service_cidr
    sans = [inv.control_plane_endpoint.name, inv.endpoint_name]
    if inv.control_plane_endpoint.address:
        sans.append(str(inv.control_plane_endpoint.address))
    return {
        "inv": inv,
        "secrets": secrets,
        "cri_socket": CRI_SOCKET,
        "pause_image": f"{inv.image_repository}/pause:{pause_version(inv.version)}",
        "control_plane_endpoint": f"{inv.endpoint_name}:{inv.api_port}",
        "cluster_dns": str(service_net.network_address + 10),
        "cert_sans": list(dict.fromkeys(sans)),
        "hosts_entries": hosts_entries(inv),
        "ntp_sources": [_NtpSource(s, _is_address(s)) for s in inv.ntp_servers],
        # FQDN[:port]: the only spelling Docker matches against an image name (see validation._registry).
        "insecure_registries": [inv.registry.docker_name(inv)] if inv.registry and inv.registry.insecure else [],
        "check_script_path": CHECK_SCRIPT,
    }


def _is_address(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
        return True
    except ValueError:
        return False


def _render(template: str, ctx: dict, **extra) -> str:
    return template_env().get_template(template).render(**ctx, **extra)


def renderable(inv: Inventory) -> None:
    """Raise :class:`RenderError` for an inventory the desired state cannot be rendered for (yet)."""
    if inv.runtime != "docker":
        raise RenderError(f"runtime: {inv.runtime} is not yet supported - use runtime: docker")


def render_host(inv: Inventory, secrets: ClusterSecrets, host: Host, os=None, ctx: dict | None = None
                ) -> list[RenderedFile]:
    """Every file ``up`` writes on ``host``, in the order the phases write them. ``os``: the host's OS
    (distro, codename, arch - :class:`provisioner.desired.HostOs` or ``OsInfo``); None leaves out the
    files that depend on it (the apt lines), for a caller that does not know it yet."""
    renderable(inv)
    ctx = ctx or cluster_context(inv, secrets)
    name = host.hostname
    files: list[RenderedFile] = []

    def add(template: str, path: str, component: str, **kw) -> None:
        extra = kw.pop("extra", {})
        files.append(RenderedFile(name, path, _render(template, ctx, host=host, **extra), component, **kw))

    def keyring(path: str, url: str, component: str) -> None:
        files.append(RenderedFile(name, path, "", component, origin=url))
        files.append(RenderedFile(name, D.keyring_source(path), url + "\n", component))

    # prep
    files.append(RenderedFile(name, "/etc/hostname", f"{name}\n", "hostname"))
    add("common/hosts.j2", "/etc/hosts", "hosts", merge="block")
    kube = host in inv.kube_nodes
    if kube:
        add("common/modules-load.conf.j2", "/etc/modules-load.d/kubernetes.conf", "kernel")
        add("common/sysctl-kubernetes.conf.j2", "/etc/sysctl.d/99-kubernetes.conf", "kernel")
    rhel = D.family(os) == "rhel"
    private = {"mode": 0o600, "secret": True} if proxy.has_credentials(inv) else {}
    proxy_env = proxy.environment(inv)
    dnf_proxy = proxy_env.get("HTTP_PROXY", "")     # dnf takes it per repository
    if inv.package_mirrors.apt and os is not None and not rhel:
        add("apt/mirror.list.j2", D.APT_MIRROR_LIST, "apt", extra={
            "url": inv.package_mirrors.apt, "distro": os.distro, "codename": os.codename})
    if inv.package_mirrors.yum and rhel:
        add("dnf/mirror.repo.j2", D.YUM_MIRROR_REPO, "dnf", **private, extra={
            "url": inv.package_mirrors.yum.rstrip("/"), "gpgkey": D.release_key(os), "proxy": dnf_proxy})
    if proxy_env:
        if not rhel:
            files.append(RenderedFile(name, proxy.APT_CONF, proxy.apt_conf(inv), "proxy", **private))
        if host in inv.kube_nodes:
            files += [RenderedFile(name, path, proxy.systemd_dropin(inv), "proxy", **private)
                      for path in (proxy.DOCKER_DROPIN, proxy.KUBELET_DROPIN)]
    add("chrony/chrony.conf.j2", D.chrony_conf(os), "chrony")

    if host in inv.load_balancers:
        add("common/sysctl-loadbalancer.conf.j2", "/etc/sysctl.d/90-provisioner-lb.conf", "lb")
        add("keepalived/check_haproxy.sh.j2", CHECK_SCRIPT, "keepalived", mode=0o755)
        add("keepalived/keepalived.conf.j2", "/etc/keepalived/keepalived.conf", "keepalived",
            mode=0o600, secret=True, extra={"vrrp": _vrrp(inv, host)})
        # Debian's package makes /run/haproxy (tmpfiles.d); EL's has only /var/lib/haproxy, its chroot
        add("haproxy/haproxy.cfg.j2", "/etc/haproxy/haproxy.cfg", "haproxy", mode=0o600, secret=True,
            extra={"stats_socket": "/var/lib/haproxy/stats" if rhel else "/run/haproxy/admin.sock"})

    if not kube:
        return files
    # runtime
    if rhel:
        add("dnf/docker-ce.repo.j2", D.DOCKER_REPO, "runtime", **private, extra={
            "url": D.docker_repo_url(inv), "proxy": dnf_proxy})
    elif os is not None:
        keyring(D.DOCKER_KEYRING, D.docker_keyring_url(inv, os), "runtime")
        add("apt/docker.list.j2", D.DOCKER_LIST, "runtime", extra={
            "url": D.docker_repo_url(inv), "distro": os.distro, "codename": os.codename, "arch": os.arch,
            "keyring": D.DOCKER_KEYRING})
    add("docker/daemon.json.j2", "/etc/docker/daemon.json", "runtime")
    add("cri-dockerd/cri-docker.socket.j2", "/etc/systemd/system/cri-docker.socket", "runtime")
    add("cri-dockerd/cri-docker.service.j2", "/etc/systemd/system/cri-docker.service", "runtime")
    # kube-packages
    if rhel:
        add("dnf/kubernetes.repo.j2", D.KUBERNETES_REPO, "kube-packages", **private, extra={
            "url": D.kubernetes_repo_url(inv), "proxy": dnf_proxy})
    else:
        keyring(D.KUBERNETES_KEYRING, D.kubernetes_keyring_url(inv), "kube-packages")
        add("apt/kubernetes.list.j2", D.KUBERNETES_LIST, "kube-packages",
            extra={"url": D.kubernetes_repo_url(inv), "keyring": D.KUBERNETES_KEYRING})
    api = kubeadm_api_version(inv.version).rsplit("/", 1)[1]
    token = ("bootstrap_token", secrets.bootstrap_token)
    certificate_key = ("certificate_key", secrets.certificate_key)
    if host == inv.first_control_plane:
        # The CA made by provisioner: kubeadm init adopts it, so joins can pin its hash.
        files.append(RenderedFile(name, "/etc/kubernetes/pki/ca.crt", secrets.ca_cert_pem, "kubeadm"))
        files.append(RenderedFile(name, "/etc/kubernetes/pki/ca.key", secrets.ca_key_pem, "kubeadm",
                                  mode=0o600, secret=True))
        add(f"kubeadm/{api}/init.yaml.j2", INIT_CONFIG, "kubeadm", mode=0o600, secret=True,
            renewable=(token, certificate_key), transient=True)
        user = host.ssh.user or "root"
        files.append(RenderedFile(name, "/root/.kube/config" if user == "root" else f"~{user}/.kube/config", "",
                                  "kubeadm", mode=0o600, owner=user, group="", secret=True,
                                  origin="/etc/kubernetes/admin.conf"))
        files.extend(_cni_files(inv, ctx, host))
    else:
        control_plane = host.has("control-plane")
        add(f"kubeadm/{api}/join.yaml.j2", JOIN_CONFIG, "kubeadm", mode=0o600, secret=True, transient=True,
            renewable=(token, certificate_key) if control_plane else (token,),
            extra={"control_plane": control_plane})
    return files


def _cni_files(inv: Inventory, ctx: dict, host: Host) -> list[RenderedFile]:
    """The pod network's manifests, applied from the first control plane."""
    name = host.hostname
    if inv.cni == "flannel":
        net_conf = _render("cni/flannel-net-conf.json.j2", ctx)
        json.loads(net_conf)   # rendered JSON must parse before it reaches the cluster
        image, cni_image = D.flannel_images(inv)
        manifest = _render("cni/kube-flannel.yml.j2", ctx, net_conf=net_conf.strip(),
                           flannel_version=D.FLANNEL_VERSION, flannel_image=image, flannel_cni_plugin_image=cni_image,
                           flanneld_args=["--ip-masq", "--kube-subnet-mgr", *D.flannel_iface_args(inv)])
        return [RenderedFile(name, f"{KUBEADM_DIR}/cni/kube-flannel.yml", manifest, "cni")]
    base, local = D.calico_manifest_base(inv), D.calico_manifest_dir(inv)
    return [RenderedFile(name, f"{local}/{m}", "", "cni", origin=f"{base}/{m}") for m in D.CALICO_MANIFESTS] + [
        RenderedFile(name, f"{KUBEADM_DIR}/cni/calico-installation.yaml",
                     _render("cni/calico-installation.yaml.j2", ctx, host=host), "cni")]


def render_cluster(inv: Inventory, secrets: ClusterSecrets, only: list[str] | None = None,
                   os: dict | None = None) -> list[RenderedFile]:
    """Render every host (or only the named ones), hosts in inventory order. ``os``: hostname -> its OS; a
    host not in it is rendered for :data:`provisioner.desired.ASSUMED_OS`."""
    ctx, os = cluster_context(inv, secrets), os or {}
    hosts = [h for h in inv.hosts if not only or h.hostname in only]
    return [f for h in hosts for f in render_host(inv, secrets, h, os.get(h.hostname, D.ASSUMED_OS), ctx)]
