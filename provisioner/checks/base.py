"""What a preflight check is: an id, a severity, the facts it reads, and a verdict.

A check never touches a host itself. It names the facts it needs (each a
read-only shell command, shared between checks); the engine gathers all facts
of a host in one SSH command, then every check judges them::

    class SwapOff(NodeCheck):
        id = "swap.active"
        facts = {"swaps": "cat /proc/swaps"}
        def evaluate(self, f, node):
            active = f.lines("swaps")[1:]
            return self.passed("none") if not active else self.failed(...)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from provisioner.factdata import Fact, Facts  # noqa: F401 - Fact: the checks read both from here
from provisioner.inventory import Host, Inventory

PASS, WARN, FAIL, SKIP = "pass", "warn", "fail", "skip"


@dataclass
class Result:
    """The verdict of one check on one host."""

    check: str
    status: str
    observed: str
    expected: str
    fix: str = ""
    duration: float = 0.0
    fixed_by: str | None = None   # the `up` phase that repairs this, when one does

    @property
    def ok(self) -> bool:
        return self.status in (PASS, WARN, SKIP)


@dataclass
class Node:
    """A host as checks see it: inventory entry, its roles in this cluster, and gathered facts."""

    host: Host
    inv: Inventory
    facts: Facts
    clock_offset: float | None = None   # seconds, remote minus local, from a dedicated round trip
    login: str = ""                     # the user we log in as (resolved with ssh_config); "" = the inventory's

    @property
    def user(self) -> str:
        """Who the checks run as: the resolved login, else the inventory's (root by default)."""
        return self.login or self.host.ssh.user or "root"

    @property
    def name(self) -> str:
        return self.host.hostname

    @property
    def is_control_plane(self) -> bool:
        return self.host.has("control-plane")

    @property
    def is_kube_node(self) -> bool:
        return self.host in self.inv.kube_nodes

    @property
    def is_lb(self) -> bool:
        return self.host in self.inv.load_balancers

    @property
    def joined(self) -> bool:
        """Already part of a cluster (kubelet.conf or admin.conf present): ports in use are expected."""
        return "kubelet.conf" in self.facts.text("kube.joined") or "admin.conf" in self.facts.text("kube.joined")


class NodeCheck:
    """Base of per-host checks. Subclasses set the class attributes and ``evaluate``."""

    id: ClassVar[str]
    title: ClassVar[str]
    severity: ClassVar[str] = FAIL
    fixed_by: ClassVar[str | None] = None
    facts: ClassVar[dict[str, str]] = {}
    reads: ClassVar[tuple[str, ...]] = ()   # the host state it judges (paths, units, sysctls): `checks` lists it
    reference: ClassVar[str] = "ours"       # the preflight it mirrors: kubeadm, kubespray, kubekey or ours

    def applies(self, node: Node) -> bool:
        return True

    def fact_commands(self, inv: Inventory, host: Host) -> dict[str, str]:
        """The read-only commands this check needs on ``host`` (may depend on the inventory)."""
        return dict(self.facts)

    def evaluate(self, f: Facts, node: Node) -> Result:
        raise NotImplementedError

    # verdict helpers ---------------------------------------------------------------
    def passed(self, observed: str, expected: str = "") -> Result:
        return Result(self.id, PASS, observed, expected or observed)

    def failed(self, observed: str, expected: str, fix: str, severity: str | None = None) -> Result:
        return Result(self.id, severity or self.severity, observed, expected, fix, fixed_by=self.fixed_by)

    def skipped(self, why: str) -> Result:
        return Result(self.id, SKIP, why, "")


class ControlPlaneCheck(NodeCheck):
    """A per-host check of control planes only."""

    def applies(self, node: Node) -> bool:
        return node.is_control_plane


# --- lean fact commands -------------------------------------------------------------------------------
# Every host runs every fact command on every preflight (and `up`): they are bash builtins where a
# builtin can do it (no fork/exec per file read), and a program runs only when there is something for it
# to look at. The output stays what the program would print, so the checks read the same text.

def read_file(path: str) -> str:
    """A command printing the lines of ``path`` like ``cat``, with bash builtins (no process).

    >>> read_file("/proc/swaps")
    'mapfile -t _l </proc/swaps && printf "%s\\\\n" "${_l[@]}"'
    """
    return f'mapfile -t _l <{path} && printf "%s\\n" "${{_l[@]}}"'


UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system",
             "/usr/local/lib/systemd/system")


def unit_file_exists(unit: str) -> str:
    """A builtin test, true when a unit file named ``unit`` is installed: systemctl runs only then."""
    return "{ " + " || ".join(f"[ -e {d}/{unit} ]" for d in UNIT_DIRS) + "; }"


class UnitProperty(str):
    """A fact command (the str itself) printing one property's value(s) of a unit, only when its unit file is
    installed; it knows which unit and property it reads, so preflight can answer it from the one
    ``systemctl show`` it shares with ``up``'s unit probes."""

    unit: str
    prop: str

    def __new__(cls, unit: str, prop: str):
        self = super().__new__(cls, unit_file_exists(unit) + f" && systemctl show -p {prop} --value {unit} 2>/dev/null; true")
        self.unit, self.prop = unit, prop
        return self


def unit_property(unit: str, prop: str) -> str:
    """A fact command printing one property's value(s) of ``unit`` (``systemctl show -p PROP --value``), only
    when its unit file is installed (see :class:`UnitProperty`).

    >>> unit_property_of(unit_property("cri-docker.service", "ExecStart"))
    ('cri-docker.service', 'ExecStart')
    """
    return UnitProperty(unit, prop)


def unit_property_of(command: str) -> tuple[str, str] | None:
    """(unit, property) when ``command`` is a :class:`UnitProperty` fact, else None."""
    return (command.unit, command.prop) if isinstance(command, UnitProperty) else None


# Already part of a cluster? (kubelet.conf or admin.conf present) - `ls`'s output, without ls.
JOINED = ("for _f in /etc/kubernetes/kubelet.conf /etc/kubernetes/admin.conf; do "
          "[ -e \"$_f\" ] && echo \"$_f\"; done; true")
