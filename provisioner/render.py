"""Render every configuration file of a cluster, per host, from Jinja2 templates.

>>> files = render_cluster(inv, secrets)                     # doctest: +SKIP
>>> [f.path for f in files if f.host == "ha1"]               # doctest: +SKIP
['/etc/hosts', '/etc/chrony/chrony.conf', '/etc/sysctl.d/90-provisioner-lb.conf', ...]

Rendering is pure: inventory + secrets in, :class:`RenderedFile` list out.
Writing them to a local tree (``render`` command) or to hosts (``up``) is
someone else's job. One template per target file, under ``templates/``.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jinja2

from provisioner import proxy
from provisioner.compat import CRI_SOCKET
from provisioner.errors import RenderError
from provisioner.inventory import Host, Inventory
from provisioner.secrets import ClusterSecrets
from provisioner.versions import kubeadm_api_version, pause_version

KUBEADM_DIR = "/etc/kubernetes/provisioner"
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

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content.encode()).hexdigest()


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


def render_host(inv: Inventory, secrets: ClusterSecrets, host: Host, ctx: dict | None = None) -> list[RenderedFile]:
    """Every file ``host`` needs, in the order the phases install them."""
    if inv.runtime != "docker":
        raise RenderError(f"runtime: {inv.runtime} is not yet supported - use runtime: docker")
    ctx = ctx or cluster_context(inv, secrets)
    name = host.hostname
    files: list[RenderedFile] = []

    def add(template: str, path: str, component: str, **kw) -> None:
        extra = kw.pop("extra", {})
        files.append(RenderedFile(name, path, _render(template, ctx, host=host, **extra), component, **kw))

    add("common/hosts.j2", "/etc/hosts", "hosts", merge="block")
    if proxy.environment(inv):
        private = {"mode": 0o600, "secret": True} if proxy.has_credentials(inv) else {}
        files.append(RenderedFile(name, proxy.APT_CONF, proxy.apt_conf(inv), "proxy", **private))
        if host in inv.kube_nodes:
            files += [RenderedFile(name, path, proxy.systemd_dropin(inv), "proxy", **private)
                      for path in (proxy.DOCKER_DROPIN, proxy.KUBELET_DROPIN)]
    add("chrony/chrony.conf.j2", "/etc/chrony/chrony.conf", "chrony")

    if host in inv.load_balancers:
        add("common/sysctl-loadbalancer.conf.j2", "/etc/sysctl.d/90-provisioner-lb.conf", "lb")
        add("keepalived/check_haproxy.sh.j2", CHECK_SCRIPT, "keepalived", mode=0o755)
        add("keepalived/keepalived.conf.j2", "/etc/keepalived/keepalived.conf", "keepalived",
            mode=0o600, secret=True, extra={"vrrp": _vrrp(inv, host)})
        add("haproxy/haproxy.cfg.j2", "/etc/haproxy/haproxy.cfg", "haproxy", mode=0o600, secret=True)

    if host in inv.kube_nodes:
        add("common/modules-load.conf.j2", "/etc/modules-load.d/kubernetes.conf", "kernel")
        add("common/sysctl-kubernetes.conf.j2", "/etc/sysctl.d/99-kubernetes.conf", "kernel")
        add("docker/daemon.json.j2", "/etc/docker/daemon.json", "runtime")
        add("cri-dockerd/cri-docker.socket.j2", "/etc/systemd/system/cri-docker.socket", "runtime")
        add("cri-dockerd/cri-docker.service.j2", "/etc/systemd/system/cri-docker.service", "runtime")
        api = kubeadm_api_version(inv.version).rsplit("/", 1)[1]
        if host == inv.first_control_plane:
            add(f"kubeadm/{api}/init.yaml.j2", f"{KUBEADM_DIR}/kubeadm-init.yaml", "kubeadm", mode=0o600, secret=True)
            # The CA made by provisioner: kubeadm init adopts it, so joins can pin its hash.
            files.append(RenderedFile(name, "/etc/kubernetes/pki/ca.crt", secrets.ca_cert_pem, "kubeadm"))
            files.append(RenderedFile(name, "/etc/kubernetes/pki/ca.key", secrets.ca_key_pem, "kubeadm",
                                      mode=0o600, secret=True))
            if inv.cni == "flannel":
                add("cni/flannel-net-conf.json.j2", f"{KUBEADM_DIR}/cni/flannel-net-conf.json", "cni")
            else:
                add("cni/calico-installation.yaml.j2", f"{KUBEADM_DIR}/cni/calico-installation.yaml", "cni")
        else:
            add(f"kubeadm/{api}/join.yaml.j2", f"{KUBEADM_DIR}/kubeadm-join.yaml", "kubeadm", mode=0o600,
                secret=True, extra={"control_plane": host.has("control-plane")})
    return files


def render_cluster(inv: Inventory, secrets: ClusterSecrets, only: list[str] | None = None) -> list[RenderedFile]:
    """Render every host (or only the named ones), hosts in inventory order."""
    ctx = cluster_context(inv, secrets)
    hosts = [h for h in inv.hosts if not only or h.hostname in only]
    return [f for h in hosts for f in render_host(inv, secrets, h, ctx)]
