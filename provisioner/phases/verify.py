"""verify (first control plane; read-only, always runs): every node Ready, the API answering
through the control-plane endpoint (the VIP) with the cluster CA.
"""

from __future__ import annotations

from provisioner.phases.base import CA, KUBECTL, Phase, UpContext
from provisioner.steps import WaitStep


def steps(ctx: UpContext, host) -> list:
    inv = ctx.inv
    count = len(inv.kube_nodes)
    ready = (f"[ \"$({KUBECTL} get nodes --no-headers 2>/dev/null | awk '$2 == \"Ready\"' | wc -l)\" -eq {count} ]")
    endpoint = inv.control_plane_endpoint.address or host.address
    return [
        WaitStep(f"all {count} nodes Ready", ready, timeout=300),
        WaitStep(f"API answers through {endpoint}:{inv.api_port}",
                 f"curl -fsS --max-time 3 --cacert {CA} https://{endpoint}:{inv.api_port}/healthz >/dev/null",
                 timeout=60),
    ]


PHASE = Phase("verify", "nodes Ready, API through the endpoint", lambda inv: [inv.first_control_plane], steps,
              journaled=False)
