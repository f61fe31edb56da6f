"""What a phase is, and the context its step functions receive.

>>> Phase("lb", "keepalived + haproxy and the VIP", lambda inv: inv.load_balancers, steps_for_lb)  # doctest: +SKIP
"""

from __future__ import annotations

import shlex
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from provisioner.inventory import Host, Inventory
from provisioner.desired import family, keyring_source
from provisioner.render import RenderedFile, render_host
from provisioner.secrets import ClusterSecrets
from provisioner.state import JoinMaterial, Journal
from provisioner.steps import CommandStep, DnfPackagesStep, FileStep, PackagesStep

q = shlex.quote
KUBECTL = "kubectl --kubeconfig=/etc/kubernetes/admin.conf"
CA = "/etc/kubernetes/pki/ca.crt"
ADMIN_CONF = "/etc/kubernetes/admin.conf"


# Where dpkg is not there to say it (EL hosts: uname -m), the machine's name in Debian's and upstream's file
# names (cri-dockerd-VERSION.amd64.tgz).
UNAME_ARCHES = {"x86_64": "amd64", "aarch64": "arm64"}


@dataclass(frozen=True)
class OsInfo:
    """What ``up`` needs to know about a host's OS (read once per run)."""

    distro: str        # debian, ubuntu, rocky, ...
    version: str
    codename: str
    like: str
    arch: str

    @property
    def family(self) -> str:
        words = {self.distro, *self.like.split()}
        if words & {"debian", "ubuntu"}:
            return "debian"
        if words & {"rhel", "fedora", "centos"}:
            return "rhel"
        return "unknown"

    PROBE = ". /etc/os-release; echo \"$ID|$VERSION_ID|$VERSION_CODENAME|$ID_LIKE|$(dpkg --print-architecture 2>/dev/null || uname -m)\""

    @classmethod
    def parse(cls, line: str) -> "OsInfo":
        parts = (line.strip().split("|") + ["", "", "", "", ""])[:5]
        parts[4] = UNAME_ARCHES.get(parts[4], parts[4])
        return cls(*parts)


@dataclass(frozen=True)
class UpContext:
    """Everything the step functions may read; never reassigned. The files come from the desired state
    (rendered once per host and OS, on first use). What the run learns as it goes - each host's OS, its remote,
    whether it was replaced - fills the session's own maps, which ``os``, ``remotes`` and ``replaced`` are (the
    engine hands them over once, with ``dataclasses.replace``)."""

    inv: Inventory
    secrets: ClusterSecrets
    state_dir: Path
    files: dict = field(default_factory=dict)        # (hostname, OS) -> its desired files, rendered once
    os: dict[str, OsInfo] = field(default_factory=dict)
    remotes: dict = field(default_factory=dict)          # hostname -> Remote, filled by the engine
    replaced: set = field(default_factory=set)           # hosts that came back as other machines (same name)
    say: Callable[[str], None] = field(default=lambda text: None)   # a progress line for the user (the reporter)
    logins: dict = field(default_factory=dict)           # hostname -> the user we log in as (resolved SSH)
    lock: threading.Lock = field(default_factory=threading.Lock)
    journal: Journal | None = None       # the run's journal, read once (engine.build_context); it records itself
    material: JoinMaterial | None = None  # the join secrets as renewed during the run (``secrets`` stays the input)

    def login(self, host: Host) -> str:
        """The user ``up`` logs in to ``host`` as: resolved with ssh_config, else the inventory's."""
        return self.logins.get(host.hostname) or host.ssh.user or "root"

    def _desired(self, host: Host) -> dict[str, RenderedFile]:
        """The desired state of ``host`` (:func:`provisioner.render.render_host`) for its OS, rendered once."""
        os_ = self.os.get(host.hostname)
        if (host.hostname, os_) not in self.files:
            self.files[host.hostname, os_] = {f.path: f for f in render_host(self.inv, self.secrets, host, os_)}
        return self.files[host.hostname, os_]

    def family(self, host: Host) -> str:
        """"rhel" or "debian" for ``host`` (debian until its OS is read: the first supported target)."""
        return family(self.os.get(host.hostname))

    def packages(self, host: Host, packages: dict[str, str | None], *, hold: bool = False, repo: str | None = None,
                 notify: str | None = None):
        """The step installing ``packages`` with the host's package manager: apt (held when ``hold``) or dnf
        (pinned by ``repo``'s exclude line: see :class:`~provisioner.packagestep.DnfPackagesStep`)."""
        if self.family(host) == "rhel":
            return DnfPackagesStep(packages, repo=repo if hold else None, notify=notify)
        return PackagesStep(packages, hold=hold, notify=notify)

    def file(self, host: Host, path: str) -> RenderedFile:
        """A file of the desired state of ``host``."""
        return self._desired(host)[path]

    def has_file(self, host: Host, path: str) -> bool:
        """Whether the desired state of ``host`` has ``path`` (files that only some inventories want)."""
        return path in self._desired(host)


