"""`provisioner add HOST...`: join hosts newly listed in the inventory to the cluster built from it.

The hosts must be in the inventory and the cluster built (the state directory records the first control
plane's ``kubeadm init``). The run is `up`'s own over every host: the new hosts get every phase (preflight,
prep, runtime, packages, a fresh token - and certificate key for a control plane - then the join, control
planes one at a time); the built hosts are read and change only where the new hosts concern them: the
/etc/hosts block everywhere and the haproxy backends on the load balancers (reloaded, not restarted) when a
control plane joins. `up` does the same when it finds new hosts; `add` refuses what is not an addition.
"""

from __future__ import annotations

from dataclasses import dataclass

from provisioner.errors import UsageError
from provisioner.inventory import Host, Inventory
from provisioner.state import Journal
from provisioner.uptypes import UpResult

JOIN_PHASE = {True: "join-control-planes", False: "join-workers"}


@dataclass(frozen=True)
class Addition:
    host: str
    role: str             # control plane | worker
    joined: bool          # its join phase completed in this run


def built_nodes(inv: Inventory, journal: Journal, names: list[str], command: str, lb_hint: str) -> list[Host]:
    """The hosts ``names`` of a built cluster, each a control plane or worker; UsageError otherwise (no
    `kubeadm init` recorded, or a load balancer: ``lb_hint`` says what to do with it)."""
    first = inv.first_control_plane.hostname
    if journal.done_at(first, "init") is None:
        raise UsageError(f"{command}: no cluster built from this inventory yet (the state directory records no "
                         f"`kubeadm init` on {first})" + (" - run `provisioner up`" if command == "add" else ""))
    hosts = [inv.host(name) for name in names]
    for host in hosts:
        if host not in inv.kube_nodes:
            raise UsageError(f"{command}: {host.hostname} is a load balancer, not a node - {lb_hint}")
    return hosts


def check_additions(inv: Inventory, journal: Journal, names: list[str]) -> None:
    """UsageError unless the cluster is built and each of ``names`` is a kube node that has not joined."""
    first = inv.first_control_plane.hostname
    for host in built_nodes(inv, journal, names, "add", "`provisioner up` sets it up"):
        if host.hostname == first or journal.done_at(host.hostname, JOIN_PHASE[host.has("control-plane")]) is not None:
            raise UsageError(f"add: {host.hostname} is already in the cluster - `provisioner up` repairs drift on it")


def additions(inv: Inventory, result: UpResult, names: list[str]) -> list[Addition]:
    """Which of ``names`` joined in ``result`` (their join phase ran on them and completed)."""
    out = []
    for name in names:
        cp = inv.host(name).has("control-plane")
        phase = next((p for p in result.phases if p.name == JOIN_PHASE[cp]), None)
        run = next((h for h in phase.hosts if h.host == name), None) if phase else None
        out.append(Addition(name, "control plane" if cp else "worker",
                            run is not None and run.status in ("ok", "changed")))
    return out


def touched(result: UpResult, names: list[str]) -> dict[str, list[str]]:
    """The built hosts this run changed, with the phases that changed them (hosts block, haproxy)."""
    out: dict[str, list[str]] = {}
    for phase in result.phases:
        for run in phase.hosts:
            if run.host not in names and run.changed:
                out.setdefault(run.host, []).append(phase.name)
    return out
