"""The inventory model: what a cluster is, validated once at load.

Later code trusts these objects; nothing downstream re-checks a value. Every
string that can reach a remote shell is constrained here by a pattern (and is
still quoted with ``shlex.quote`` where it is used).

>>> from provisioner.inventory import load_inventory
>>> inv = load_inventory("inventories/seed-ha.yaml")          # doctest: +SKIP
>>> [h.hostname for h in inv.control_planes]                  # doctest: +SKIP
['master1', 'master2', 'master3']
"""

from __future__ import annotations

import ipaddress
import re
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from provisioner.compat import DEFAULT_CRI_DOCKERD, DEFAULT_DOCKER
from provisioner.versions import DEFAULT_VERSION, KubeVersion, is_supported, refusal, supported_range

# --- constrained scalar types ---------------------------------------------------------

_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_DNS_NAME_RE = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
_LABEL_RE = re.compile(rf"^{_LABEL}$")


def _dns_name(value: str) -> str:
    if value != value.lower() and _DNS_NAME_RE.match(value.lower()):
        raise ValueError(f"{value!r} must be lowercase (RFC 1123) - use {value.lower()!r}")
    if len(value) > 253 or not _DNS_NAME_RE.match(value):
        raise ValueError(
            f"{value!r} is not an RFC 1123 name - use lowercase letters, digits, '-' and '.', "
            "starting and ending with a letter or digit"
        )
    return value


def _label(value: str) -> str:
    if not _LABEL_RE.match(value):
        raise ValueError(f"{value!r} is not a DNS label - use up to 63 lowercase letters, digits and '-'")
    return value


def _pattern(regex: str, what: str, fix: str):
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"{value!r} is not {what} - {fix}")
        return value

    return check


def _go_duration(value: str) -> str:
    if not re.fullmatch(r"(\d+h)?(\d+m)?(\d+s)?", value) or value == "":
        raise ValueError(f"{value!r} is not a duration - write it like 24h0m0s, 2h or 30m")
    return value


