"""``provisioner etcd snapshot`` and ``provisioner etcd status``.

>>> etcd_snapshot_command(Path("inventories/lab.yaml"))         # doctest: +SKIP
master1: snapshot saved to ~/.local/state/provisioner/lab/snapshots/etcd-lab-20261204T221500Z.db (0600)

Both run etcdctl on a control plane (the first, in inventory order, whose etcd answers), against its
local member (https://127.0.0.1:2379) with etcd's own client certificate (/etc/kubernetes/pki/etcd/:
ca.crt, healthcheck-client.crt/.key). etcdctl is not part of kubeadm's packages: control planes need
Debian's ``etcd-client`` (or upstream's release tarball) - said in one line when it is missing.

Snapshot: ``etcdctl snapshot save`` into the run's private 0700 temp dir on the node, ``snapshot
status -w json`` there (``etcdutl snapshot status`` where etcdutl is installed: etcd 3.6 moved it),
its sha256, fetched over SFTP, the sha256 compared, written 0600 next to the destination and renamed
over it (a reader never sees half a snapshot); the node's copy is removed. Destination: ``-o FILE``,
else ``<state dir>/snapshots/etcd-<cluster>-<UTC time>.db``. Nothing is overwritten.

Status: ``member list`` and ``endpoint status --cluster`` (members, leader, DB size, version); a
member that does not answer is listed as unreachable (exit 1).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from provisioner.daytwo.etcdout import (EtcdOutputError, human_size, parse_endpoint_status, parse_member_list,
                                        parse_snapshot_status)
from provisioner.daytwo.hosts import ETCDCTL, ControlPlanes, control_planes
from provisioner.remote import StepFailed
from provisioner.transport import HostKeys, Ssh, quote

MISSING = 127
PROBE = f"command -v etcdctl >/dev/null || exit {MISSING}; {ETCDCTL} endpoint status -w json"


def status_command(path: str) -> str:
    return (f"if command -v etcdutl >/dev/null; then etcdutl snapshot status {quote(path)} -w json; "
            f"else {ETCDCTL} snapshot status {quote(path)} -w json; fi")


def healthy(cps: ControlPlanes) -> tuple[str | None, dict[str, str]]:
    """The first control plane whose local etcd answers, and why the ones before it did not."""
    why: dict[str, str] = dict(cps.unreachable)
    for name in cps.reachable():
        res = cps.remotes[name].run(PROBE, check=False, timeout=60)
        if res.ok:
            return name, why
        why[name] = ("etcdctl is not installed - install it on the control planes (Debian: apt-get install "
                     "etcd-client)" if res.rc == MISSING else
                     f"etcd does not answer (exit {res.rc}): {(res.tail().splitlines() or [''])[-1]}")
    return None, why


def write_new_private(path: Path, data: bytes) -> None:
    """``data`` to a new file ``path`` (0600): a temp file beside it, fsync, then link - never over a file."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.link(tmp, path)           # fails when path exists: nothing is overwritten
    finally:
        Path(tmp).unlink(missing_ok=True)


def _fail(why: dict[str, str], code: int = 1) -> int:
    for host, reason in why.items():
        print(f"{host}: {reason}", file=sys.stderr)
    return code


def etcd_snapshot_command(inv_path: Path, output: Path | None = None, as_json: bool = False, *,
                          state_dir: Path | None = None, keys: Ssh | HostKeys | None = None,
                          timeout: float = 10) -> int:
    """Take, check and fetch one etcd snapshot; 0 when it is saved, 1 when not, 2 when ``output`` exists."""
    if output is not None and output.exists():
        print(f"{output}: exists already - choose another -o FILE (a snapshot never overwrites a file)",
              file=sys.stderr)
        return 2
    with control_planes(inv_path, state_dir, keys, "etcd-snapshot", timeout) as cps:
        host, why = healthy(cps)
        if host is None:
            return _fail(why or {"etcd": "no control plane to take the snapshot on"})
        remote = cps.remotes[host]
        path = f"{remote.tmpdir()}/etcd-snapshot.db"
        try:
            remote.run(f"{ETCDCTL} snapshot save {quote(path)}", why="etcdctl snapshot save failed", timeout=900)
            status = parse_snapshot_status(remote.run(status_command(path), why="snapshot status failed").stdout)
            sha = remote.run(f"sha256sum {quote(path)}", why="sha256sum failed", quiet=True).stdout.split()[0]
            data = remote.fetch(path)
        except (StepFailed, EtcdOutputError) as exc:
            return _fail({host: str(exc)})
        finally:
            remote.run(f"rm -f {quote(path)} {quote(path + '.part')}", check=False, quiet=True)
        if hashlib.sha256(data).hexdigest() != sha:
            return _fail({host: f"the fetched snapshot's sha256 differs from the node's ({sha}): not saved"})
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        dest = output or cps.state_dir / "snapshots" / f"etcd-{cps.inv.cluster_name}-{stamp}.db"
        try:
            write_new_private(dest, data)
        except FileExistsError:
            return _fail({str(dest): "exists already - choose another -o FILE"}, 2)
    report = {"file": str(dest), "host": host, "sha256": sha, **status.as_dict()}
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{host}: snapshot saved to {dest} (0600)")
        print(f"  revision {status.revision}, {status.total_key} keys, {human_size(status.total_size)}, "
              f"hash {status.hash:x}, sha256 {sha}")
    return 0


def etcd_status_command(inv_path: Path, as_json: bool = False, *, state_dir: Path | None = None,
                        keys: Ssh | HostKeys | None = None, timeout: float = 10) -> int:
    """Members, leader and DB size; 0 when every member answers and there is a leader, else 1."""
    with control_planes(inv_path, state_dir, keys, "etcd-status", timeout) as cps:
        host, why = healthy(cps)
        if host is None:
            return _fail(why or {"etcd": "no control plane to ask"})
        remote = cps.remotes[host]
        try:
            members = parse_member_list(remote.run(f"{ETCDCTL} member list -w json", why="member list failed").stdout)
            res = remote.run(f"{ETCDCTL} endpoint status --cluster -w json", check=False)
            statuses = {s.member_id: s for s in parse_endpoint_status(res.stdout)}
        except (StepFailed, EtcdOutputError) as exc:
            return _fail({host: str(exc)})
    leaders = {s.leader for s in statuses.values()}
    rows = [{"name": m.name or "(not started)", "id": f"{m.id:x}", "peerURLs": list(m.peer_urls),
             "clientURLs": list(m.client_urls), "reachable": m.id in statuses,
             "leader": m.id in leaders, "dbSize": statuses[m.id].db_size if m.id in statuses else None,
             "version": statuses[m.id].version if m.id in statuses else None} for m in members]
    leader = next((r["name"] for r in rows if r["leader"]), None)
    ok = bool(leader) and all(r["reachable"] for r in rows)
    if as_json:
        print(json.dumps({"host": host, "leader": leader, "members": rows}, indent=2))
    else:
        head = ("NAME", "ID", "CLIENT URL", "LEADER", "DB SIZE", "VERSION")
        body = [(r["name"], r["id"], ",".join(r["clientURLs"]) or "-", "*" if r["leader"] else "",
                 human_size(r["dbSize"]) if r["dbSize"] is not None else "unreachable", r["version"] or "-")
                for r in rows]
        widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
        for x in [head, *body]:
            print("  ".join(c.ljust(w) for c, w in zip(x, widths)).rstrip())
    if not ok:
        print(f"etcd (asked on {host}): " + ("no leader" if not leader else "a member does not answer"),
              file=sys.stderr)
    return 0 if ok else 1
