"""`provisioner remove HOST... --yes`: take nodes out of the cluster built from the inventory.

>>> run_remove(inv, state_dir, keys, ["node3"], force=False)          # doctest: +SKIP
[Removal(host='node3', role='worker', done=True, outcome='drained, reset, node deleted')]

Refused before any host is touched (one line, exit 2): a host that is not a joined node, the first control
plane (it holds what `up` builds on: `kubeadm init` ran there and the tool's admin access comes from it), an
inventory that would not be valid without the hosts, and - for control planes - an etcd that would be left
with fewer than two members (no member may fail then) unless ``--force``, or without a quorum at all.

Per host (workers first, then control planes one at a time), the cluster's side run on the first control plane
with admin.conf:
1. ``kubectl drain`` (``--ignore-daemonsets --delete-emptydir-data``, bounded by ``--timeout``);
2. ``kubeadm reset -f`` on the node and the cleanup of ``provisioner reset``; on a control plane kubeadm
   removes its own etcd member (cmd/kubeadm/app/cmd/phases/reset/removeetcdmember.go) - when the member is
   still listed afterwards (reset only warns when it cannot), it is removed through etcd's API
   (``POST /v3/cluster/member/remove``) on the first control plane;
3. ``kubectl delete node``;
4. colocated load balancing: keepalived and haproxy stopped and disabled on a removed control plane (it must
   not hold the VIP for a cluster it left);
5. the journal forgets the host, so that it is new to a later `add`/`up`.
The caller then runs `up` over the inventory without the removed hosts: the /etc/hosts block everywhere and
the load balancers' haproxy backends (checked, reloaded) follow.

A host that does not answer is refused unless ``--force``; forced, it is drained and deleted from the
cluster's side only (its etcd member removed through the API), and the output says it was not reset.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from provisioner.daytwo.add import JOIN_PHASE, built_nodes
from provisioner.daytwo.changed import changed_inventory
from provisioner.daytwo.hosts import DRAIN_TIMEOUT_S, drain
from provisioner.errors import UsageError
from provisioner.inventory import Inventory
from provisioner.phases.base import KUBECTL
from provisioner.phases.halfdone import etcd_call, member_list, reset_script
from provisioner.remote import Remote, StepFailed
from provisioner.runlog import RunLog
from provisioner.session import Session, UnreachableHosts
from provisioner.state import Journal
from provisioner.transport import HostKeys, Ssh, Unreachable, quote

@dataclass(frozen=True)
class Removal:
    host: str
    role: str             # control plane | worker
    done: bool            # out of the cluster: drained (or forced), its member gone, its Node deleted
    outcome: str          # what happened, one line


def check_removals(inv: Inventory, journal: Journal, names: list[str]) -> None:
    """UsageError unless the cluster is built and each of ``names`` is a joined node other than the first
    control plane."""
    first = inv.first_control_plane.hostname
    for host in built_nodes(inv, journal, names, "remove", "drop it from the inventory and run `provisioner up`"):
        if host.hostname == first:
            raise UsageError(f"remove: {first} is the first control plane (kubeadm init ran there; `up` builds on "
                             "it) - it cannot be removed with this tool")
        if journal.done_at(host.hostname, JOIN_PHASE[host.has("control-plane")]) is None:
            raise UsageError(f"remove: {host.hostname} has not joined the cluster (the state directory records no "
                             "join) - nothing to remove")


def quorum_refusal(members: list[str], leaving: list[str], force: bool) -> str | None:
    """Why taking ``leaving`` out of etcd's ``members`` is refused (None: it may go).

    >>> quorum_refusal(["m1", "m2", "m3"], ["m3"], False) is None
    True
    >>> quorum_refusal(["m1", "m2"], ["m2"], False)
    'leaves etcd with 1 member (m1): no member may fail then - pass --force to remove it anyway'
    """
    left = [m for m in members if m not in leaving]
    if not left:
        return "leaves etcd without a member - the cluster would be gone"
    if len(left) < 2 and not force:
        return (f"leaves etcd with {len(left)} member ({', '.join(left)}): no member may fail then - pass --force "
                "to remove it anyway")
    return None


def inventory_without(path: Path, names: list[str]) -> Inventory:
    """The inventory at ``path`` without ``names``, validated as `up` would load it (UsageError if not valid)."""
    def drop(data: dict) -> dict:
        return {**data, "hosts": [h for h in data.get("hosts") or []
                                  if not (isinstance(h, dict) and h.get("hostname") in names)]}
    return changed_inventory(path, drop, "remove", f"without {', '.join(names)}")


def members_of(first: Remote) -> dict[str, str] | None:
    """etcd's members as name -> ID, read on ``first`` (None: etcd did not answer)."""
    res = first.run(member_list(20), check=False, quiet=True, timeout=60)
    if not res.ok:
        return None
    try:
        return {m["name"]: str(m["ID"]) for m in json.loads(res.stdout).get("members", []) if m.get("name")}
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def member_remove(member_id: str) -> str:
    """etcd's Cluster.MemberRemove through its grpc-gateway, with kubeadm's healthcheck client certificate."""
    return etcd_call("member/remove", json.dumps({"ID": member_id}), 20)


