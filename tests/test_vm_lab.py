"""The VM lab's reboot demo (tests/lab/vmdemo.py) as a lab test, so CI runs it: real QEMU VMs
with Debian's cloud kernel; `preflight` on fresh VMs reads the real kernel (swap on and in fstab, bridge sysctls missing, overlay
and br_netfilter loadable, not loaded), `up` fixes it, every VM reboots, and swap, modules,
sysctls, services, the VIP, node readiness and a no-op `up` are checked after the reboot.
About 8 minutes under TCG (see tests/lab/README.md, "VM nodes")."""

from __future__ import annotations

import json
import shutil

from tests.lab.fixtures import require_lab, skip_or_fail


def test_vm_cluster_survives_reboot(tmp_path):
    require_lab()
    missing = [b for b in ("qemu-system-x86_64", "qemu-img", "busybox") if not shutil.which(b)]
    if missing:
        skip_or_fail(f"VM lab needs {', '.join(missing)} (apt-get install qemu-system-x86 qemu-utils busybox-static)")
    from tests.lab.vmdemo import demo_vm

    rc = demo_vm(directory=tmp_path)
    report = json.loads((tmp_path / "report.json").read_text())
    failed = [f"{c['what']}: {c['detail']}" for c in report["checks"] if not c["ok"]]
    assert rc == 0 and not failed, failed
    checked = {c["what"] for c in report["checks"]}
    for what in ("cp1: preflight sees swap on", "w1: preflight sees overlay and br_netfilter loadable, not loaded",
                 "provisioner up", "cp1: rebooted (new boot_id, sshd and systemd up)", "w1: swap off",
                 "w1: br_netfilter loaded", "cp1: overlay loaded", "cp1: sysctls in force",
                 "cp1: keepalived active", "cp1: haproxy active", "w1: kubelet active", "w1: cri-docker active",
                 "VIP 172.31.250.170 held", "provisioner verify: nodes Ready, API through the VIP",
                 "a further up reports 0 changed"):
        assert what in checked, f"not checked: {what}"
