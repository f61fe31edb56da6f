"""``provisioner reset``: undo the Kubernetes part of nodes so that ``up`` can build them again.

>>> run_reset(inv, state_dir, keys, limit=["node3"])      # doctest: +SKIP
{'node3': 'reset'}

Order: workers in parallel, then control planes ONE AT A TIME, the first
control plane last. ``kubeadm reset`` on a control plane removes its etcd
member (cmd/kubeadm/app/cmd/phases/reset/removeetcdmember.go) before its
etcd stops; etcd refuses to remove a running member when the running
members left would be fewer than a quorum (``mayRemoveMember``,
etcd-io/etcd server/etcdserver/server.go), and kubeadm then only warns and
goes on - so control planes leaving at the same time can leave a member
behind (a 3-member cluster with one stale member and one down has no
quorum). One at a time, each leaves while the others run.

Only the limited hosts are connected to, plus - when a control plane is
reset and others stay - one control plane that stays, to check that the
member really left (said in the output: ``master2: reset (etcd member
removed, checked on master1)``).

On each node: ``kubeadm reset -f`` (with our CRI socket), the CNI config,
our kubeadm files, the iptables rules kube-proxy and the CNI wrote, the
admin user's kubeconfig. The journal forgets the node's init/join/cni
phases; resetting the first control plane also forgets the cluster's join
material timestamps and the fetched admin kubeconfig (the cluster is gone).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from provisioner.inventory import Inventory
from provisioner.phases.halfdone import MEMBER_LIST, member_names, reset_script
from provisioner.remote import StepFailed
from provisioner.runlog import RunLog
from provisioner.session import Session, UnreachableHosts
from provisioner.state import ClusterState, Journal
from provisioner.transport import HostKeys, Ssh

KUBE_PHASES = ["init", "cni", "join-control-planes", "join-workers"]


def succeeded(outcome: str) -> bool:
    """Whether a host's outcome line means it is reset (or had nothing to reset)."""
    return outcome == "reset" or outcome.startswith(("reset (", "nothing to reset"))


def run_reset(inv: Inventory, state_dir: Path, keys: Ssh | HostKeys, limit: list[str] | None = None,
              timeout: float = 10) -> dict[str, str]:
    """Reset the limited hosts (default: every control plane and worker); host -> outcome."""
    names = [h.hostname for h in inv.kube_nodes if not limit or h.hostname in limit]
    outcome: dict[str, str] = {}
    for name in limit or []:
        if name not in names:
            outcome[name] = "nothing to reset: not a control plane or worker (not connected to)"
    cps = [h.hostname for h in inv.control_planes]
    first = inv.first_control_plane.hostname
    staying = [n for n in cps if n not in names]
    # A control plane that stays, to check that the ones reset left etcd (only when one is reset).
    witness = staying[0] if staying and any(n in cps for n in names) else None
    log = RunLog.create(state_dir, "reset", lambda s: s)
    session = Session(inv, keys, log, lambda s: s, timeout, 32)
    journal = Journal(state_dir)
    if not names:
        log.close()
        return outcome
    try:
        try:
            session.open(names + ([witness] if witness else []))
        except UnreachableHosts as exc:
            for e in exc.errors:
                if e.host != witness:
                    outcome[e.host] = f"unreachable: {e.reason}"
            names = [n for n in names if n in session.remotes]
        if witness and witness not in session.remotes:
            witness = None

        def members() -> list[str] | None:
            if not witness:
                return None
            res = session.remotes[witness].run(MEMBER_LIST, check=False, quiet=True)
            return member_names(res.stdout) if res.ok else None

        def one(name: str) -> None:
            remote = session.remotes[name]
            try:
                remote.run(reset_script(remote.target.user), why="reset failed", timeout=600)
                journal.forget(name, KUBE_PHASES)
                outcome[name] = "reset"
            except StepFailed as exc:
                outcome[name] = f"failed: {exc.why} (exit {exc.rc}): {exc.tail.splitlines()[-1:] or ''}"
                return
            if name in cps and witness:
                left = members()
                if left is None:
                    outcome[name] = f"reset (could not read the etcd member list on {witness})"
                elif name in left:
                    outcome[name] = (f"reset, but its etcd member is still listed on {witness} - remove it there "
                                     f"(etcdctl member remove) before it joins again")
                else:
                    outcome[name] = f"reset (etcd member removed, checked on {witness})"

        workers = [n for n in names if n not in cps]
        with ThreadPoolExecutor(max_workers=max(1, len(workers))) as pool:
            list(pool.map(one, workers))
        # Control planes one at a time, the first one (which the others' kubeadm reset talks to) last.
        for name in sorted((n for n in names if n in cps), key=lambda n: (n == first, cps.index(n))):
            one(name)
        if outcome.get(first, "").startswith("reset"):
            ClusterState().save(state_dir)
            (Path(state_dir) / "admin.conf").unlink(missing_ok=True)
            for host in inv.hosts:
                journal.forget(host.hostname, KUBE_PHASES)
    finally:
        session.close()
        log.close()
    return outcome
