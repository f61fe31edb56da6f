"""``provisioner certs``: certificate expiry on every control plane, and renewal.

>>> certs_command(Path("inventories/lab.yaml"))                 # doctest: +SKIP
HOST     CERTIFICATE  EXPIRES               DAYS LEFT  CA
master1  admin.conf   2027-12-04T10:00:00Z  364        ca
...

Check: ``kubeadm certs check-expiration`` on each control plane, parsed
(:mod:`provisioner.daytwo.expiration`) into one table (or ``--json``); a
certificate with fewer than 30 days left is a warning on stderr.

Renew, ONE control plane at a time (the others keep serving): ``kubeadm
certs renew all``; then its static pods restart - the manifests of etcd,
kube-apiserver, kube-controller-manager and kube-scheduler move out of
/etc/kubernetes/manifests until the kubelet has stopped their containers
(``crictl ps``), and back (kubernetes.io "Certificate Management with
kubeadm": no component reloads every certificate by itself); then we wait
until the node's API server answers ``/readyz`` with the renewed serving
certificate before the next control plane. A run stopped half-way moves the
held manifests back first. Last, the admin kubeconfig kept in the state dir
(0600) and the SSH user's ~/.kube/config copy are refreshed from the first
control plane, and the expiry is checked again.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from provisioner.compat import CRI_SOCKET
from provisioner.daytwo.expiration import WARN_DAYS, CertRow, ParseError, parse_check_expiration, table
from provisioner.daytwo.hosts import PKI, ControlPlanes, control_planes
from provisioner.remote import Remote, StepFailed
from provisioner.secrets import write_private
from provisioner.transport import HostKeys, Ssh, quote

CHECK = "kubeadm certs check-expiration"
RENEW = "kubeadm certs renew all"
MANIFESTS = "/etc/kubernetes/manifests"
HELD = "/etc/kubernetes/manifests.provisioner-restart"    # same file system: mv is a rename
STATIC_PODS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
ADMIN_CONF = "/etc/kubernetes/admin.conf"
RESTART_SECONDS = 180      # the kubelet looks at the manifests every 20 s (fileCheckFrequency)
API_SECONDS = 180


def restart_script() -> str:
    """Stop and start the static pods of this node; idempotent (held manifests go back first)."""
    pods = "|".join(STATIC_PODS)
    crictl = f"crictl --runtime-endpoint {quote(CRI_SOCKET)} ps -q --name {quote(f'^({pods})$')}"
    return "\n".join([
        "set -e",
        f"if [ -d {HELD} ]; then mv -f {HELD}/*.yaml {MANIFESTS}/ 2>/dev/null || true; rmdir {HELD}; fi",
        f"install -d -m 0700 {HELD}",
        *(f"if [ -e {MANIFESTS}/{p}.yaml ]; then mv {MANIFESTS}/{p}.yaml {HELD}/; fi" for p in STATIC_PODS),
        f"deadline=$((SECONDS + {RESTART_SECONDS})); stopped=1",
        f"until running=$({crictl}) && [ -z \"$running\" ]; do",      # crictl failing is not "stopped"
        "  if [ $SECONDS -ge $deadline ]; then stopped=0; break; fi",
        "  sleep 1",
        "done",
        # back in any case: a node is never left without its control plane
        f"mv -f {HELD}/*.yaml {MANIFESTS}/ && rmdir {HELD}",
        "if [ $stopped = 0 ]; then echo 'the kubelet did not stop the control-plane pods in time' >&2; exit 1; fi",
    ])


def api_wait_script(address: str) -> str:
    """Until the API server on ``address`` answers /readyz with the certificate now in apiserver.crt."""
    url = quote(f"https://{address}:6443/readyz")
    served = (f"openssl s_client -connect {quote(f'{address}:6443')} </dev/null 2>/dev/null "
              "| openssl x509 -noout -enddate 2>/dev/null")
    on_disk = f"openssl x509 -noout -enddate -in {PKI}/apiserver.crt"
    return "\n".join([
        f"deadline=$((SECONDS + {API_SECONDS}))",
        f"until curl -fsS --max-time 3 --cacert {PKI}/ca.crt {url} >/dev/null 2>&1 "
        f"&& [ \"$({served})\" = \"$({on_disk})\" ]; do",
        "  if [ $SECONDS -ge $deadline ]; then echo 'the API server did not come back with the renewed "
        "certificate' >&2; exit 1; fi",
        "  sleep 1",
        "done",
    ])


def check(cps: ControlPlanes) -> tuple[list[CertRow], dict[str, str]]:
    """Rows of every reachable control plane, and host -> why it could not be checked."""
    rows: list[CertRow] = []
    failed: dict[str, str] = {}
    for name in cps.reachable():
        res = cps.remotes[name].run(CHECK, check=False, timeout=120)
        if not res.ok:
            failed[name] = f"{CHECK} failed (exit {res.rc}): {(res.tail().splitlines() or [''])[-1]}"
            continue
        try:
            rows += parse_check_expiration(res.stdout, name)
        except ParseError as exc:
            failed[name] = str(exc)
    return rows, failed


def expiry_warnings(remote: Remote, warn_days: int = WARN_DAYS) -> list[str]:
    """One control plane's certificate warnings, for ``verify``/``preflight`` on a built cluster: lines like
    "master1: apiserver expires in 9 days (...), under 30"; the failure itself when the check fails."""
    res = remote.run(CHECK, check=False, timeout=120, quiet=True)
    if not res.ok:
        return [f"{remote.name}: {CHECK} failed (exit {res.rc})"]
    try:
        return [w for w in (r.warning(warn_days) for r in parse_check_expiration(res.stdout, remote.name)) if w]
    except ParseError as exc:
        return [str(exc)]


def certificate_warnings(inv_path: Path, state_dir: Path, keys: Ssh | HostKeys, timeout: float = 10) -> list[str]:
    """Every control plane's certificate warnings (``verify`` after its checks); an unreachable one says so."""
    out: list[str] = []
    with control_planes(inv_path, state_dir, keys, "verify-certs", timeout) as cps:
        out += [f"{host}: certificates not read: {why}" for host, why in cps.unreachable.items()]
        for name in cps.reachable():
            out += expiry_warnings(cps.remotes[name])
    return out


