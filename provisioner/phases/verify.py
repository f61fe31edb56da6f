"""verify (read-only, always runs): on every host the clock synchronised by chrony (waited for,
bounded: prep may just have restarted it); from the first control plane every node Ready and the
API answering through the control-plane endpoint (the VIP) with the cluster CA.
"""

from __future__ import annotations

from provisioner.phases.base import ADMIN_CONF, CA, KUBECTL, Phase, UpContext, api_read, q
from provisioner.derived import CHRONY_SYNCED    # chronyc's "Leap status : Normal", as preflight reads it
from provisioner.steps import WaitStep

SYNC_TIMEOUT = 180


# One line per node: name, Ready status, Ready message (what the kubelet or the CNI says is wrong).
READY_JSONPATH = ('{range .items[*]}{.metadata.name}{"\\t"}{.status.conditions[?(@.type=="Ready")].status}'
                  '{"\\t"}{.status.conditions[?(@.type=="Ready")].message}{"\\n"}{end}')


# The same lines from the NodeList JSON (GET /api/v1/nodes), by python3: several Ready conditions' values joined
# by a space, as kubectl's jsonpath prints the results of one expression (kubernetes/kubernetes
# staging/src/k8s.io/client-go/util/jsonpath/jsonpath.go PrintResults). Anything but a NodeList (an empty
# answer, an error Status) exits 1 before printing a line: the caller then asks kubectl.
READY_PY = """import json, sys
try:
    items = json.load(sys.stdin)["items"]
    lines = []
    for n in items:
        ready = [c for c in (n.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"]
        lines.append("\\t".join([n["metadata"]["name"], " ".join(c.get("status", "") for c in ready),
                                  " ".join(c.get("message", "") for c in ready)]))
except Exception:
    sys.exit(1)
print("\\n".join(lines))
"""


def nodes_ready(count: int) -> str:
    """Read-only: exit 0 when ``count`` nodes are Ready; otherwise print each node that is not,
    with its Ready condition's message (a flanneld on the wrong interface, no CNI config...),
    so a timed-out wait says why.

    The node list comes from ONE curl with admin.conf's credentials, read by python3 where the node has it
    (~30 ms of CPU, not kubectl's ~400: this read runs in every ``up``); else, or when that fails, from
    kubectl as before."""
    # Ready lines are counted by bash itself (line "NAME<tab>True<tab>...": the second field is True), not
    # by a $(printf | awk | wc) pipeline: this read runs in every `up`; awk only runs to explain a failure.
    # -I -S: isolated from PYTHON* variables and the user's site, no site import (json and sys are all it needs;
    # ~2 ms less CPU per start), as preflight's reachability program runs.
    fast = (f"command -v python3 >/dev/null && {{ {api_read(ADMIN_CONF, '/api/v1/nodes')} 2>/dev/null | "
            f"python3 -I -S -c {q(READY_PY)}; }}")
    return (f"st=$({fast} || {KUBECTL} get nodes -o jsonpath={q(READY_JSONPATH)} 2>&1); n=0; "
            "while IFS= read -r l; do case $l in *$'\\t'*) case ${l#*$'\\t'} in True|True$'\\t'*) n=$((n+1));; "
            "esac;; esac; done <<< \"$st\"; "
            f"[ \"$n\" -eq {count} ] || "
            f"{{ printf '%s\\n' \"$st\" | awk -F'\\t' '$2 != \"True\" {{print \"node \" $1 \" not Ready: \" $3}}' >&2; "
            f"false; }}")


def steps(ctx: UpContext, host) -> list:
    inv = ctx.inv
    synced = WaitStep("clock synchronised by chrony", CHRONY_SYNCED, timeout=SYNC_TIMEOUT, interval=1)
    if host != inv.first_control_plane:
        return [synced]
    count = len(inv.kube_nodes)
    ready = nodes_ready(count)
    endpoint = inv.control_plane_endpoint.address or host.address
    return [
        synced,
        WaitStep(f"all {count} nodes Ready", ready, timeout=300),
        WaitStep(f"API answers through {endpoint}:{inv.api_port}",
                 f"curl -fsS --max-time 3 --cacert {CA} https://{endpoint}:{inv.api_port}/healthz >/dev/null",
                 timeout=60),
    ]


PHASE = Phase("verify", "clocks synchronised, nodes Ready, API through the endpoint", lambda inv: inv.hosts, steps,
              journaled=False)
