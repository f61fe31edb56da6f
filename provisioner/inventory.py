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
import string
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from provisioner import compat
from provisioner.compat import DEFAULT_CRI_DOCKERD, DEFAULT_DOCKER
from provisioner.hopspec import parse_hops
from provisioner.versions import (DEFAULT_VERSION, EOL_MINORS, MAINTAINED_MINORS, KubeVersion, LATEST_PATCH, is_supported, refusal,
                                  supported_range)

# --- constrained scalar types ---------------------------------------------------------

# C0 (tab and newline included), DEL and C1: none belongs in any inventory value, and each can
# forge a log or terminal line ("\e[2J", "\r") or end a command or config line ("\n", NUL).
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


_URL_PASSWORD_RE = re.compile(r"(://[^/@:\s]*):[^/@\s]*@")


def show_value(value: str, limit: int = 80) -> str:
    """repr() of a value for a message: control characters escaped, a URL's password masked, long values cut.

    >>> print(show_value("https://bob:s3cret@mirror.example.org/a\\tb"))
    'https://bob:xxxxx@mirror.example.org/a\\tb'
    """
    if isinstance(value, str):
        value = _URL_PASSWORD_RE.sub(r"\1:xxxxx@", value)
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 4] + "...'"


def _no_control(value: str) -> str:
    found = _CONTROL_RE.search(value)
    if found:
        raise ValueError(f"{show_value(value)} contains the control character U+{ord(found.group()):04X} "
                         "- remove it (write the value on one line, without escapes like \\n, \\t or \\e)")
    return value


PATH_MAX = 4096   # Linux's limit on a path's length, in bytes


def _path_text(value: str) -> str:
    if not value.strip():
        raise ValueError("is empty - write a file path such as ~/.ssh/id_ed25519, or remove the key")
    if len(value.encode("utf-8", "surrogatepass")) > PATH_MAX:
        raise ValueError(f"{show_value(value)} is longer than a path can be ({PATH_MAX} bytes) - write the file's path")
    return value


# Every str type of the model starts from Text, so every string refuses control characters
# first and says so (tests/test_inventory_validation.py walks the schema to keep it that way).
Text = Annotated[str, AfterValidator(_no_control)]
FreeText = Text
"""Free-form text (no pattern fits it): one line, no control characters."""
PathStr = Annotated[Text, AfterValidator(_path_text)]
"""A local file path (ssh.key, ssh_config paths): non-empty, one line, at most PATH_MAX (4096)."""

_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_DNS_NAME_RE = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
_LABEL_RE = re.compile(rf"^{_LABEL}$")


def _dns_name(value: str) -> str:
    if value != value.lower() and _DNS_NAME_RE.fullmatch(value.lower()):
        raise ValueError(f"{show_value(value)} must be lowercase (RFC 1123) - use {value.lower()!r}")
    if len(value) > 253 or not _DNS_NAME_RE.fullmatch(value):
        raise ValueError(
            f"{show_value(value)} is not an RFC 1123 name - use lowercase letters, digits, '-' and '.', "
            "starting and ending with a letter or digit"
        )
    return value


def _label(value: str) -> str:
    if not _LABEL_RE.fullmatch(value):
        raise ValueError(f"{show_value(value)} is not a DNS label - use up to 63 lowercase letters, digits and '-'")
    return value


def _pattern(regex: str, what: str, fix: str):
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"{show_value(value)} is not {what} - {fix}")
        return value

    return check


def Matching(regex: str, what: str, fix: str):
    """A text type that must match ``regex`` whole; else the error says it is not ``what``, and ``fix``."""
    return Annotated[Text, AfterValidator(_pattern(regex, what, fix))]


def _go_duration(value: str) -> str:  # fullmatch: re's '$' would also match before a final newline
    if not re.fullmatch(r"(\d+h)?(\d+m)?(\d+s)?", value) or value == "":
        raise ValueError(f"{show_value(value)} is not a duration - write it like 24h0m0s, 2h or 30m")
    return value


def _kube_version(value: str) -> str:
    try:
        version = KubeVersion.parse(value)
    except ValueError:
        minor = value.strip().removeprefix("v").removeprefix("1.")
        if minor.isdigit() and int(minor) in LATEST_PATCH:      # "1.37": say which patch to write
            raise ValueError(f"{show_value(value)} is not a full version - write 1.{int(minor)}."
                             f"{LATEST_PATCH[int(minor)]} (the newest 1.{int(minor)} patch this release knows)") from None
        raise ValueError(f"{show_value(value)} is not a full version - write it like {DEFAULT_VERSION}") from None
    if not is_supported(version):
        raise ValueError(refusal(version))
    return str(version)


