"""Lab nodes as QEMU virtual machines: a real kernel, modules, swap, DMI and reboots.

    lab = VmLab().up()        # cp1 + w1 on 172.31.250.160/28 (bridge vmbr0, host .161)
    lab.nodes["cp1"].reboot()
    lab.down()

A VmLab is a Lab (same repo, NTP, key, known_hosts, ssh_config, ``destroy`` by name) whose
nodes are VMs: Debian's cloud kernel booted directly (``-kernel``/``-initrd``), the lab's
root filesystem as an ext4 image (a qcow2 overlay per VM), a tap on the lab bridge named like a
namespace node's veth (``NAME-hOCTET``), ``-uuid`` for the SMBIOS product_uuid and a serial
number, the serial console in ``nodes/HOST/console.log``. Boot files: tests/lab/vmimage.py.

Acceleration: KVM when a guest really boots under it here (probed once per host boot with a
bounded boot of the same kernel, cached in /run), else TCG (``-accel tcg,thread=multi``);
``LAB_VM_ACCEL=kvm|tcg`` forces one.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from . import config, rootfs, vmimage
from .lab import Lab
from .node import Node
from .util import LabError, log, run, wait_for

VM_NAME = "vm"
VM_BRIDGE_CIDR = "172.31.250.161/28"      # .160/28: clear of the default lab's .100-.109, bastions' .176/28
VM_NODES = (config.NodeSpec("cp1", "172.31.250.162", ("control-plane",)),
            config.NodeSpec("w1", "172.31.250.163", ("worker",)))
VM_VIP = "172.31.250.170"
# Workers: preflight's hw.memory_node wants 1024 MB of MemTotal (kubespray's minimum), and the kernel keeps
# part of the RAM it is given, so a 1024 MB VM reports ~980 MB.
MEMORY_MB = int(os.environ.get("LAB_VM_MEMORY", "1280"))
CONTROL_PLANE_MEMORY_MB = 2048       # kubeadm's (and preflight's hw.memory) minimum is 1700 MB
CPUS = int(os.environ.get("LAB_VM_CPUS", "2"))
BOOT_TIMEOUT = float(os.environ.get("LAB_VM_BOOT_TIMEOUT", "300"))
KVM_PROBE_TIMEOUT = 20.0
ACCEL_CACHE = Path("/run/provisioner-lab-vm-accel")
CMDLINE = "console=ttyS0 net.ifnames=0 panic=-1"


def qemu_binary() -> str:
    return "qemu-system-x86_64"


def accel(files: Path) -> str:
    """'kvm' or 'tcg': KVM only when a guest really boots under it on this machine."""
    forced = os.environ.get("LAB_VM_ACCEL")
    if forced in ("kvm", "tcg"):
        return forced
    kernel = (files / "kernel-version").read_text().strip()
    if ACCEL_CACHE.exists():
        cached_kernel, _, verdict = ACCEL_CACHE.read_text().strip().partition(" ")
        if cached_kernel == kernel and verdict in ("kvm", "tcg"):
            return verdict
    verdict = "kvm" if _kvm_boots(files) else "tcg"
    ACCEL_CACHE.write_text(f"{kernel} {verdict}\n")
    return verdict


def _kvm_boots(files: Path) -> bool:
    """Boot the kernel under KVM until the initramfs prints its first line (bounded): nested
    virtualisation here creates VMs but a 64-bit kernel hangs after decompression."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    with tempfile.TemporaryDirectory(prefix="lab-kvm-probe-") as d:
        console = Path(d) / "console.log"
        proc = subprocess.Popen(
            [qemu_binary(), "-accel", "kvm", "-m", "256", "-nodefaults", "-display", "none",
             "-no-reboot", "-kernel", str(files / "vmlinuz"), "-initrd", str(files / "initrd.img"),
             "-append", f"{CMDLINE} lab.probe", "-serial", f"file:{console}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_for(lambda: b"lab-initramfs: up" in console.read_bytes() or proc.poll() is not None,
                     timeout=KVM_PROBE_TIMEOUT, interval=0.2, what="a guest under KVM")
            ok = b"lab-initramfs: up" in console.read_bytes()
        except LabError:
            ok = False
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    print(f"lab: KVM probe: {'a guest boots under KVM' if ok else 'no guest boots under KVM in %.0fs: using TCG' % KVM_PROBE_TIMEOUT}")
    return ok


class VmNode(Node):
    """A lab node that is a QEMU VM (see the module docstring)."""

    def __init__(self, lab, spec):
        super().__init__(lab, spec)
        self.disk = self.dir / "disk.qcow2"
        self.initrd = self.dir / "initrd.img"
        self.memory = max(MEMORY_MB, CONTROL_PLANE_MEMORY_MB) if "control-plane" in self.roles else MEMORY_MB

    @property
    def console(self) -> Path:
        """The serial console, appended across boots by the guest."""
        return self.dir / "console.log"

    @property
    def host_key_path(self) -> Path:
        return self.dir / "ssh_host_ed25519_key"

    @property
    def product_uuid_path(self) -> Path:
        """Host copy of the UUID given to QEMU (-uuid): the guest's SMBIOS product_uuid."""
        return self.dir / "product_uuid"

    @property
    def pidfile(self) -> Path:
        return self.dir / "qemu.pid"

    def prepare(self, lower: Path) -> None:
        """Tap on the bridge and (first time) disk overlay, identity and per-node initramfs."""
        self.dir.mkdir(parents=True, exist_ok=True)
        bridge = self.lab.bridge
        run(["ip", "tuntap", "add", "dev", self.veth, "mode", "tap"])
        run(["ip", "link", "set", self.veth, "master", bridge, "up"])
        if not self.disk.exists():
            files = self.lab.vm_files
            run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(files / "root.img"),
                 "-F", "raw", str(self.disk)])
            self.product_uuid_path.write_text(str(uuid.uuid4()) + "\n")
            self._write_initrd(lower, files)

    def _write_initrd(self, lower: Path, files: Path) -> None:
        """The shared initramfs + a cpio of this node's identity (copied in on first boot)."""
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{self.hostname}",
             "-f", str(self.host_key_path)])
        fqdn = f"{self.hostname}.{self.lab.domain}" if self.lab.domain else self.hostname
        prefix = self.lab.network.prefixlen
        c = vmimage.CpioWriter()

        def dirs(rel: str) -> None:       # parents as they are in the image (mode, owner)
            parts = Path(rel).parts
            for i in range(1, len(parts)):
                sub = "/".join(parts[:i])
                st = os.lstat(lower / sub)
                c.dir(f"identity/{sub}", st.st_mode & 0o7777, st.st_uid, st.st_gid)
        c.dir("identity")
        files_in = {
            "etc/machine-id": (uuid.uuid4().hex + "\n", 0o444, 0, 0),
            "etc/hostname": (self.hostname + "\n", 0o644, 0, 0),
            "etc/hosts": (f"127.0.0.1\tlocalhost\n127.0.1.1\t{fqdn} {self.hostname}\n"
                          "::1\tlocalhost ip6-localhost ip6-loopback\n", 0o644, 0, 0),
            "etc/lab-net.env": (f"ADDRESS={self.address}\nPREFIX={prefix}\n", 0o644, 0, 0),
            "etc/ssh/ssh_host_ed25519_key": (self.host_key_path.read_text(), 0o600, 0, 0),
            "etc/ssh/ssh_host_ed25519_key.pub": (Path(f"{self.host_key_path}.pub").read_text(), 0o644, 0, 0),
        }
        for user in ("ops", "nosudo"):
            uid, gid = rootfs.user_ids(lower, user)
            files_in[f"home/{user}/.ssh/authorized_keys"] = (self.lab.pubkey, 0o600, uid, gid)
        if self.lab.with_repo and self.lab.repo.key_path.exists():
            files_in["etc/apt/trusted.gpg.d/provisioner-lab.gpg"] = (
                self.lab.repo.key_path.read_bytes(), 0o644, 0, 0)
        done: set[str] = set()
        for rel, (data, mode, uid, gid) in sorted(files_in.items()):
            parent = str(Path(rel).parent)
            if parent not in done:
                dirs(rel)
                done.add(parent)
            c.file(f"identity/{rel}", data if isinstance(data, bytes) else data.encode(), mode, uid, gid)
        tmp = self.initrd.with_suffix(".tmp")
        tmp.write_bytes((files / "initrd.img").read_bytes() + c.finish())
        tmp.chmod(0o600)
        os.replace(tmp, self.initrd)

    def argv(self) -> list[str]:
        files = self.lab.vm_files
        acc = ["-accel", "kvm"] if self.lab.accel == "kvm" else ["-accel", "tcg,thread=multi,tb-size=128"]
        return [
            qemu_binary(), "-name", self.machine, *acc, "-smp", str(CPUS), "-m", str(self.memory),
            "-nodefaults", "-display", "none", "-monitor", "none",
            "-kernel", str(files / "vmlinuz"), "-initrd", str(self.initrd), "-append", CMDLINE,
            "-drive", f"file={self.disk},if=virtio,format=qcow2,cache=unsafe",
            "-netdev", f"tap,id=n0,ifname={self.veth},script=no,downscript=no",
            "-device", f"virtio-net-pci,netdev=n0,mac={self.mac}",
            "-uuid", self.product_uuid_path.read_text().strip(),
            "-smbios", f"type=1,manufacturer=provisioner-lab,product=provisioner-lab VM,serial=LAB-{self.machine}",
            "-serial", f"file:{self.console}", "-pidfile", str(self.pidfile),
        ]

    def start(self) -> None:
        """Launch QEMU (detached; its command line names the state dir, so `destroy` finds it)."""
        # The console log is appended across boots by the guest: keep every boot's lines.
        if self.console.exists():
            with open(self.dir / "console.all.log", "ab") as keep:
                keep.write(self.console.read_bytes())
        with open(self.dir / "qemu.log", "ab") as logf:
            self._proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=logf,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        self.pidfile.write_text(f"{self._proc.pid}\n")

    @property
    def cmdline_marker(self) -> bytes:
        """Its disk's path: on this node's QEMU command line only (nspawn_pid finds QEMU by it)."""
        return str(self.disk).encode()

    def exec(self, cmd, *, check: bool = True, timeout: float = 60, input: str | None = None):
        """Run a command as root in the VM, over SSH (ops + sudo): a VM shares no namespace."""
        line = cmd if isinstance(cmd, str) else shlex.join(cmd)
        with self.lab.ssh(self) as s:
            r = s.sudo(line, timeout=timeout, input=input)
        if check and r.rc != 0:
            raise LabError(f"{self.hostname}: {line!r} exited {r.rc}: {r.stderr.strip()}")
        return subprocess.CompletedProcess(line, r.rc, r.stdout, r.stderr)

    def boot_id(self) -> str:
        return self.exec(["cat", "/proc/sys/kernel/random/boot_id"]).stdout.strip()

    def wait_ready(self, timeout: float = BOOT_TIMEOUT) -> None:
        """Poll until sshd answers and systemd finished booting."""
        timeout = max(timeout, BOOT_TIMEOUT)
        try:
            wait_for(self.ssh_banner, timeout=timeout, interval=1, what=f"{self.hostname} sshd")
            wait_for(lambda: self.system_state() in ("running", "degraded"), timeout=timeout,
                     interval=1, what=f"{self.hostname} systemd boot")
        except LabError as exc:
            raise LabError(f"{exc}\n--- last lines of {self.console}:\n{self.console_tail()}") from exc
        if self.system_state() == "degraded":
            failed = self.exec(["systemctl", "--failed", "--no-legend"], check=False).stdout
            log.warning("%s: degraded: %s", self.hostname, failed.strip())

    def reboot(self, timeout: float = BOOT_TIMEOUT) -> float:
        """``systemctl reboot`` over SSH, then wait (deadline) for a new boot with sshd and
        systemd up again; returns the seconds it took."""
        t0 = time.monotonic()
        before = self.boot_id()
        with self.lab.ssh(self) as s:
            # No wait for the answer: the connection dies with the old system; the boot_id says when
            # the new one is there (an old-system answer while it shuts down is just "not yet").
            s.client.exec_command("sudo -n systemctl reboot")

        def rebooted() -> bool:
            return self.boot_id() != before
        try:
            wait_for(rebooted, timeout=timeout, interval=2, what=f"{self.hostname} to come back")
        except LabError as exc:
            raise LabError(f"{exc}\n--- last lines of {self.console}:\n{self.console_tail()}") from exc
        self.wait_ready(timeout)
        return time.monotonic() - t0

    def stop(self, timeout: float = 15) -> None:
        """Power off hard (SIGTERM: QEMU exits at once, like pulling the plug)."""
        pid = self.nspawn_pid()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            wait_for(lambda: not Path(f"/proc/{pid}").exists()
                     or (self._proc is not None and self._proc.poll() is not None),
                     timeout=timeout, interval=0.1, what=f"{self.hostname} QEMU to exit")
        if self._proc is not None:
            self._proc.wait(timeout=5)
            self._proc = None
        self.pidfile.unlink(missing_ok=True)

    def teardown_net_and_mount(self) -> None:
        run(["ip", "link", "del", self.veth], check=False)

    def memory_mb(self) -> float:
        """Resident memory of the QEMU process (MB)."""
        pid = self.nspawn_pid()
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0


