"""join-control-planes (one at a time, each healthy before the next) and join-workers (in parallel).

The join config (token, CA hash, and for control planes the certificate
key) is rendered at the moment of the join from the current join material,
uploaded 0600, used by ``kubeadm join --config`` and removed.
"""

from __future__ import annotations

from provisioner.phases.base import CA, Phase, UpContext, q
from provisioner.phases.material import ensure_fresh
from provisioner.render import KUBEADM_DIR, render_host
from provisioner.steps import AbsentStep, Change, FuncStep, WaitStep

JOIN_CONFIG = f"{KUBEADM_DIR}/kubeadm-join.yaml"
KUBELET_CONF = "/etc/kubernetes/kubelet.conf"


def join_step(ctx: UpContext, host, control_plane: bool) -> FuncStep:
    def needed(fact):
        if fact and fact.output.strip() == "joined":
            return None
        return Change("kubeadm join" + (" as a control plane" if control_plane else ""),
                      [f"kubeadm join --config {JOIN_CONFIG}"])

    def action(sctx):
        ensure_fresh(ctx, control_plane)
        config = next(f for f in render_host(ctx.inv, ctx.secrets, host) if f.path == JOIN_CONFIG)
        r = sctx.remote
        r.put(JOIN_CONFIG, config.content, mode=0o600)
        try:
            r.run(f"kubeadm join --config {q(JOIN_CONFIG)}", timeout=900,
                  why=f"kubeadm join failed - fix the cause, then `provisioner reset --limit {host.hostname}` "
                      "and re-run")
        finally:
            r.run(f"rm -f {q(JOIN_CONFIG)}", check=False)

    role = "control-plane" if control_plane else "worker"
    return FuncStep(f"kubeadm join ({role})", f"[ -e {KUBELET_CONF} ] && echo joined || echo not-joined",
                    needed, action, identity=f"join {host.hostname} {role} {ctx.secrets.ca_cert_hash} "
                                             f"{ctx.inv.endpoint_name}:{ctx.inv.api_port}")


def steps_for(control_plane: bool):
    def steps(ctx: UpContext, host) -> list:
        out = [
            join_step(ctx, host, control_plane),
            AbsentStep(JOIN_CONFIG),
            WaitStep(f"node {host.hostname} registered",
                     f"kubectl --kubeconfig={KUBELET_CONF} get node {q(host.hostname)} >/dev/null 2>&1", timeout=120),
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