def _ip_text(value):
    # pydantic would read a bare number (12) as 0.0.0.12: demand the dotted form.
    if isinstance(value, (int, float, bool)):
        raise ValueError(f"{show_value(value)} is not an IPv4 address - write it like 10.0.0.101")
    return _no_control(value) if isinstance(value, str) else value


def _net_text(value):
    if isinstance(value, (int, float, bool)):
        raise ValueError(f"{show_value(value)} is not an IPv4 network - write it like 10.244.0.0/16")
    return _no_control(value) if isinstance(value, str) else value


IPv4 = Annotated[ipaddress.IPv4Address, BeforeValidator(_ip_text)]
IPv4Net = Annotated[ipaddress.IPv4Network, BeforeValidator(_net_text)]
DnsName = Annotated[Text, AfterValidator(_dns_name)]
Label = Annotated[Text, AfterValidator(_label)]
Port = Annotated[int, Field(ge=1, le=65535)]
NicName = Matching(r"[A-Za-z0-9_.-]{1,13}", "a network interface name",
                   "use the NIC's name as `ip link` shows it (up to 13 characters)")
UserName = Matching(r"[a-z_][a-z0-9_-]{0,31}", "a login name", "use a POSIX user name such as ops or root")
# --- URL templates (package_mirrors) ---------------------------------------------------------
#
# `up` fills some mirror URLs with str.format: kube_packages.repo_url ({minor}),
# runtime.cri_dockerd_url / cri_dockerd_archive_url ({version}, {distro}, {codename}, {arch}),
# cni.calico_manifest_base ({version}). A placeholder the code does not fill ({nope}, {0}) raised
# KeyError/IndexError in the middle of `up`; so each field accepts exactly the placeholders it is
# filled with, written plainly, and validation formats it with every value the product can use
# and checks each result with the same URL rule. URL_FILLS lists those values per field.

_URL_RULE = (r"https?://[A-Za-z0-9._~:/%@+=,-]+", "an http(s) URL without spaces or shell characters")


def _cri_dockerd_debs() -> list[tuple[str, str]]:
    return sorted(set().union(*(r.debs for r in compat.CRI_DOCKERD.values())))


# field -> every set of values `up` can fill the field's template with. {version} of cri-dockerd
# is the inventory's cri_dockerd_version (digits and dots, like every version in the table).
URL_FILLS: dict[str, object] = {
    "apt": lambda: [{}], "yum": lambda: [{}], "docker": lambda: [{}],
    "kubernetes": lambda: [{"minor": f"1.{m}"} for m in (*EOL_MINORS, *MAINTAINED_MINORS)],
    "cri_dockerd": lambda: [{"version": v, "distro": d, "codename": c, "arch": a}
                            for v in compat.CRI_DOCKERD for d, c in _cri_dockerd_debs() for a in compat.DEB_ARCHES],
    "cri_dockerd_archive": lambda: [{"version": v, "arch": a}
                                    for v in compat.CRI_DOCKERD for a in compat.ARCHIVE_ARCHES],
    "calico": lambda: [{"version": compat.CALICO_VERSION}],
}
URL_PLACEHOLDERS = {"apt": (), "yum": (), "docker": (), "kubernetes": ("minor",),
                    "cri_dockerd": ("version", "distro", "codename", "arch"),
                    "cri_dockerd_archive": ("version", "arch"), "calico": ("version",)}


def _names(names) -> str:
    shown = [f"{{{n}}}" for n in names]
    return ", ".join(shown[:-1]) + " or " + shown[-1] if len(shown) > 1 else "".join(shown)


def _url_template(field: str):
    allowed = URL_PLACEHOLDERS[field]
    use = f"use only {_names(allowed)}" if allowed else "this URL takes no placeholders: write it out"
    fix = "write it like https://mirror.example.org/debian"
    url = _pattern(*_URL_RULE, fix)
    template = _pattern(_URL_RULE[0].replace(",-]", ",{}-]"), _URL_RULE[1], fix)   # placeholders still in

    def check(value: str) -> str:
        try:
            parts = list(string.Formatter().parse(value))
        except ValueError:
            raise ValueError(f"{show_value(value)} has an unmatched '{{' or '}}' - {use}") from None
        for literal, name, spec, conversion in parts:
            if "{" in literal or "}" in literal:   # written {{ or }}: a URL holds no braces
                raise ValueError(f"{show_value(value)} has a literal brace ('{{{{' or '}}}}') - {use}")
            if name is None:
                continue
            if name not in allowed:
                raise ValueError(f"{show_value(value)} uses the placeholder {{{name}}}, which this field is not "
                                 f"filled with - {use}")
            if spec or conversion:
                raise ValueError(f"{show_value(value)} writes {{{name}{'!' + conversion if conversion else ''}"
                                 f"{':' + spec if spec else ''}}} - write it plainly as {{{name}}}")
        template(value)
        for fill in URL_FILLS[field]():
            result = value.format(**fill)
            try:
                url(result)
            except ValueError:
                given = ", ".join(f"{k}={v}" for k, v in fill.items())
                raise ValueError(f"{show_value(value)} becomes {show_value(result)} with {given}, which is not "
                                 f"{_URL_RULE[1]} - put each placeholder where its value fits in a URL") from None
        return value

    return check