def renew_one(remote: Remote, address: str) -> None:
    remote.run(RENEW, why="kubeadm certs renew all failed", timeout=300)
    remote.run(restart_script(), why="restarting the control-plane static pods failed", timeout=RESTART_SECONDS + 60)
    remote.run(api_wait_script(address), why="the API server did not come back", timeout=API_SECONDS + 30)


def refresh_kubeconfigs(cps: ControlPlanes) -> Path | None:
    """The state dir's admin.conf (0600) from the first control plane; the SSH user's copy on each node."""
    first = cps.inv.first_control_plane.hostname
    for name in cps.reachable():
        user = cps.inv.host(name).ssh.user or "root"
        copy = "/root/.kube/config" if user == "root" else f"~{user}/.kube/config"
        cps.remotes[name].run(f"if [ -e {copy} ] && ! cmp -s {ADMIN_CONF} {copy}; then "
                              f"install -m 0600 -o {quote(user)} -g \"$(id -gn {quote(user)})\" {ADMIN_CONF} {copy}; fi",
                              why="refreshing the user's kubeconfig failed")
    if first not in cps.remotes:
        return None
    local = cps.state_dir / "admin.conf"
    write_private(local, cps.remotes[first].fetch(ADMIN_CONF).decode())
    return local


def certs_command(inv_path: Path, renew: bool = False, as_json: bool = False, *, state_dir: Path | None = None,
                  keys: Ssh | HostKeys | None = None, warn_days: int = WARN_DAYS, timeout: float = 10) -> int:
    """Check (and with ``renew`` renew) the certificates of every control plane; the exit code:
    0 fine (warnings allowed), 1 a check or renewal failed or a certificate has expired,
    3 a control plane was unreachable."""
    report: dict = {"renewed": [], "errors": {}}
    with control_planes(inv_path, state_dir, keys, "certs-renew" if renew else "certs", timeout) as cps:
        report["unreachable"] = cps.unreachable
        if renew and cps.unreachable:
            report["errors"]["renew"] = ("not renewing: every control plane must be reachable (one at a time, each "
                                         "restarted while the others serve)")
        elif renew:
            from provisioner.state import StateLock

            with StateLock(cps.state_dir, "certs --renew"):
                for name in cps.names:
                    try:
                        renew_one(cps.remotes[name], str(cps.inv.host(name).address))
                    except StepFailed as exc:
                        report["errors"][name] = f"{exc.why} (exit {exc.rc}): {(exc.tail.splitlines() or [''])[-1]}"
                        break
                    report["renewed"].append(name)
                    print(f"{name}: certificates renewed, control-plane pods restarted, API back", file=sys.stderr)
                if len(report["renewed"]) == len(cps.names):
                    local = refresh_kubeconfigs(cps)
                    report["kubeconfig"] = str(local) if local else None
        rows, failed = check(cps)
    report["errors"].update(failed)
    warnings = [w for w in (r.warning(warn_days) for r in rows) if w]
    report["certificates"] = [r.as_dict() for r in rows]
    report["warnings"] = warnings
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        print(table(rows, warn_days))
        if report.get("kubeconfig"):
            print(f"admin kubeconfig refreshed: {report['kubeconfig']}", file=sys.stderr)
    for w in warnings:
        print(f"warning: {w} - renew with `provisioner certs --renew`", file=sys.stderr)
    for host, why in {**report["unreachable"], **report["errors"]}.items():
        print(f"{host}: {why}", file=sys.stderr)
    if report["unreachable"]:
        return 3
    expired = any(r.days_left is not None and r.days_left < 0 for r in rows)
    return 1 if report["errors"] or expired else 0
