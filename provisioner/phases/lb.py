"""lb (load-balancer hosts): ip_nonlocal_bind, keepalived + its check script, haproxy; then wait
until the VIP answers on the API port.

Both configs are checked by their own tools on the host before they replace
the live ones (``keepalived -t``, ``haproxy -c``): a bad render never takes
the VIP down.
"""

from __future__ import annotations

from provisioner.phases.hostsec import keepalived_script_context_step
from provisioner.phases.base import Phase, UpContext, q, sysctl_check
from provisioner.render import CHECK_SCRIPT
from provisioner.steps import CommandStep, FileStep, ServiceStep, WaitStep


def vip_answers(inv) -> str:
    """Read-only: a TCP connection to VIP:port succeeds (haproxy on the VIP holder accepts it)."""
    return f"timeout 2 bash -c {q(f'</dev/tcp/{inv.vip}/{inv.api_port}')} 2>/dev/null"


def steps(ctx: UpContext, host) -> list:
    sysctl = ctx.file(host, "/etc/sysctl.d/90-provisioner-lb.conf")
    return [
        FileStep.of(sysctl, notify="lb-sysctl"),
        CommandStep("apply ip_nonlocal_bind", sysctl_check(sysctl.content), f"sysctl -q -p {q(sysctl.path)}",
                    when_notified="lb-sysctl"),
        ctx.packages(host, {"keepalived": None, "haproxy": None, "curl": None}),   # curl: the health check
        FileStep.of(ctx.file(host, CHECK_SCRIPT), notify="keepalived"),
        *([keepalived_script_context_step()] if ctx.inv.selinux == "enforcing" else []),
        FileStep.of(ctx.file(host, "/etc/keepalived/keepalived.conf"), validate="keepalived -t -f %s",
                    notify="keepalived"),
        FileStep.of(ctx.file(host, "/etc/haproxy/haproxy.cfg"), validate="haproxy -c -q -f %s", notify="haproxy"),
        ServiceStep("haproxy", restart_on=("haproxy",), reload=True),
        ServiceStep("keepalived", restart_on=("keepalived",), reload=True),
        WaitStep(f"VIP {ctx.inv.vip}:{ctx.inv.api_port} answers", vip_answers(ctx.inv), timeout=60),
    ]


PHASE = Phase("lb", "keepalived + haproxy, VIP answering", lambda inv: inv.load_balancers, steps)