def UrlTemplate(field: str):
    """The type of ``package_mirrors.<field>``: an http(s) URL with only that field's placeholders."""
    return Annotated[Text, AfterValidator(_url_template(field))]


Url = UrlTemplate("apt")   # an http(s) URL, no placeholders
ImageRepository = Matching(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?(/[a-z0-9._-]+)*", "an image repository",
                           "write it like registry.k8s.io or registry.example.org:5000/google_containers")
Timezone = Matching(r"[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*", "a timezone name",
                    "use a tz database name such as UTC or Asia/Shanghai")


def _jump_hosts(value: str) -> str:
    """OpenSSH's -J syntax: ``[user@]host[:port]`` hops joined by commas (see provisioner.sshconfig)."""
    parse_hops(value)        # ValueError with the fix: no spaces, no options like -oProxyCommand=
    return value


SshTarget = Annotated[Text, AfterValidator(_jump_hosts)]
GoDuration = Annotated[Text, AfterValidator(_go_duration)]


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
        raise ValueError(f"{show_value(value)} has no scheme: Docker refuses a mirror without one "
                         "- write it like https://mirror.example.org")
    try:
        uri = urlsplit(value)
        uri.port  # noqa: B018 - raises on a non-numeric port, as Go's url.Parse does
    except ValueError:
        raise ValueError(f"{show_value(value)} is not a valid URI - write it like https://mirror.example.org") from None
    if uri.scheme not in ("http", "https"):
        raise ValueError(f"unsupported scheme {uri.scheme!r} in {show_value(value)}: Docker takes only http and https mirrors "
                         "- write it like https://mirror.example.org")
    if uri.query or uri.fragment or "?" in value or "#" in value:
        raise ValueError(f"{show_value(value)} ends in a query or fragment, which Docker refuses in a mirror "
                         "- remove the part from '?' or '#' on")
    if "@" in uri.netloc:
        user = uri.netloc.rpartition("@")[0].partition(":")[0]
        shown = f"{uri.scheme}://{user}:xxxxx@{uri.netloc.rpartition('@')[2]}{uri.path}"
        raise ValueError(f"{shown!r} carries a user name/password, which Docker refuses in a mirror "
                         "- remove the 'user:password@' part (mirrors are pulled anonymously)")
    return value


