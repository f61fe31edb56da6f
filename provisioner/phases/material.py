"""Join material (bootstrap token, uploaded control-plane certificates) kept valid for later joins.

>>> ensure_fresh(ctx, control_plane=True)      # before a join; rotates only what expired  # doctest: +SKIP

The token expires after the inventory's ``token_ttl``; the certificates that
``kubeadm init --upload-certs`` stores expire after two hours. When a join
comes later than that (a re-run, a new node), a fresh token or certificate
key is generated into the state store and registered on the first control
plane with ``kubeadm init phase bootstrap-token|upload-certs --config``: the
secrets travel in a 0600 config file, never on a command line.
"""

from __future__ import annotations

import re
import time

from provisioner.phases.base import UpContext, q
from provisioner.render import INIT_CONFIG
from provisioner.secrets import new_bootstrap_token, new_certificate_key

CERTS_LIFETIME = 2 * 3600
MARGIN = 10 * 60


def go_seconds(duration: str) -> int:
    """``24h0m0s`` -> 86400; 0 (never expires) for ``0``/``0s``."""
    units = {"h": 3600, "m": 60, "s": 1}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([hms])", duration))


def init_config(ctx: UpContext) -> str:
    """The first control plane's desired init config, with the token and certificate key as renewed now."""
    return ctx.file(ctx.inv.first_control_plane, INIT_CONFIG).current(ctx.material.secrets)


def run_init_phase(ctx: UpContext, phase_args: str) -> None:
    """Run ``kubeadm init phase ... --config`` on the first control plane with a transient 0600 config."""
    remote = ctx.remotes[ctx.inv.first_control_plane.hostname]
    remote.put(INIT_CONFIG, init_config(ctx), mode=0o600)
    try:
        remote.run(f"kubeadm init phase {phase_args} --config {q(INIT_CONFIG)}",
                   why=f"kubeadm init phase {phase_args.split()[0]} failed on the first control plane")
    finally:
        remote.run(f"rm -f {q(INIT_CONFIG)}", check=False)


def _expired(issued_at: float | None, lifetime: int, now: float) -> bool:
    return issued_at is None or now - issued_at > lifetime - MARGIN


def _renew(ctx: UpContext, secret: str, value: str, phase_args: str, stamp: str, now: float) -> None:
    """Record a new secret value (saved first), register it on the first control plane, record when."""
    ctx.material.renewed(secret, value)
    run_init_phase(ctx, phase_args)
    ctx.material.issued(now, stamp)


def ensure_fresh(ctx: UpContext, control_plane: bool) -> list[str]:
    """Rotate what has expired (or will within 10 minutes); return what was renewed."""
    renewed = []
    with ctx.lock:
        now, st = time.time(), ctx.material.state
        ttl = go_seconds(ctx.inv.token_ttl)
        if ttl and _expired(st.token_issued_at, ttl, now):
            _renew(ctx, "bootstrap_token", new_bootstrap_token(), "bootstrap-token", "token_issued_at", now)
            renewed.append("bootstrap token")
        if control_plane and _expired(st.certs_uploaded_at, CERTS_LIFETIME, now):
            _renew(ctx, "certificate_key", new_certificate_key(), "upload-certs --upload-certs",
                   "certs_uploaded_at", now)
            renewed.append("certificate key")
    return renewed
