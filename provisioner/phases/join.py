"""join-control-planes (one at a time, each healthy before the next) and join-workers (in parallel).

The join config (token, CA hash, and for control planes the certificate
key) is the desired state's, with the join material renewed right before the
join when it expired (:mod:`provisioner.phases.material`); uploaded 0600, used
by ``kubeadm join --config`` and removed.
"""

from __future__ import annotations

from provisioner.errors import ProvisionerError
from provisioner.phases.base import CA, KUBECTL, Phase, UpContext, q
from provisioner.phases.halfdone import NODE_LIST, NodeState, join_probe, node_list, redo
from provisioner.phases.material import ensure_fresh
from provisioner.render import JOIN_CONFIG
from provisioner.steps import AbsentStep, Change, FuncStep, WaitStep

KUBELET_CONF = "/etc/kubernetes/kubelet.conf"


def join_step(ctx: UpContext, host, control_plane: bool) -> FuncStep:
    """kubeadm join, when the node has not joined - and first ``kubeadm reset -f`` when a run was killed
    inside ``kubeadm join`` (see :mod:`provisioner.phases.halfdone` for what "joined" means)."""
    phase = "join-control-planes" if control_plane else "join-workers"
    desired = ctx.file(host, JOIN_CONFIG)

    def needed(fact):
        # The node's own files (and etcd member), then its Node object from the list the first control plane read
        state = NodeState.parse(fact.output if fact else "").with_nodes(
            node_list(fact.elsewhere if fact else None), host.hostname, control_plane)
        if state.kind == "done":
            return None
        join = [f"kubeadm join --config {JOIN_CONFIG}"]
        what = "kubeadm join" + (" as a control plane" if control_plane else "")
        if state.kind == "fresh":
            return Change(what, join, plan=state)
        if ctx.journal.done_at(host.hostname, phase):
            # Joined in an earlier run and now not answering: never wipe a node because the cluster is down.
            raise ProvisionerError(
                f"{host.hostname}: joined in an earlier run, but now: {state.problems} - not resetting a built "
                f"node; check the cluster's API (and etcd on control planes), or `provisioner reset --limit "
                f"{host.hostname}` to rebuild it")
        return Change(f"kubeadm reset -f, then {what} again: {state.why('joined')}", ["kubeadm reset -f"] + join,
                      plan=state)

    def action(sctx, change):
        state = change.plan
        if state.kind == "half":
            redo(ctx, sctx, host, state, "joined", "joining again")
        if host.hostname in ctx.replaced:
            # Another machine under a known name: its old Node object is stale, and kubeadm refuses to
            # join while a Node of that name is Ready (kubelet-start, cmd/kubeadm/app/cmd/phases/join/kubelet.go).
            first = ctx.remotes[ctx.inv.first_control_plane.hostname]
            first.run(f"{KUBECTL} delete node {q(host.hostname)} --ignore-not-found",
                      why=f"could not delete the stale Node object of the replaced host {host.hostname}")
        ensure_fresh(ctx, control_plane)
        r = sctx.remote
        r.put(desired.path, desired.current(ctx.material.secrets), mode=desired.mode)
        try:
            r.run(f"kubeadm join --config {q(JOIN_CONFIG)}", timeout=900,
                  why=f"kubeadm join failed - fix the cause, then `provisioner reset --limit {host.hostname}` "
                      "and re-run")
        finally:
            r.run(f"rm -f {q(JOIN_CONFIG)}", check=False)

    role = "control-plane" if control_plane else "worker"
    return FuncStep(f"kubeadm join ({role})", join_probe(host.hostname, control_plane),
                    needed, action, identity=f"join {host.hostname} {role} {ctx.secrets.ca_cert_hash} "
                                             f"{ctx.inv.endpoint_name}:{ctx.inv.api_port}", writes=(desired.path,),
                    elsewhere=(ctx.inv.first_control_plane.hostname, NODE_LIST))


def steps_for(control_plane: bool):
    def steps(ctx: UpContext, host) -> list:
        out = [
            join_step(ctx, host, control_plane),
            AbsentStep(JOIN_CONFIG),
            # The join's probe is "done" only when this Node exists: wait for it only after a join ran.
            WaitStep(f"node {host.hostname} registered",
                     f"kubectl --kubeconfig={KUBELET_CONF} get node {q(host.hostname)} >/dev/null 2>&1", timeout=120,
                     only_after_change=True),
        ]
        if control_plane:
            out.append(WaitStep(f"API on {host.hostname} healthy",
                                f"curl -fsS --max-time 3 --cacert {CA} https://{host.address}:6443/healthz >/dev/null",
                                timeout=180))
        return out
    return steps


CONTROL_PLANES = Phase("join-control-planes", "other control planes, one at a time",
                       lambda inv: inv.control_planes[1:], steps_for(True), serial=True)
WORKERS = Phase("join-workers", "workers, in parallel",
                lambda inv: [h for h in inv.workers if not h.has("control-plane")], steps_for(False))
