"""The reboot demo on real VMs: preflight reads a real kernel, `up` fixes it, and it all
survives `systemctl reboot`.

    sudo .venv/bin/python -m tests.lab demo --vm [--keep]

Boots the VM lab (tests/lab/vm.py: cp1 control plane in colocated mode with keepalived +
haproxy, w1 worker), then: `provisioner preflight` on the fresh VMs (swap on, overlay and
br_netfilter not loaded but loadable), `provisioner up`, a reboot of every VM, the checks of
``after_reboot``, `provisioner verify` and a further `up` that must change nothing. Output and
state go to ./demo-vm/ (inventory, state, JSON reports, report.json listing every check).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.lab_inventory import colocated_inventory

from .config import REPO_ROOT
from .fixtures import session_lock
from .vm import VM_VIP, VmLab

SERVICES = {"control-plane": ("chrony", "keepalived", "haproxy", "docker", "cri-docker", "kubelet"),
            "worker": ("chrony", "docker", "cri-docker", "kubelet")}
SYSCTLS = ("net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables", "net.ipv4.ip_forward")


@dataclass
class Checks:
    """What was checked, in order: (what, ok, detail)."""

    items: list[tuple[str, bool, str]] = field(default_factory=list)

    def add(self, what: str, ok: bool, detail: str = "") -> bool:
        self.items.append((what, bool(ok), detail))
        print(f"  [{'ok' if ok else 'FAIL'}] {what}" + (f": {detail}" if detail else ""), flush=True)
        return bool(ok)

    @property
    def ok(self) -> bool:
        return bool(self.items) and all(ok for _, ok, _ in self.items)

    def failed(self) -> list[str]:
        return [f"{w}: {d}" for w, ok, d in self.items if not ok]


def vm_inventory(lab: VmLab, directory: Path) -> Path:
    """inventories/lab.yaml moved onto the VM lab's /28: colocated load balancing, its mirrors/NTP."""
    return colocated_inventory(directory, cluster="vmlab", vip=lab.vip, host_address=lab.bridge_address,
                               network=lab.network, registry="172.31.250.171", key=lab.key_path,
                               hosts=[{"hostname": n.hostname, "address": n.address, "roles": list(n.roles)}
                                      for n in lab.nodes.values()])


def provisioner(*args: str) -> int:
    print("$ provisioner " + " ".join(args), flush=True)
    return subprocess.call([sys.executable, "-m", "provisioner", *args], cwd=REPO_ROOT)


def fresh_facts(report: dict, checks: Checks) -> None:
    """preflight on fresh VMs saw the real kernel: swap on, the two modules loadable, not loaded."""
    for h in report["hosts"]:
        by_id = {c["id"]: c for c in h["checks"]}
        # Found, not passed: `up` fixes these (prep), so preflight warns rather than fails.
        for cid, what, needle in (("swap.active", "swap on", "/swapfile"),
                                  ("swap.persistent", "swap in fstab", "fstab: /swapfile"),
                                  ("kernel.sysctl", "no bridge sysctls (br_netfilter not loaded)",
                                   "net.bridge.bridge-nf-call-iptables=missing")):
            c = by_id.get(cid, {})
            checks.add(f"{h['host']}: preflight sees {what}", c.get("status") in ("warn", "fail")
                       and needle in c.get("observed", ""), c.get("observed", f"no {cid} check"))
        mods = by_id.get("kernel.modules", {}).get("observed", "")
        checks.add(f"{h['host']}: preflight sees overlay and br_netfilter loadable, not loaded",
                   mods == "overlay loadable, br_netfilter loadable", mods)