def _node_side(first: Remote, name: str, forced: bool) -> str:
    """Drain ``name`` on the first control plane; '' when its Node object does not exist."""
    listed = first.run(f"{KUBECTL} get node {quote(name)} --ignore-not-found -o name", timeout=60,
                       why=f"cannot read the Node {name} on the first control plane")
    if not listed.stdout.strip():
        return ""
    first.run(drain(name, forced), timeout=DRAIN_TIMEOUT_S + 60,
              why=f"kubectl drain {name} failed - nothing was reset; fix what it says and run remove again")
    return "drained"


def remove_one(inv: Inventory, first: Remote, node: Remote | None, name: str) -> str:
    """Take ``name`` out (``node`` None: it does not answer and the removal is forced); its outcome line."""
    done = [_node_side(first, name, node is None) or "no Node object"]
    if node is not None:
        node.run(reset_script(node.target.user), timeout=600,
                 why=f"kubeadm reset on {name} failed - it is drained; run remove again")
        done.append("reset")
    else:
        done.append("NOT reset (it did not answer)")
    if inv.host(name).has("control-plane"):
        members = members_of(first) or {}
        if name in members:
            first.run(member_remove(members[name]), timeout=60,
                      why=f"the etcd member of {name} is still listed and etcd refused to remove it")
            done.append("etcd member removed through etcd's API")
        else:
            done.append("etcd member gone")
        if inv.load_balancer.mode == "colocated" and node is not None:
            node.run("systemctl disable --now keepalived haproxy", timeout=120,
                     why=f"cannot stop keepalived/haproxy on {name}")
            done.append("keepalived and haproxy stopped")
    first.run(f"{KUBECTL} delete node {quote(name)} --ignore-not-found", timeout=120,
              why=f"kubectl delete node {name} failed")
    done.append("node deleted")
    return ", ".join(done)


def run_remove(inv: Inventory, state_dir: Path, keys: Ssh | HostKeys, names: list[str], force: bool,
               timeout: float = 10) -> list[Removal]:
    """Remove ``names`` (checked with :func:`check_removals`); UsageError for a refusal found on the hosts
    (quorum, a host that does not answer without ``force``), raised before anything is changed."""
    journal = Journal(state_dir)
    first = inv.first_control_plane.hostname
    cps = [h.hostname for h in inv.control_planes]
    log = RunLog.create(state_dir, "remove", lambda s: s)
    session = Session(inv, keys, log, lambda s: s, timeout, 16)
    try:
        try:
            session.open([first, *names])
        except UnreachableHosts as exc:
            down = {e.host: e.reason for e in exc.errors}
            if first in down:
                raise UsageError(f"remove: {first} (the first control plane) does not answer: {down[first]}") \
                    from None
            if not force:
                host, why = next(iter(down.items()))
                raise UsageError(f"remove: {host} does not answer ({why}) - bring it back, or pass --force to take "
                                 "it out of the cluster without resetting it") from None
        leaving = [n for n in names if n in cps]
        if leaving:
            members = members_of(session.remotes[first])
            if members is None and not force:
                raise UsageError(f"remove: etcd's member list does not answer on {first} - the quorum check needs "
                                 "it; pass --force to go on without it")
            why = quorum_refusal(list(members or {}), leaving, force) if members is not None else None
            if why:
                raise UsageError(f"remove: taking out {', '.join(leaving)} {why}")
        out: list[Removal] = []
        # workers first, then control planes one at a time: each leaves etcd while the others run
        for name in sorted(names, key=lambda n: (n in cps, names.index(n))):
            role = "control plane" if name in cps else "worker"
            try:
                outcome = remove_one(inv, session.remotes[first], session.remotes.get(name), name)
            except StepFailed as exc:       # said, and the rest is not attempted
                last = (exc.tail.strip().splitlines() or [""])[-1]
                out.append(Removal(name, role, False, f"failed: {exc.why} (exit {exc.rc}): {last}"))
                break
            except Unreachable as exc:      # a connection lost meanwhile
                out.append(Removal(name, role, False, f"failed: {exc}"))
                break
            journal.forget(name)
            out.append(Removal(name, role, True, outcome))
        return out
    finally:
        session.close()
        log.close()
