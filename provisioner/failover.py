"""``provisioner verify --failover``: stop keepalived on the VIP holder, time how long the API takes
to answer through the VIP again, then restore.

>>> measure_failover(inv, state_dir, keys)          # doctest: +SKIP
{'holder': 'ha1', 'new_holder': 'ha2', 'seconds': 1.07, 'probe': 'this machine', 'restored': True}

The probe is an HTTPS GET of /healthz on VIP:port verified against the
cluster CA, every 50 ms, from this machine when it reaches the VIP, else
from a control plane over SSH (then the figure includes no SSH latency: the
loop runs on that host).
"""

from __future__ import annotations

import http.client
import shlex
import ssl
import tempfile
import time
from pathlib import Path

from provisioner.session import Session
from provisioner.errors import ProvisionerError, UsageError
from provisioner.inventory import Inventory
from provisioner.runlog import RunLog
from provisioner.secrets import SecretStore
from provisioner.transport import HostKeys, Ssh

INTERVAL = 0.05


def local_probe(vip: str, port: int, cafile: str):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False          # verified against the CA; the name is an address here

    def probe() -> bool:
        try:
            conn = http.client.HTTPSConnection(vip, port, context=ctx, timeout=0.5)
            conn.request("GET", "/healthz")
            ok = conn.getresponse().status == 200
            conn.close()
            return ok
        except (OSError, ssl.SSLError, http.client.HTTPException):
            return False
    return probe


def holder_of(session: Session, inv: Inventory) -> str | None:
    for lb in inv.load_balancers:
        remote = session.remotes.get(lb.hostname)
        if remote and remote.run(f"ip -o -4 addr show | grep -qw {shlex.quote(str(inv.vip))}", check=False,
                                 quiet=True).ok:
            return lb.hostname
    return None


def wait(condition, timeout: float) -> float | None:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if condition():
            return time.monotonic() - start
        time.sleep(INTERVAL)
    return None


def measure_failover(inv: Inventory, state_dir: Path, keys: Ssh | HostKeys, timeout: float = 60) -> dict:
    if len(inv.load_balancers) < 2 or not inv.vip:
        raise UsageError("verify --failover: needs two load balancers and a VIP (load_balancer.mode pair or colocated)")
    secrets = SecretStore(state_dir).load()
    if secrets is None:
        raise ProvisionerError(f"{state_dir}: no cluster secrets - run `provisioner up` first")
    log = RunLog.create(state_dir, "failover", lambda s: s)
    names = [h.hostname for h in inv.load_balancers] + [inv.first_control_plane.hostname]
    session = Session(inv, keys, log, lambda s: s, 10, 8)
    with tempfile.NamedTemporaryFile("w", suffix=".crt") as ca:
        ca.write(secrets.ca_cert_pem)
        ca.flush()
        holder = new_holder = seconds = None
        where, restored = "", False
        vip, port = str(inv.vip), int(inv.api_port)
        try:
            session.open(sorted(set(names)))
            probe, where = local_probe(vip, port, ca.name), "this machine"
            if not probe():
                probe, where = None, inv.first_control_plane.hostname
            holder = holder_of(session, inv)
            if holder is None:
                raise ProvisionerError(f"no load balancer holds {vip} - is keepalived running? (`provisioner up --only lb`)")
            remote = session.remotes[holder]
            if probe is None:
                # Loop on a control plane, starting right before the stop; it prints milliseconds.
                cp = session.remotes[inv.first_control_plane.hostname]
                url = f"https://{vip}:{port}/healthz"
                loop = (f"s=$(date +%s%N); until curl -fsS --max-time 0.5 --cacert /etc/kubernetes/pki/ca.crt "
                        f"{shlex.quote(url)} >/dev/null 2>&1; do sleep {INTERVAL}; "
                        f"[ $(( ($(date +%s%N) - s) / 1000000000 )) -ge {int(timeout)} ] && exit 124; done; "
                        "echo $(( ($(date +%s%N) - s) / 1000000 ))")
                remote.run("systemctl stop keepalived", why="could not stop keepalived")
                res = cp.run(loop, check=False)
                seconds = int(res.stdout.strip()) / 1000 if res.ok and res.stdout.strip().isdigit() else None
            else:
                start = time.monotonic()
                remote.run("systemctl stop keepalived", why="could not stop keepalived")
                back = wait(probe, timeout)
                seconds = None if back is None else time.monotonic() - start
            new_holder = holder_of(session, inv)
        finally:
            try:
                if holder and holder in session.remotes:
                    session.remotes[holder].run("systemctl start keepalived", check=False)
                    # The MASTER has the higher priority: it takes the VIP back (preemption).
                    restored = wait(lambda: holder_of(session, inv) == holder, timeout) is not None
            finally:
                session.close()
                log.close()
    return {"vip": vip, "port": port, "holder": holder, "new_holder": new_holder, "seconds": seconds,
            "probe": where, "restored": restored}
