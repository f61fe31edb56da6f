"""init (first control plane): our cluster CA, ``kubeadm init --config --upload-certs``, the admin
kubeconfig fetched to the state directory (0600), the API answering.

The init config holds the bootstrap token and certificate key: it is
uploaded 0600 just before ``kubeadm init`` and removed right after, and
init's output (which prints join commands) goes to the log redacted.
"""

from __future__ import annotations

import hashlib
import re
import time

from provisioner.errors import ProvisionerError
from provisioner.phases.base import CA, Phase, UpContext, q
from provisioner.phases.halfdone import NodeState, init_probe, redo
from provisioner.render import INIT_CONFIG
from provisioner.secrets import write_private
from provisioner.steps import AbsentStep, Change, CommandStep, FuncStep, WaitStep

ADMIN_CONF = "/etc/kubernetes/admin.conf"
CA_KEY = "/etc/kubernetes/pki/ca.key"


def local_kubeconfig(ctx: UpContext):
    return ctx.state_dir / "admin.conf"


def _sha(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def init_step(ctx: UpContext, host) -> FuncStep:
    """kubeadm init, when the node is not initialised - and first ``kubeadm reset -f`` when a run was killed
    inside ``kubeadm init`` (see :mod:`provisioner.phases.halfdone` for what "initialised" means)."""
    ours = _sha(ctx.secrets.ca_cert_pem)

    def needed(fact):
        state = NodeState.parse(fact.output if fact else "")
        if state.kind != "fresh" and state.ca_sha and state.ca_sha != ours:
            raise ProvisionerError(
                f"{host.hostname}: already runs a cluster whose CA is not this cluster's "
                f"({ctx.state_dir}/secrets.yaml) - use the state directory it was built with, or "
                f"`provisioner reset --limit {host.hostname}` to start over")
        if state.kind == "done":
            return None
        init = [f"install CA into /etc/kubernetes/pki", f"kubeadm init --config {INIT_CONFIG} --upload-certs"]
        if state.kind == "fresh":
            return Change("kubeadm init", init, plan=state)
        if ctx.journal.done_at(host.hostname, "init"):
            # Built by an earlier run and now not answering: never wipe a cluster because it is down.
            raise ProvisionerError(
                f"{host.hostname}: initialised by an earlier run, but now: {state.problems} - not resetting a "
                "built control plane; check the kubelet, etcd and the API server there, or `provisioner reset` "
                "to start over")
        return Change(f"kubeadm reset -f, then kubeadm init again: {state.why('initialized')}",
                      ["kubeadm reset -f"] + init, plan=state)

    def action(sctx, change):
        r, cfg = sctx.remote, init_files(ctx, host)
        state = change.plan
        if state.kind == "half":
            redo(ctx, sctx, host, state, "initialized", "initializing again")
        for f in (cfg["ca.crt"], cfg["ca.key"]):
            r.put(f.path, f.content, mode=f.mode)
        r.put(INIT_CONFIG, cfg["init"].current(ctx.material.secrets), mode=cfg["init"].mode)
        try:
            res = r.run(f"kubeadm init --config {q(INIT_CONFIG)} --upload-certs", timeout=900,
                        why="kubeadm init failed - fix the cause, then `provisioner reset --limit "
                            f"{host.hostname}` and re-run")
        finally:
            r.run(f"rm -f {q(INIT_CONFIG)}", check=False)
        printed = set(re.findall(r"sha256:[0-9a-f]{64}", res.stdout))
        if printed and ctx.secrets.ca_cert_hash not in printed:
            raise ProvisionerError(f"{host.hostname}: kubeadm init printed a CA hash that is not ours - "
                                   "joins would be refused; check /etc/kubernetes/pki on the host")
        with ctx.lock:
            ctx.material.issued(time.time(), "token_issued_at", "certs_uploaded_at")

    probe = init_probe(host.hostname, str(host.address))
    return FuncStep("kubeadm init", probe, needed, action,
                    identity=f"init {ours} {_sha(init_files(ctx, host)['init-shape'])}",
                    writes=(CA, CA_KEY, INIT_CONFIG))


def init_files(ctx: UpContext, host) -> dict:
    init = ctx.file(host, INIT_CONFIG)
    # The journal must not re-run init because a token rotated: hash the config without secrets.
    shape = init.content
    for value in ctx.secrets.values():
        shape = shape.replace(value, "")
    return {"ca.crt": ctx.file(host, CA), "ca.key": ctx.file(host, CA_KEY), "init": init,
            "init-shape": re.sub(r'(token|certificateKey): ".*"', r"\1", shape)}


def fetch_admin_step(ctx: UpContext) -> FuncStep:
    local = local_kubeconfig(ctx)

    def needed(fact):
        remote_sha = (fact.output.split() or [""])[0] if fact and fact.rc == 0 else ""    # "HASH  -"
        if local.exists() and remote_sha and _sha(local.read_bytes()) == remote_sha:
            return None
        return Change(f"fetch {ADMIN_CONF} to {local} (0600)")

    def action(sctx, change):
        write_private(local, sctx.remote.fetch(ADMIN_CONF).decode())

    return FuncStep("fetch admin kubeconfig", f"sha256sum < {ADMIN_CONF}", needed, action,
                    identity=f"fetch admin.conf to {local}")


def user_kubeconfig_step(user: str) -> CommandStep:
    home = "/root" if user == "root" else f"$(getent passwd {q(user)} | cut -d: -f6)"
    dest = f"{home}/.kube/config"
    # The probe finds the home with bash's own ~user (getpwnam, as getent does) instead of a $(getent | cut)
    # subshell: it runs in every `up`. ``user`` is a validated POSIX login name (inventory UserName).
    found = "/root/.kube/config" if user == "root" else f"~{user}/.kube/config"
    return CommandStep(f"kubeconfig for {user}", f"cmp -s {ADMIN_CONF} {found}",
                       f"install -D -m 0600 -o {q(user)} -g \"$(id -gn {q(user)})\" {ADMIN_CONF} \"{dest}\"",
                       writes=(found,))


def api_healthy(host) -> str:
    return f"curl -fsS --max-time 3 --cacert {CA} https://{host.address}:6443/healthz >/dev/null"


def endpoint(inv, host) -> str:
    return f"{inv.control_plane_endpoint.address or host.address}:{inv.api_port}"


def endpoint_healthy(inv, host) -> str:
    return f"curl -fsS --max-time 3 --cacert {CA} https://{endpoint(inv, host)}/healthz >/dev/null"


def steps(ctx: UpContext, host) -> list:
    return [
        init_step(ctx, host),
        AbsentStep(INIT_CONFIG),          # never leave the token and certificate key lying on the host
        # init's probe is "done" only when this API answers /healthz: wait for it only after init ran.
        WaitStep(f"API on {host.hostname} healthy", api_healthy(host), timeout=180, only_after_change=True),
        # kubectl and every join use the endpoint: wait until the load balancer marks the API up too.
        WaitStep(f"API answers through {endpoint(ctx.inv, host)}", endpoint_healthy(ctx.inv, host), timeout=120),
        fetch_admin_step(ctx),
        user_kubeconfig_step(ctx.login(host)),
    ]


PHASE = Phase("init", "kubeadm init on the first control plane", lambda inv: [inv.first_control_plane], steps)
