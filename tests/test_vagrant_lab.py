"""The Vagrantfile `provisioner vagrantfile` renders, booted with vagrant-libvirt and provisioned
(issue #25 point 3): a locally built box (tests/lab/vagrant.py, no download), libvirtd/virtlogd
started and stopped here, both libvirt networks isolated (no NAT, ip_forward stays 0), one control
plane + one worker with colocated load balancing, `vagrant up --provider libvirt` (QEMU/TCG), then
`provisioner preflight`, `provisioner up` and a second `up` that changes nothing, `vagrant destroy -f`.

About 7.5 minutes under TCG: run with LAB_VAGRANT=1 (see tests/lab/README.md, "Booting the generated Vagrantfile").
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.lab.config import REPO_ROOT
from tests.lab.fixtures import require_lab, session_lock, skip_or_fail
from tests.support.lab_inventory import colocated_inventory
from tests.support.skips import opt_in


HOSTS = (("cp1", "172.31.250.130", ["control-plane"]), ("w1", "172.31.250.131", ["worker"]))
VIP = "172.31.250.132"


def inventory(vl, directory: Path) -> Path:
    """inventories/lab.yaml on the private network: colocated load balancing, the lab's mirrors/NTP,
    the inventory's user (ops) given the lab key by the Vagrantfile's authorize-key step."""
    return colocated_inventory(directory, cluster="vagrantlab", vip=VIP, host_address=vl.host_address,
                               network=vl.network, registry="172.31.250.133", key=vl.lab.key_path,
                               hosts=[{"hostname": h, "address": a, "roles": r} for h, a, r in HOSTS],
                               nic="eth1")       # the private network: the box's second NIC


def provisioner(*args: str) -> tuple[int, float]:
    print("$ provisioner " + " ".join(args), flush=True)
    t = time.monotonic()
    rc = subprocess.call([sys.executable, "-m", "provisioner", *args], cwd=REPO_ROOT)
    return rc, time.monotonic() - t


def boot_and_provision(tmp_path: Path) -> None:
    t0 = time.monotonic()
    require_lab()
    missing = [b for b in ("vagrant", "virsh", "libvirtd", "virtlogd", "dnsmasq", "qemu-system-x86_64", "qemu-img")
               if not shutil.which(b)]
    if missing:
        skip_or_fail(f"needs {', '.join(missing)} (apt-get install vagrant vagrant-libvirt libvirt-daemon-system "
                     "libvirt-daemon-driver-qemu libvirt-clients dnsmasq-base qemu-system-x86 qemu-utils)")
    from tests.lab import vagrant as vlab

    timings: dict[str, float] = {}
    t = time.monotonic()
    with session_lock(vlab.NAME):
        timings["lab lock wait"] = time.monotonic() - t
        t = time.monotonic()
        box = vlab.ensure_box()
        timings["box"] = time.monotonic() - t
        with vlab.VagrantLab(box) as vl:
            timings.update(vl.timings)
            inv = inventory(vl, tmp_path)
            project = tmp_path / "project"
            project.mkdir()
            rc, _ = provisioner("vagrantfile", "-i", str(inv), "--box", vlab.BOX_NAME,
                                "-o", str(project / "Vagrantfile"))
            assert rc == 0
            try:
                r = vl.up(project)
                timings["vagrant up"] = vl.timings["vagrant-up"]
                log = (project / "vagrant.log").read_text(errors="replace")
                assert r.returncode == 0, f"vagrant up exited {r.returncode}:\n{log[-4000:]}"
                assert vlab.ip_forward() == "0"
                assert "provisioner: public key installed for ops" in log
                assert "Uploading base box image" not in log     # the volume was put in the pool
                state = tmp_path / "state"
                common = ["-i", str(inv), "--known-hosts", str(tmp_path / "known_hosts"),
                          "--state-dir", str(state)]
                rc, timings["preflight"] = provisioner("preflight", *common, "--accept-new-host-keys",
                                                       "--format", "json", "-o", str(tmp_path / "preflight.json"))
                assert rc == 0, (tmp_path / "preflight.json").read_text()[-4000:]
                rc, timings["up"] = provisioner("up", *common, "--json", str(tmp_path / "up.json"))
                assert rc == 0, f"provisioner up exited {rc}"
                again = tmp_path / "up-again.json"
                rc, timings["up again"] = provisioner("up", *common, "--json", str(again))
                assert rc == 0, f"second provisioner up exited {rc}"
                assert json.loads(again.read_text())["changed"] == 0
            finally:
                r = vl.destroy(project)
                timings["vagrant destroy"] = vl.timings.get("vagrant-destroy", 0.0)
                left = vl.domains()
                print(f"vagrant destroy exited {r.returncode}; domains left: {left}", flush=True)
                timings["total"] = time.monotonic() - t0
                print("vagrant-lab timings: " + ", ".join(f"{k} {v:.0f}s" for k, v in timings.items()), flush=True)
            assert r.returncode == 0 and not left
    assert vlab.ip_forward() == "0"


def test_generated_vagrantfile_boots_and_provisions(tmp_path):
    opt_in("LAB_VAGRANT", "about 7.5 minutes of QEMU/TCG, beyond CI's 40-minute budget")
    boot_and_provision(tmp_path)