@dataclass(frozen=True)
class Phase:
    """One step of the runbook: which hosts, how (serial/parallel), what steps per host."""

    name: str
    summary: str
    hosts: Callable[[Inventory], list[Host]]
    steps: Callable[[UpContext, Host], list]
    serial: bool = False
    journaled: bool = True      # verify always runs: it only reads
    needs_os: bool = False      # its steps depend on the host's OS: built once the OS is known


def sysctl_check(content: str) -> str:
    r"""A read-only command: exit 0 when every ``key = value`` of a sysctl.d file is live.

    It reads /proc/sys itself with bash's ``read`` (what ``sysctl -n`` prints is that file's line: procps
    sysctl.c ReadSetting), so the check costs the host no process per key - it runs in every ``up``.

    >>> sysctl_check("net.ipv4.ip_forward = 1\n")
    '{ IFS= read -r v < /proc/sys/net/ipv4/ip_forward; } 2>/dev/null && [ "$v" = 1 ]'
    """
    tests = []
    for line in content.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";")) and "=" in line:
            key, value = (s.strip() for s in line.split("=", 1))
            # sysctl's key -> path rule: '.' separates levels, a '/' in a key stands for a '.' in a name.
            path = "/proc/sys/" + key.translate(str.maketrans("./", "/."))
            tests.append(f"{{ IFS= read -r v < {q(path)}; }} 2>/dev/null && [ \"$v\" = {q(value)} ]")
    return " && ".join(tests) or "true"


def file_is(path: str, text: str) -> str:
    r"""Read-only, no process: exit 0 when the file at ``path`` holds exactly ``text`` plus one newline
    (what ``echo TEXT > PATH`` writes), read with bash's ``read`` instead of ``$(cat PATH)``.

    >>> print(file_is("/etc/hostname", "node1"))
    { IFS= read -r -d '' v < /etc/hostname; } 2>/dev/null; [ "$v" = node1$'\n' ]
    """
    return f"{{ IFS= read -r -d '' v < {q(path)}; }} 2>/dev/null; [ \"$v\" = {q(text)}$'\\n' ]"


def proxy_dropin(ctx: UpContext, host: Host, path: str, unit: str, try_restart: bool = False) -> list:
    """The inventory proxy's drop-in for ``unit`` and the daemon-reload it needs, when there is a proxy. A change
    raises the tag ``unit`` (the ServiceStep restarts on it), or with ``try_restart`` restarts the unit only if it
    runs (the kubelet: kubeadm starts it)."""
    if not ctx.has_file(host, path):
        return []
    reload = "systemctl daemon-reload" + (f" && systemctl try-restart {q(unit)}" if try_restart else "")
    return [FileStep.of(ctx.file(host, path), notify=unit),
            CommandStep(f"{unit} proxy environment in effect", None, reload, when_notified=unit)]