DockerMirror = Annotated[
    Text,
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
        raise ValueError(f"{show_value(value)} is neither an IPv4 address nor a DNS name - write it like pool.ntp.org") from None


NtpSource = Annotated[Text, AfterValidator(_ntp_source)]
KubeVersionStr = Annotated[Text, AfterValidator(_kube_version)]

Role = Literal["control-plane", "worker", "lb"]
LbMode = Literal["pair", "colocated", "none"]


class Strict(BaseModel):
    """Base for every inventory section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


# --- sections -------------------------------------------------------------------------

class SshOptions(Strict):
    """How to reach a host. Unset values fall back to host_defaults, then ssh_config, then root, 22 and agent keys."""

    user: UserName | None = Field(None, description="Login user; root or a user with sudo.")
    port: Port | None = Field(None, description="SSH port (default 22).")
    key: PathStr | None = Field(None, description="Private key file; ~ is expanded. Default: ssh-agent and ~/.ssh.")
    proxy_jump: SshTarget | None = Field(
        None, description="Jump hosts in OpenSSH's -J syntax: [user@]host[:port] hops joined by commas, like "
                          "ops@bastion:22 or ops@bastion,ops@inner. Each hop uses its own ssh_config entry.")


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

    apt: UrlTemplate("apt") | None = Field(None, description="Debian/Ubuntu mirror replacing the distribution's sources.")
    yum: UrlTemplate("yum") | None = Field(None, description="RHEL-family baseurl replacing the distribution's repos.")
    kubernetes: UrlTemplate("kubernetes") = Field("https://pkgs.k8s.io/core:/stable:/v{minor}",
                            description="pkgs.k8s.io layout; {minor} becomes e.g. 1.30.")
    docker: UrlTemplate("docker") = Field("https://download.docker.com/linux", description="Docker CE repository base.")
    cri_dockerd: UrlTemplate("cri_dockerd") = Field(
        "https://github.com/Mirantis/cri-dockerd/releases/download/v{version}/"
        "cri-dockerd_{version}.3-0.{distro}-{codename}_{arch}.deb",
        description="cri-dockerd .deb release asset; {version}, {distro} (debian/ubuntu), {codename} and {arch} "
                    "are filled in (no other placeholder).")
    cri_dockerd_archive: UrlTemplate("cri_dockerd_archive") = Field(
        "https://github.com/Mirantis/cri-dockerd/releases/download/v{version}/cri-dockerd-{version}.{arch}.tgz",
        description="cri-dockerd static release archive, used where upstream publishes no .deb "
                    "(arm64, Ubuntu 24.04, Debian 13); {version} and {arch} are filled in (no other placeholder).")
    calico: UrlTemplate("calico") | None = Field(
        None, description="Where the calico manifests (v1_crd_projectcalico_org.yaml, tigera-operator.yaml) are "
                          "fetched from; {version} is filled in (no other placeholder). Default: the GitHub release tree "
                          "(raw.githubusercontent.com/projectcalico/calico/v{version}/manifests), which "
                          "validation refuses for cni calico when an apt or yum mirror is set (an offline site).")


class Proxy(Strict):
    """A forward proxy `up` sets for apt, the container runtime and the kubelet (provisioner/proxy.py)."""

    http: Url | None = Field(None, description="HTTP_PROXY, e.g. http://proxy.example.org:3128.")
    https: Url | None = Field(None, description="HTTPS_PROXY; default: the http one.")
    no_proxy: list[Text] = Field(default_factory=list, description="More NO_PROXY entries; the cluster's own "
                                 "(node addresses, VIP, endpoint name, service and pod CIDRs, cluster domain) are added.")


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
    docker_version: Annotated[Text, AfterValidator(_pattern(r"\d+\.\d+\.\d+", "a Docker Engine version",
                                                           "write it like 29.0.4"))] = Field(
        DEFAULT_DOCKER, description="Docker Engine release (docker-ce, docker-ce-cli) installed and held.")
    containerd_version: Annotated[Text, AfterValidator(_pattern(r"\d+\.\d+\.\d+", "a containerd.io version",
                                                               "write it like 1.7.22"))] | None = Field(
        None, description="containerd.io release to install and hold; default: what docker-ce's Depends picks.")
    cri_dockerd_version: Annotated[Text, AfterValidator(_pattern(r"\d+\.\d+\.\d+", "a cri-dockerd version",
                                                                "write it like 0.4.4"))] = Field(
        DEFAULT_CRI_DOCKERD, description="cri-dockerd release installed with runtime docker (see provisioner/compat.py).")
    cni: Literal["flannel", "calico"] = "flannel"
    calico_version: Annotated[Text, AfterValidator(_pattern(r"\d+\.\d+\.\d+", "a Calico version", "write it like 3.33.1"))] \
        | None = Field(None, description="Calico release for cni calico; default: the newest whose support table lists "
                                         "the Kubernetes minor (see provisioner/compat.py CALICO).")
    image_repository: ImageRepository = "registry.k8s.io"
    registry_mirrors: list[DockerMirror] = Field(
        default_factory=list, description="Docker registry mirrors (daemon.json), checked as dockerd checks them.")
    package_mirrors: PackageMirrors = Field(default_factory=PackageMirrors)
    ntp_servers: list[NtpSource] = Field(
        default_factory=lambda: ["pool.ntp.org"], min_length=1, description="chrony sources (names become pools).")
    timezone: Timezone | None = None
    selinux: Literal["permissive", "enforcing"] = Field(
        "permissive", description="SELinux hosts: permissive (setenforce 0 and SELINUX=permissive, as the kubeadm "
                                  "install guide says) or enforcing (kept, with container-selinux and the booleans "
                                  "haproxy/keepalived need); see docs/firewall-selinux.md.")
    firewall: Literal["managed", "disabled"] = Field(
        "managed", description="An active firewalld or ufw: managed opens exactly each role's ports (zone of the "
                               "host's nic, permanent and runtime); disabled stops and disables it.")
    token_ttl: GoDuration = Field("24h0m0s", description="Bootstrap token lifetime; expiring by default.")
    registry: Registry | None = None
    proxy: Proxy | None = None
    host_defaults: HostDefaults = Field(default_factory=HostDefaults)
    hosts: list[Host] = Field(min_length=1)

    @model_validator(mode="after")
    def _fill_defaults(self) -> "Inventory":
        """Resolve every default that depends on other fields, so later code sees final values."""
        d = self.host_defaults
        for host in self.hosts:
            host.nic = host.nic or d.nic
            host.sudo = d.sudo if host.sudo is None else host.sudo
            # The host's own values, else host_defaults'; what neither sets stays None for ssh_config to fill
            # in (provisioner.sshconfig), then root and 22.
            host.ssh = SshOptions(**{k: getattr(host.ssh, k) or getattr(d.ssh, k) for k in SshOptions.model_fields})
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