def after_reboot(lab: VmLab, checks: Checks) -> None:
    """Swap, modules, sysctls, services, VIP: read over the lab's own SSH on every VM."""
    for n in lab.nodes.values():
        role = "control-plane" if "control-plane" in n.roles else "worker"
        swaps = n.exec(["cat", "/proc/swaps"]).stdout.splitlines()[1:]
        checks.add(f"{n.hostname}: swap off", not swaps, "; ".join(swaps) or "/proc/swaps empty")
        for m in ("br_netfilter", "overlay"):
            loaded = n.exec(["test", "-d", f"/sys/module/{m}"], check=False).returncode == 0
            checks.add(f"{n.hostname}: {m} loaded", loaded)
        values = n.exec(["sysctl", *SYSCTLS]).stdout.strip().replace("\n", ", ")
        checks.add(f"{n.hostname}: sysctls in force", all(f"{k} = 1" in values for k in SYSCTLS), values)
        for unit in SERVICES[role]:
            state = n.exec(["systemctl", "is-active", unit], check=False).stdout.strip()
            checks.add(f"{n.hostname}: {unit} active", state == "active", state)
    holders = [n.hostname for n in lab.nodes.values()
               if f" {lab.vip}/" in n.exec(["ip", "-4", "-o", "addr", "show", "dev", "eth0"]).stdout]
    checks.add(f"VIP {lab.vip} held", len(holders) == 1, ", ".join(holders) or "nobody")


def demo_vm(keep: bool = False, directory: Path = REPO_ROOT / "demo-vm") -> int:
    t0 = time.monotonic()
    directory.mkdir(exist_ok=True)
    lab = VmLab(vip=VM_VIP)
    checks = Checks()
    timings: dict[str, float] = {}
    memory: dict[str, int] = {}
    with session_lock(lab.name):
        try:
            t = time.monotonic()
            lab.up()
            timings["boot"] = time.monotonic() - t
            inv = vm_inventory(lab, directory)
            state = directory / "state"
            if state.exists():
                shutil.rmtree(state)          # a new lab: new machines, new cluster state
            common = ["-i", str(inv), "--known-hosts", str(lab.known_hosts_path), "--state-dir", str(state)]
            pre = directory / "preflight.json"
            provisioner("preflight", *common, "--format", "json", "-o", str(pre))
            fresh_facts(json.loads(pre.read_text()), checks)
            t = time.monotonic()
            rc = provisioner("up", *common, "--json", str(directory / "up.json"))
            timings["up"] = time.monotonic() - t
            checks.add("provisioner up", rc == 0, f"exit {rc}")
            if rc == 0:
                t = time.monotonic()
                for host, s in lab.reboot_all().items():
                    checks.add(f"{host}: rebooted (new boot_id, sshd and systemd up)", True, f"{s:.0f}s")
                timings["reboot"] = time.monotonic() - t
                after_reboot(lab, checks)
                memory = {n.hostname: round(n.memory_mb()) for n in lab.nodes.values()}
                print(f"QEMU resident memory after the reboot: {memory} MB", flush=True)
                rc = provisioner("verify", *common, "--json", str(directory / "verify.json"))
                checks.add("provisioner verify: nodes Ready, API through the VIP", rc == 0, f"exit {rc}")
                again = directory / "up-again.json"
                rc = provisioner("up", *common, "--json", str(again))
                changed = json.loads(again.read_text())["changed"] if again.exists() else None
                checks.add("a further up reports 0 changed", rc == 0 and changed == 0,
                           f"exit {rc}, changed {changed}")
            timings["total"] = time.monotonic() - t0
            report = {"ok": checks.ok, "accel": lab.accel, "timings": {k: round(v, 1) for k, v in timings.items()},
                      "qemu_rss_mb": memory,
                      "checks": [{"what": w, "ok": ok, "detail": d} for w, ok, d in checks.items]}
            (directory / "report.json").write_text(json.dumps(report, indent=1) + "\n")
            print(f"\nVM demo ({lab.accel}): {sum(ok for _, ok, _ in checks.items)}/{len(checks.items)} checks "
                  f"passed in {timings['total']:.0f}s ({', '.join(f'{k} {v:.0f}s' for k, v in timings.items())}); "
                  f"report {directory}/report.json")
            if keep:
                print("lab kept: `python -m tests.lab ssh --name vm cp1`, `python -m tests.lab down --name vm`")
            return 0 if checks.ok else 1
        finally:
            if not keep:
                lab.down()
