"""``provisioner reset``: undo the Kubernetes part of nodes so that ``up`` can build them again.

>>> run_reset(inv, state_dir, keys, limit=["node3"])      # doctest: +SKIP
{'node3': 'reset'}

On each node: ``kubeadm reset -f`` (with our CRI socket), the CNI config,
our kubeadm files, the iptables rules kube-proxy and the CNI wrote, the
admin user's kubeconfig. The journal forgets the node's init/join/cni
phases; resetting the first control plane also forgets the cluster's join
material timestamps and the fetched admin kubeconfig (the cluster is gone).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from provisioner.engine import Session, UnreachableHosts
from provisioner.inventory import Inventory
from provisioner.remote import StepFailed
from provisioner.render import CRI_SOCKET, KUBEADM_DIR
from provisioner.runlog import RunLog
from provisioner.state import ClusterState, Journal
from provisioner.transport import HostKeys, quote

KUBE_PHASES = ["init", "cni", "join-control-planes", "join-workers"]


def reset_script(user: str) -> str:
    home = "/root" if user == "root" else f"$(getent passwd {quote(user)} | cut -d: -f6)"
    return " ; ".join([
        f"if command -v kubeadm >/dev/null; then kubeadm reset -f --cri-socket {quote(CRI_SOCKET)}; fi",
        f"rm -rf /etc/cni/net.d {quote(KUBEADM_DIR)} \"{home}/.kube/config\"",
        "if command -v iptables >/dev/null; then iptables -F && iptables -t nat -F && iptables -t mangle -F "
        "&& iptables -X; fi",
        "if command -v ipvsadm >/dev/null; then ipvsadm --clear; fi",
        "true",
    ])


def run_reset(inv: Inventory, state_dir: Path, keys: HostKeys, limit: list[str] | None = None,
              timeout: float = 10) -> dict[str, str]:
    """Reset the limited hosts (default: every control plane and worker); host -> outcome."""
    names = [h.hostname for h in inv.kube_nodes if not limit or h.hostname in limit]
    log = RunLog.create(state_dir, "reset", lambda s: s)
    session = Session(inv, keys, log, lambda s: s, timeout, 32)
    outcome: dict[str, str] = {}
    journal = Journal(state_dir)
    try:
        try:
            session.open(names)
        except UnreachableHosts as exc:
            for e in exc.errors:
                outcome[e.host] = f"unreachable: {e.reason}"
            names = [n for n in names if n in session.remotes]

        def one(name: str) -> None:
            remote = session.remotes[name]
            try:
                remote.run(reset_script(remote.target.user), why="reset failed", timeout=600)
                journal.forget(name, KUBE_PHASES)
                outcome[name] = "reset"
            except StepFailed as exc:
                outcome[name] = f"failed: {exc.why} (exit {exc.rc}): {exc.tail.splitlines()[-1:] or ''}"

        with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
            list(pool.map(one, names))
        if outcome.get(inv.first_control_plane.hostname) == "reset":
            ClusterState().save(state_dir)
            (Path(state_dir) / "admin.conf").unlink(missing_ok=True)
            for host in inv.hosts:
                journal.forget(host.hostname, KUBE_PHASES)
    finally:
        session.close()
        log.close()
    return outcome
