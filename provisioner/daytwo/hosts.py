"""Open the control planes of an inventory for a day-two command: one run log, one SSH session.

>>> with control_planes(Path("inv.yaml"), None, None, "certs") as cps:      # doctest: +SKIP
...     cps.remotes["master1"].run("kubeadm certs check-expiration")

Hosts that do not answer are listed in ``cps.unreachable`` (host -> reason); the command decides
whether it can go on without them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from provisioner.inventory import Inventory
from provisioner.phases.base import KUBECTL
from provisioner.remote import Remote
from provisioner.runlog import RunLog
from provisioner.session import Session, UnreachableHosts
from provisioner.state import default_state_dir
from provisioner.transport import HostKeys, Ssh, quote
from provisioner.validation import load_inventory

PKI = "/etc/kubernetes/pki"
# etcd's own client certificate (kubeadm's etcd liveness probe uses it): etcd CA, client auth.
DRAIN_TIMEOUT_S = 300


def drain(name: str, forced: bool = False) -> str:
    """kubectl drain on a control plane with admin.conf (``forced``: for a node that does not answer - its pods
    are deleted, not evicted)."""
    return (f"{KUBECTL} drain {quote(name)} --ignore-daemonsets --delete-emptydir-data --timeout={DRAIN_TIMEOUT_S}s"
            + (" --force --disable-eviction" if forced else ""))


def uncordon(name: str) -> str:
    return f"{KUBECTL} uncordon {quote(name)}"


ETCDCTL = (f"ETCDCTL_API=3 etcdctl --endpoints=https://127.0.0.1:2379 --cacert={PKI}/etcd/ca.crt "
           f"--cert={PKI}/etcd/healthcheck-client.crt --key={PKI}/etcd/healthcheck-client.key")


@dataclass
class ControlPlanes:
    inv: Inventory
    state_dir: Path
    remotes: dict[str, Remote]
    names: list[str]                                     # every control plane, inventory order
    unreachable: dict[str, str] = field(default_factory=dict)

    def reachable(self) -> list[str]:
        return [n for n in self.names if n in self.remotes]


@contextmanager
def control_planes(inv_path: Path, state_dir: Path | None, keys: Ssh | HostKeys | None, kind: str,
                   timeout: float = 10) -> Iterator[ControlPlanes]:
    """The inventory's control planes, connected (``keys``: the CLI's SSH; default: the state dir's
    known_hosts and ~/.ssh/config)."""


    inv = load_inventory(inv_path)      # the CLI printed its warnings when it loaded it
    state = Path(state_dir) if state_dir else default_state_dir(inv)
    keys = keys if keys is not None else HostKeys(state / "known_hosts")
    log = RunLog.create(state, kind, lambda s: s)
    session = Session(inv, keys, log, lambda s: s, timeout, 8)
    names = [h.hostname for h in inv.control_planes]
    cps = ControlPlanes(inv, state, session.remotes, names)
    try:
        try:
            session.open(names)
        except UnreachableHosts as exc:
            cps.unreachable = {e.host: e.reason for e in exc.errors}
        yield cps
    finally:
        session.close()
        log.close()
