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
from provisioner.render import RenderedFile, template_env
from provisioner.secrets import ClusterSecrets, SecretStore
from provisioner.state import ClusterState

q = shlex.quote
KUBECTL = "kubectl --kubeconfig=/etc/kubernetes/admin.conf"
CA = "/etc/kubernetes/pki/ca.crt"


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
        return cls(*parts)


@dataclass
class UpContext:
    """Everything the step functions may read. Rendering happened already; nothing here touches a host."""

    inv: Inventory
    secrets: ClusterSecrets
    store: SecretStore
    state: ClusterState
    state_dir: Path
    files: dict[str, dict[str, RenderedFile]]
    os: dict[str, OsInfo] = field(default_factory=dict)
    remotes: dict = field(default_factory=dict)          # hostname -> Remote, filled by the engine
    replaced: set = field(default_factory=set)           # hosts that came back as other machines (same name)
    say: Callable[[str], None] = field(default=lambda text: None)   # a progress line for the user (the reporter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def file(self, host: Host, path: str) -> RenderedFile:
        return self.files[host.hostname][path]

    def component(self, host: Host, component: str) -> list[RenderedFile]:
        return [f for f in self.files[host.hostname].values() if f.component == component]

    def render(self, template: str, **values) -> str:
        return template_env().get_template(template).render(inv=self.inv, **values)


@dataclass(frozen=True)
class Phase:
    """One step of the runbook: which hosts, how (serial/parallel), what steps per host."""

    name: str
    summary: str
    hosts: Callable[[Inventory], list[Host]]
    steps: Callable[[UpContext, Host], list]
    serial: bool = False
    journaled: bool = True      # verify always runs: it only reads


def sysctl_check(content: str) -> str:
    """A read-only command: exit 0 when every ``key = value`` of a sysctl.d file is live."""
    tests = []
    for line in content.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";")) and "=" in line:
            key, value = (s.strip() for s in line.split("=", 1))
            tests.append(f"[ \"$(sysctl -n {q(key)} 2>/dev/null)\" = {q(value)} ]")
    return " && ".join(tests) or "true"


def keyring_step(name: str, url: str, keyring: str):
    """Fetch an ASCII-armored repository key into /etc/apt/keyrings (binary), once per URL."""
    from provisioner.steps import CommandStep

    source = f"{keyring}.source"
    check = f"[ -s {q(keyring)} ] && [ \"$(cat {q(source)} 2>/dev/null)\" = {q(url)} ]"
    command = (f"install -d -m 0755 /etc/apt/keyrings && curl -fsSL --retry 3 {q(url)} | gpg --batch --yes --dearmor "
               f"-o {q(keyring + '.new')} && chmod 0644 {q(keyring + '.new')} && mv -f {q(keyring + '.new')} {q(keyring)}"
               f" && echo {q(url)} > {q(source)}")
    return CommandStep(f"{name} repository key from {url}", check, command, notify="apt-sources",
                       why=f"could not fetch the {name} repository key from {url}")