def keyring_step(name: str, key: RenderedFile):
    """Fetch an ASCII-armored repository key into /etc/apt/keyrings (binary), once per URL (the desired ``key``:
    its location, and the URL as its origin)."""
    url, keyring, source = key.origin, key.path, keyring_source(key.path)
    check = f"[ -s {q(keyring)} ] && {{ {file_is(source, url)}; }}"
    command = (f"install -d -m 0755 /etc/apt/keyrings && curl -fsSL --retry 3 {q(url)} | gpg --batch --yes --dearmor "
               f"-o {q(keyring + '.new')} && chmod 0644 {q(keyring + '.new')} && mv -f {q(keyring + '.new')} {q(keyring)}"
               f" && echo {q(url)} > {q(source)}")
    return CommandStep(f"{name} repository key from {url}", check, command, notify="apt-sources",
                       why=f"could not fetch the {name} repository key from {url}", writes=(keyring, source))


# The kubeconfig fields probes read (kubeadm writes one cluster and one user): a key seen twice means more than
# one of them, which is not picked between (_x: not understood; a token too).
_KUBECONFIG_FIELDS = {"server:": "_s", "client-certificate:": "_c", "client-key:": "_k",
                      "client-certificate-data:": "_cd", "client-key-data:": "_kd"}
# curl's client certificate from what read_kubeconfig found: inline (decoded into pipes: the key never reaches a
# command line or a file) or the files it names.
INLINE_CREDS = "--cert <(printf '%s' \"$_cd\" | base64 -d) --key <(printf '%s' \"$_kd\" | base64 -d)"
FILE_CREDS = "--cert \"$_c\" --key \"$_k\""


def read_kubeconfig(kubeconfig: str) -> str:
    """Shell, builtins only: set ``_s`` (server), ``_c``/``_k`` (certificate and key files), ``_cd``/``_kd`` (inline)
    from ``kubeconfig``, and ``_x`` when it holds what we do not read (a token, a second user or cluster).
    Shared by :func:`api_read` and :func:`~provisioner.phases.curlreads.curl_reads`."""
    cases = " ".join(f"{key}) [ -z \"${var}\" ] || _x=1; {var}=$_b;;" for key, var in _KUBECONFIG_FIELDS.items())
    return (f"_s='' _c='' _k='' _cd='' _kd='' _x=''; {{ while read -r _a _b; do case $_a in {cases} "
            f"token:) _x=1;; esac; done < {q(kubeconfig)}; }} 2>/dev/null")


def api_read(kubeconfig: str, path: str, *, server: str | None = None, timeout: int = 5) -> str:
    """Read-only shell: GET ``path`` from the API with the credentials of ``kubeconfig``, by ONE curl; prints the
    body, exits 0 on a 2xx answer only.

    Cheaper than kubectl (a 60 MB Go program that also reads its discovery cache) for probes that every
    ``up`` runs. The kubeconfig is read by bash itself: its ``server`` (or ``server`` given here), the client
    certificate and key as files (kubelet.conf: ``client-certificate``) or inline (admin.conf:
    ``client-certificate-data``, decoded into a pipe - the key never reaches a command line or a file).
    The CA is the cluster's ``ca.crt`` on disk. A kubeconfig this does not understand (a key twice, i.e.
    more than one user or cluster; a token) makes it fail without asking: callers then ask kubectl
    (``api_read(...) || kubectl ...``), so a failure here is never taken as the answer.

    >>> probe = api_read(ADMIN_CONF, "/api/v1/nodes/node1")   # one curl runs: inline or file credentials
    >>> probe.count("curl -fsS"), "kubectl" in probe
    (2, False)
    """
    url = f"{q(server)}{q(path)}" if server else f"\"$_s\"{q(path)}"
    curl = f"curl -fsS --max-time {int(timeout)} --cacert {CA}"
    # A brace group, not a subshell: no fork (the probe runs in a process of its own already).
    return (f"{{ {read_kubeconfig(kubeconfig)}; "
            f"if [ -n \"$_x\" ]; then false; "
            f"elif [ -n \"$_cd\" ] && [ -n \"$_kd\" ]; then {curl} {INLINE_CREDS} {url}; "
            f"elif [ -n \"$_c\" ] && [ -n \"$_k\" ]; then {curl} {FILE_CREDS} {url}; "
            "else false; fi; }")
