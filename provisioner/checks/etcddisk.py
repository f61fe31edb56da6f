"""etcd's disk on control planes: how long a small synchronous write takes.

etcd fdatasyncs its WAL on every commit; a disk slower than ~10 ms per sync makes heartbeats late and
leaders change (etcd docs, "Hardware recommendations"; kubekey's precheck runs fio and bounds the 99th
percentile of fdatasync at 10 ms). A cheap, bounded stand-in for fio: one ``dd`` of 20 writes of 2300 bytes
(etcd's typical WAL entry, the block size of the fio job etcd's docs give) with ``oflag=dsync`` - each write
waits for the disk - to a temporary file removed at once, in /var/lib (or in /var/lib/etcd when that is its
own mount, never inside an etcd data dir that is not). dd reports the total: the mean write latency, which
never exceeds the 99th percentile, so a mean over the bound is a sure failure of kubekey's check.
"""

from __future__ import annotations

import re

from provisioner.checks.base import WARN, ControlPlaneCheck

WRITES, BLOCK = 20, 2300
BOUND_MS = 10.0

FSYNC_PROBE = ("_d=/var/lib; mountpoint -q /var/lib/etcd 2>/dev/null && _d=/var/lib/etcd; "
               "_t=$(mktemp -p $_d .provisioner-fsync.XXXXXX) && { "
               f"LC_ALL=C dd if=/dev/zero of=\"$_t\" bs={BLOCK} count={WRITES} oflag=dsync 2>&1 | "
               "{ _l=; while read -r _x; do _l=$_x; done; echo \"$_d $_l\"; }; rm -f \"$_t\"; }; true")


class EtcdDiskLatency(ControlPlaneCheck):
    id, title = "etcd.disk_sync", f"etcd's disk syncs a small write within {BOUND_MS:g} ms"
    severity = WARN         # slow disks cost leader elections, not the install
    reference = "kubekey"
    reads = ("/var/lib/etcd",)
    facts = {"etcd.disk_sync": FSYNC_PROBE}

    def evaluate(self, f, node):
        text = f.text(self.id)
        m = re.search(r"^(\S+) .*copied, ([\d.]+) s", text)
        if not m:
            return self.failed(f"no measurement ({text[:60] or 'nothing'})", f"<= {BOUND_MS:g} ms per sync",
                               "check that /var/lib is writable by root and dd supports oflag=dsync")
        ms = float(m.group(2)) * 1000 / WRITES
        observed = f"{ms:.2f} ms per synced {BLOCK}-byte write on {m.group(1)} (mean of {WRITES})"
        if ms <= BOUND_MS:
            return self.passed(observed, f"<= {BOUND_MS:g} ms")
        return self.failed(observed, f"<= {BOUND_MS:g} ms",
                           "put /var/lib/etcd on an SSD/NVMe volume of its own (etcd syncs every commit)")