class VmLab(Lab):
    """A Lab whose nodes are QEMU VMs (default: cp1 + w1 on 172.31.250.160/28, lab ``vm``)."""

    def __init__(self, nodes=VM_NODES, *, name: str = VM_NAME, bridge_cidr: str = VM_BRIDGE_CIDR,
                 vip: str | None = VM_VIP, domain: str | None = "lab.test", **kw):
        super().__init__(nodes=nodes, name=name, bridge_cidr=bridge_cidr, vip=vip, domain=domain, **kw)
        self.nodes = {h: VmNode(self, n.spec) for h, n in self.nodes.items()}
        self.vm_files: Path | None = None
        self.accel: str | None = None

    def up(self, timeout: float = BOOT_TIMEOUT) -> "VmLab":
        missing = [p for p in (qemu_binary(), "qemu-img", "mkfs.ext4")
                   if run(["sh", "-c", 'command -v "$1"', "sh", p], check=False).returncode]
        if missing or not Path("/bin/busybox").exists() or not Path("/dev/net/tun").exists():
            raise LabError(f"VM lab needs qemu-system-x86, qemu-utils, busybox-static, /dev/net/tun "
                           f"(missing: {', '.join(missing) or 'busybox or tun'})")
        t = time.monotonic()
        self.vm_files = vmimage.ensure_files()
        self.accel = accel(self.vm_files)
        self.timings["vm-files"] = time.monotonic() - t
        print(f"lab {self.name}: VMs use {self.accel.upper()}"
              + (" (software emulation: KVM cannot run a guest here)" if self.accel == "tcg" else "")
              + f", {CPUS} vCPUs each, memory "
              + ", ".join(f"{n.hostname} {n.memory} MB" for n in self.nodes.values()))
        super().up(timeout)
        return self

    def save(self) -> None:
        super().save()
        # Lab.attach() would build namespace nodes: mark the state as a VM lab for `status`.
        (self.state_dir / "vm").write_text("qemu\n")

    def reboot_all(self) -> dict[str, float]:
        """Reboot every VM at once; seconds each took to be back."""
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(max_workers=len(self.nodes)) as pool:
            times = dict(zip(self.nodes, pool.map(lambda n: n.reboot(), self.nodes.values())))
        return times


__all__ = ["VmLab", "VmNode", "accel"]