def _kube_version(value: str) -> str:
    try:
        version = KubeVersion.parse(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a full version - write it like {DEFAULT_VERSION}") from None
    if not is_supported(version):
        raise ValueError(refusal(version))
    return str(version)


def _ip_text(value):
    # pydantic would read a bare number (12) as 0.0.0.12: demand the dotted form.
    if isinstance(value, (int, float, bool)):
        raise ValueError(f"{value!r} is not an IPv4 address - write it like 10.0.0.101")
    return value


def _net_text(value):
    if isinstance(value, (int, float, bool)):
        raise ValueError(f"{value!r} is not an IPv4 network - write it like 10.244.0.0/16")
    return value


IPv4 = Annotated[ipaddress.IPv4Address, BeforeValidator(_ip_text)]
IPv4Net = Annotated[ipaddress.IPv4Network, BeforeValidator(_net_text)]
DnsName = Annotated[str, AfterValidator(_dns_name)]
Label = Annotated[str, AfterValidator(_label)]
Port = Annotated[int, Field(ge=1, le=65535)]
NicName = Annotated[
    str,
    AfterValidator(_pattern(r"[A-Za-z0-9_.-]{1,13}", "a network interface name",
                            "use the NIC's name as `ip link` shows it (up to 13 characters)")),
]
UserName = Annotated[
    str,
    AfterValidator(_pattern(r"[a-z_][a-z0-9_-]{0,31}", "a login name", "use a POSIX user name such as ops or root")),
]
Url = Annotated[
    str,
    AfterValidator(_pattern(r"https?://[A-Za-z0-9._~:/%@+=,{}-]+", "an http(s) URL without spaces or shell characters",
                            "write it like https://mirror.example.org/debian")),
]
ImageRepository = Annotated[
    str,
    AfterValidator(_pattern(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?(/[a-z0-9._-]+)*", "an image repository",
                            "write it like registry.k8s.io or registry.example.org:5000/google_containers")),
]
Timezone = Annotated[
    str,
    AfterValidator(_pattern(r"[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*", "a timezone name",
                            "use a tz database name such as UTC or Asia/Shanghai")),
]
SshTarget = Annotated[
    str,
    AfterValidator(_pattern(r"([a-z_][a-z0-9_-]*@)?[A-Za-z0-9.-]+(:\d{1,5})?", "a jump host",
                            "write it like ops@bastion.example.org:22")),
]
GoDuration = Annotated[str, AfterValidator(_go_duration)]


def _docker_mirror(value: str) -> str:
    """Refuse what dockerd refuses in ``registry-mirrors`` (it would not start), in its order.

    Transcribed from ``ValidateMirror`` in moby/moby registry/config.go: a scheme is
    required and must be http or https; no query or fragment; no user[:password]
    (Docker masks the password in its own message, and so do we). A path is allowed
    (Docker normalises it to end in '/'). Shell safety is checked after, by ``Url``.
    """
    from urllib.parse import urlsplit

    scheme, sep, _ = value.partition("://")
    if not sep or not scheme:
        raise ValueError(f"{value!r} has no scheme: Docker refuses a mirror without one "
                         "- write it like https://mirror.example.org")
    try:
        uri = urlsplit(value)
        uri.port  # noqa: B018 - raises on a non-numeric port, as Go's url.Parse does
    except ValueError:
        raise ValueError(f"{value!r} is not a valid URI - write it like https://mirror.example.org") from None
    if uri.scheme not in ("http", "https"):
        raise ValueError(f"unsupported scheme {uri.scheme!r} in {value!r}: Docker takes only http and https mirrors "
                         "- write it like https://mirror.example.org")
    if uri.query or uri.fragment or "?" in value or "#" in value:
        raise ValueError(f"{value!r} ends in a query or fragment, which Docker refuses in a mirror "
                         "- remove the part from '?' or '#' on")
    if "@" in uri.netloc:
        user = uri.netloc.rpartition("@")[0].partition(":")[0]
        shown = f"{uri.scheme}://{user}:xxxxx@{uri.netloc.rpartition('@')[2]}{uri.path}"
        raise ValueError(f"{shown!r} carries a user name/password, which Docker refuses in a mirror "
                         "- remove the 'user:password@' part (mirrors are pulled anonymously)")
    return value


DockerMirror = Annotated[
    str,
    AfterValidator(_docker_mirror),
    AfterValidator(_pattern(r"https?://[A-Za-z0-9._~:/%+=,-]+", "an http(s) URL without spaces or shell characters",
                            "write it like https://mirror.example.org")),
]


def _ntp_source(value: str) -> str:
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        pass
    try:
        return _dns_name(value)
    except ValueError:
        raise ValueError(f"{value!r} is neither an IPv4 address nor a DNS name - write it like pool.ntp.org") from None


NtpSource = Annotated[str, AfterValidator(_ntp_source)]
KubeVersionStr = Annotated[str, AfterValidator(_kube_version)]

Role = Literal["control-plane", "worker", "lb"]
LbMode = Literal["pair", "colocated", "none"]


class Strict(BaseModel):
    """Base for every inventory section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


# --- sections -------------------------------------------------------------------------

class SshOptions(Strict):
    """How to reach a host. Unset values fall back to host_defaults, then ~/.ssh/config."""

    user: UserName | None = Field(None, description="Login user; root or a user with sudo.")
    port: Port | None = Field(None, description="SSH port (default 22).")
    key: str | None = Field(None, description="Private key file; ~ is expanded. Default: ssh-agent and ~/.ssh.")
    proxy_jump: SshTarget | None = Field(None, description="Jump host, like ops@bastion:22.")


class HostDefaults(Strict):
    """Values every host inherits unless it sets its own."""

    nic: NicName = Field("eth0", description="NIC carrying the cluster network (keepalived binds the VIP to it).")
    ssh: SshOptions = Field(default_factory=SshOptions)
    sudo: bool = Field(True, description="Run privileged commands with sudo when the user is not root.")


class Host(Strict):
    """One machine: its name, address and what it runs."""

    hostname: DnsName = Field(description="Hostname set on the machine and used as the Kubernetes node name.")
    address: IPv4 = Field(description="Address on the host network; the node IP.")
    roles: list[Role] = Field(min_length=1, description="Any of control-plane, worker, lb.")
    nic: NicName | None = None
    ssh: SshOptions = Field(default_factory=SshOptions)
    sudo: bool | None = None

    @field_validator("roles")
    @classmethod
    def _unique_roles(cls, roles: list[str]) -> list[str]:
        if len(set(roles)) != len(roles):
            raise ValueError(f"{roles} lists a role twice - list each role once")
        return roles

    def has(self, role: str) -> bool:
        return role in self.roles


class ControlPlaneEndpoint(Strict):
    """Where kubelets and kubectl reach the API: a name, the VIP, a port."""

    name: DnsName = Field("kubeapi", description="Endpoint name written to /etc/hosts and the API certificate.")
    address: IPv4 | None = Field(
        None, description="The VIP (pair/colocated); with mode none, the control plane's address (the default).")
    port: Port | None = Field(None, description="Default 6443 (pair, none) or 8443 (colocated).")


class LoadBalancer(Strict):
    """keepalived + haproxy in front of the API servers."""

    mode: LbMode = Field("pair", description="pair: own lb hosts; colocated: on the control planes; none: single control plane.")
    virtual_router_id: int = Field(66, ge=1, le=255, description="VRRP router id, unique on the L2 segment.")
    stats_port: Port = Field(8888, description="haproxy stats page port.")
    stats_bind: IPv4 = Field(
        ipaddress.IPv4Address("127.0.0.1"),
        description="Address of the stats page; localhost by default. It always requires the generated password.")


class Networking(Strict):
    host_network: IPv4Net | None = Field(
        None, description="Subnet of the hosts and the VIP; default: the /24 around the first host.")
    pod_cidr: IPv4Net | None = Field(
        None, description="Pod network; default 10.244.0.0/16 (flannel) or 192.168.0.0/16 (calico).")
    service_cidr: IPv4Net = Field(ipaddress.IPv4Network("10.96.0.0/12"))
    dns_domain: DnsName = "cluster.local"


class PackageMirrors(Strict):
    """Package repository base URLs; unset means the distribution's and upstream's own."""

    apt: Url | None = Field(None, description="Debian/Ubuntu mirror replacing the distribution's sources.")
    yum: Url | None = Field(None, description="RHEL-family baseurl replacing the distribution's repos.")
    kubernetes: Url = Field("https://pkgs.k8s.io/core:/stable:/v{minor}",
                            description="pkgs.k8s.io layout; {minor} becomes e.g. 1.30.")
    docker: Url = Field("https://download.docker.com/linux", description="Docker CE repository base.")
    cri_dockerd: Url = Field(
        "https://github.com/Mirantis/cri-dockerd/releases/download/v{version}/"
        "cri-dockerd_{version}.3-0.{distro}-{codename}_amd64.deb",
        description="cri-dockerd .deb release asset; {version}, {distro} (debian/ubuntu) and {codename} are filled in.")
    cri_dockerd_archive: Url = Field(
        "https://github.com/Mirantis/cri-dockerd/releases/download/v{version}/cri-dockerd-{version}.{arch}.tgz",
        description="cri-dockerd static release archive, used where upstream publishes no .deb "
                    "(arm64, Ubuntu 24.04, Debian 13); {version} and {arch} are filled in.")
    calico: Url | None = Field(
        None, description="Where the calico manifests (v1_crd_projectcalico_org.yaml, tigera-operator.yaml) are "
                          "fetched from; {version} is filled in. Default: the GitHub release tree "
                          "(raw.githubusercontent.com/projectcalico/calico/v{version}/manifests), which "
                          "validation refuses for cni calico when an apt or yum mirror is set (an offline site).")


class Registry(Strict):
    """An image registry host outside the cluster (the runbook's harbor)."""

    hostname: DnsName = Field(description="Registry name; with `domain` set, a short name gets it appended.")
    address: IPv4
    port: Port | None = Field(None, description="Registry port when not 443/80; part of the image names (harbor:5000/x).")
    insecure: bool = Field(
        False, description="Plain-HTTP registry: listed in Docker's insecure-registries as FQDN[:port]. "
                           "A short name without a port is refused: Docker reads harbor/x as a Docker Hub path.")

    def docker_name(self, inv: "Inventory") -> str:
        """How Docker and image names spell this registry: FQDN[:port]."""
        name = inv.fqdn(self.hostname)
        return f"{name}:{self.port}" if self.port else name


class Inventory(Strict):
    """A whole cluster. Load with :func:`provisioner.validation.load_inventory`."""

    cluster_name: Label = Field("kubernetes", description="kubeadm clusterName; also names the state directory.")
    # Optional: an inventory that does not pin a version gets the newest patch of the newest
    # maintained minor this release was tested with (versions.DEFAULT_VERSION). Pinning is still
    # recommended for a cluster you will upgrade, so `up` on a newer provisioner never moves it.
    kubernetes_version: KubeVersionStr = Field(
        DEFAULT_VERSION, description=f"Full patch version like {DEFAULT_VERSION}: {supported_range()}.")
    domain: DnsName | None = Field(None, description="Domain appended to short hostnames in /etc/hosts.")
    control_plane_endpoint: ControlPlaneEndpoint = Field(default_factory=ControlPlaneEndpoint)
    load_balancer: LoadBalancer = Field(default_factory=LoadBalancer)
    networking: Networking = Field(default_factory=Networking)
    runtime: Literal["docker", "containerd"] = Field("docker", description="docker = Docker + cri-dockerd.")
    docker_version: Annotated[str, AfterValidator(_pattern(r"\d+\.\d+\.\d+", "a Docker Engine version",
                                                           "write it like 29.0.4"))] = Field(
        DEFAULT_DOCKER, description="Docker Engine release (docker-ce, docker-ce-cli) installed and held.")
    containerd_version: Annotated[str, AfterValidator(_pattern(r"\d+\.\d+\.\d+", "a containerd.io version",
                                                               "write it like 1.7.22"))] | None = Field(
        None, description="containerd.io release to install and hold; default: what docker-ce's Depends picks.")
    cri_dockerd_version: Annotated[str, AfterValidator(_pattern(r"\d+\.\d+\.\d+", "a cri-dockerd version",
                                                                "write it like 0.4.4"))] = Field(
        DEFAULT_CRI_DOCKERD, description="cri-dockerd release installed with runtime docker (see provisioner/compat.py).")
    cni: Literal["flannel", "calico"] = "flannel"
    image_repository: ImageRepository = "registry.k8s.io"
    registry_mirrors: list[DockerMirror] = Field(
        default_factory=list, description="Docker registry mirrors (daemon.json), checked as dockerd checks them.")
    package_mirrors: PackageMirrors = Field(default_factory=PackageMirrors)
    ntp_servers: list[NtpSource] = Field(
        default_factory=lambda: ["pool.ntp.org"], min_length=1, description="chrony sources (names become pools).")
    timezone: Timezone | None = None
    token_ttl: GoDuration = Field("24h0m0s", description="Bootstrap token lifetime; expiring by default.")
    registry: Registry | None = None
    host_defaults: HostDefaults = Field(default_factory=HostDefaults)
    hosts: list[Host] = Field(min_length=1)

    @model_validator(mode="after")
    def _fill_defaults(self) -> "Inventory":
        """Resolve every default that depends on other fields, so later code sees final values."""
        d = self.host_defaults
        for host in self.hosts:
            host.nic = host.nic or d.nic
            host.sudo = d.sudo if host.sudo is None else host.sudo
            host.ssh = SshOptions(
                user=host.ssh.user or d.ssh.user or "root",
                port=host.ssh.port or d.ssh.port or 22,
                key=host.ssh.key or d.ssh.key,
                proxy_jump=host.ssh.proxy_jump or d.ssh.proxy_jump,
            )
        net = self.networking
        if net.pod_cidr is None:
            net.pod_cidr = ipaddress.IPv4Network("192.168.0.0/16" if self.cni == "calico" else "10.244.0.0/16")
        if net.host_network is None:
            net.host_network = ipaddress.IPv4Interface(f"{self.hosts[0].address}/24").network
        ep = self.control_plane_endpoint
        if ep.port is None:
            ep.port = 8443 if self.load_balancer.mode == "colocated" else 6443
        cps = [h for h in self.hosts if h.has("control-plane")]
        if self.load_balancer.mode == "none" and ep.address is None and len(cps) == 1:
            ep.address = cps[0].address
        return self

    # --- derived views (read-only) ---------------------------------------------------

    @cached_property
    def version(self) -> KubeVersion:
        return KubeVersion.parse(self.kubernetes_version)

    @property
    def control_planes(self) -> list[Host]:
        return [h for h in self.hosts if h.has("control-plane")]

    @property
    def first_control_plane(self) -> Host:
        return self.control_planes[0]

    @property
    def workers(self) -> list[Host]:
        return [h for h in self.hosts if h.has("worker")]

    @property
    def kube_nodes(self) -> list[Host]:
        """Hosts that run a kubelet (control planes and workers)."""
        return [h for h in self.hosts if h.has("control-plane") or h.has("worker")]

    @property
    def load_balancers(self) -> list[Host]:
        """Hosts that run keepalived + haproxy, whatever the mode."""
        mode = self.load_balancer.mode
        if mode == "pair":
            return [h for h in self.hosts if h.has("lb")]
        if mode == "colocated":
            return self.control_planes
        return []

    @property
    def vip(self) -> ipaddress.IPv4Address | None:
        return self.control_plane_endpoint.address if self.load_balancer.mode != "none" else None

    @property
    def api_port(self) -> int:
        """The port clients use on the endpoint (haproxy's frontend, or the apiserver itself)."""
        return int(self.control_plane_endpoint.port or 6443)

    @property
    def endpoint_name(self) -> str:
        """Fully qualified endpoint name, e.g. kubeapi.example.org."""
        return self.fqdn(self.control_plane_endpoint.name)

    def fqdn(self, name: str) -> str:
        return f"{name}.{self.domain}" if self.domain and "." not in name else name

    def host(self, hostname: str) -> Host:
        for h in self.hosts:
            if h.hostname == hostname:
                return h
        raise KeyError(hostname)


def inventory_json_schema() -> dict:
    """The JSON Schema editors use to complete and check inventory files."""
    schema = Inventory.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://provisioner.dev/schemas/inventory.json"
    schema["title"] = "provisioner inventory"
    return schema


EXAMPLES_DIR = Path(__file__).resolve().parent / "inventories"
if not EXAMPLES_DIR.is_dir():  # running from a source checkout
    EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "inventories"
