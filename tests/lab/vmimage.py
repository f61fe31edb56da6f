"""VM boot files: a Debian cloud kernel, a busybox initramfs, an ext4 root image.

All three are cached in ``/var/cache/provisioner-lab/vm-<key>/`` keyed by their inputs (the
namespace lab's rootfs key, the kernel package's version, busybox's, this file): ``vmlinuz``,
``initrd.img`` (busybox + the virtio/ext4 modules, loaded in dependency order), ``root.img``
(the lab's root filesystem + the kernel's modules + VM settings, ``mkfs.ext4 -d``). Per node
the lab appends a small cpio archive to the initramfs (its identity: hostname, machine-id, host
key, authorized_keys, address), copied into the root on first boot (see ``INIT``).
"""

from __future__ import annotations

import hashlib
import shutil
import stat
import time
from pathlib import Path

from . import config, rootfs
from .util import LabError, building, run

KERNEL_PACKAGE = "linux-image-cloud-amd64"
IMAGE_SIZE = "12G"         # sparse: preflight wants >= 10 GB free under /var/lib (fails under 2 GB)
SWAP_MB = 256
# Loaded by the initramfs (with their dependencies first, from modules.dep): disk, root fs, NIC.
# The rest (br_netfilter, overlay...) stay unloaded until something in the guest modprobes them.
INITRD_MODULES = ("virtio_pci", "virtio_blk", "ext4", "virtio_net")

INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mkdir -p /proc /sys /dev /newroot
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
echo "lab-initramfs: up"
grep -q lab.probe /proc/cmdline && poweroff -f
for m in $(cat /modules.order); do insmod "/modules/$m" || echo "lab-initramfs: insmod $m failed"; done
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
mount -t ext4 -o rw /dev/vda /newroot || { echo "lab-initramfs: cannot mount /dev/vda"; sh; }
if [ -d /identity ] && [ ! -e /newroot/etc/lab-identity.done ]; then
  cp -a /identity/. /newroot/ && touch /newroot/etc/lab-identity.done
  echo "lab-initramfs: identity written"
fi
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot /sbin/init
"""

LAB_NET_UNIT = """[Unit]
Description=provisioner-lab: eth0's lab address (no DHCP, no default route)
Before=network.target
Wants=network.target
ConditionPathExists=/etc/lab-net.env

[Service]
Type=oneshot
RemainAfterExit=yes
EnvironmentFile=/etc/lab-net.env
ExecStart=/sbin/ip link set eth0 up
ExecStart=/sbin/ip addr replace ${ADDRESS}/${PREFIX} dev eth0

[Install]
WantedBy=multi-user.target
"""

# In a VM the kernel's modules exist and systemd may load /etc/modules-load.d: unmask it.
# udev stays out (not in the root filesystem): the initramfs loads the device drivers, the NIC
# keeps its kernel name eth0, and swap is a file, not a device unit. No login prompt on the
# serial console: its getty waits 90 s for dev-ttyS0.device, which only udev would announce.
CUSTOMIZE_VM = f"""set -eu
systemctl unmask systemd-modules-load.service
systemctl mask serial-getty@ttyS0.service
systemctl enable lab-net.service
dd if=/dev/zero bs=1M count={SWAP_MB} status=none | tr '\\000' '\\377' > /swapfile
chmod 0600 /swapfile
mkswap /swapfile >/dev/null
printf '/dev/vda / ext4 rw,errors=remount-ro 0 1\\n/swapfile none swap sw 0 0\\n' > /etc/fstab
"""
# (the swap file is filled with 0xff: mkfs.ext4 -d turns zero blocks into holes, and the
# kernel refuses a swap file with holes)


def _apt_version(package: str) -> str:
    out = run(["apt-cache", "policy", package]).stdout
    for line in out.splitlines():
        if line.strip().startswith("Candidate:"):
            version = line.split(":", 1)[1].strip()
            if version and version != "(none)":
                return version
    raise LabError(f"apt knows no {package}: `apt-get update` (Debian bookworm sources) first")


def kernel_package() -> tuple[str, str]:
    """(package, version) of the cloud kernel the metapackage points at."""
    out = run(["apt-cache", "depends", KERNEL_PACKAGE]).stdout
    for line in out.splitlines():
        dep = line.strip()
        if dep.startswith("Depends: linux-image-"):
            name = dep.split()[1]
            return name, _apt_version(name)
    raise LabError(f"apt-cache depends {KERNEL_PACKAGE}: no linux-image dependency")


def cache_key() -> str:
    blob = "\n".join([rootfs.rootfs_key(), *kernel_package(), _apt_version("busybox-static"),
                      Path(__file__).read_text()])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cache_dir() -> Path:
    return config.CACHE_DIR / f"vm-{cache_key()}"


def ensure_files() -> Path:
    """The cache directory holding vmlinuz, initrd.img, root.img and kernel-version (built once)."""
    out = cache_dir()
    if (out / ".complete").exists():
        return out
    lower = rootfs.ensure_lower()
    t0 = time.monotonic()
    with building(out, "vm-build-", ".complete") as tmp:
        kroot = _kernel(tmp)
        version = next((kroot / "lib/modules").iterdir()).name
        shutil.copy(kroot / f"boot/vmlinuz-{version}", tmp / "vmlinuz")
        (tmp / "kernel-version").write_text(version + "\n")
        root = _root_tree(lower, kroot / "lib/modules" / version, tmp)
        _initrd(root / "lib/modules" / version, tmp / "initrd.img")
        run(["mkfs.ext4", "-q", "-F", "-L", "lab-root", "-d", str(root), str(tmp / "root.img"),
             IMAGE_SIZE], timeout=900)
        shutil.rmtree(root)
        shutil.rmtree(tmp / "kernel")
    for old in config.CACHE_DIR.glob("vm-*"):
        if old != out and not old.name.startswith("vm-build-"):
            shutil.rmtree(old, ignore_errors=True)
    print(f"lab: VM kernel {version}, initramfs and root image built in {time.monotonic() - t0:.1f}s ({out})")
    return out


def _kernel(tmp: Path) -> Path:
    """Download the kernel .deb (Debian's archive, this machine's apt sources) and unpack it."""
    name, _ = kernel_package()
    run(["apt-get", "download", "-q", name], cwd=str(tmp), timeout=600)
    deb = next(tmp.glob("linux-image-*.deb"))
    kroot = tmp / "kernel"
    run(["dpkg-deb", "-x", str(deb), str(kroot)], timeout=300)
    deb.unlink()
    return kroot


def _load_order(moddir: Path, wanted) -> list[str]:
    """Module paths (relative to moddir) of ``wanted`` and their dependencies, dependencies first."""
    deps: dict[str, list[str]] = {}
    for line in (moddir / "modules.dep").read_text().splitlines():
        path, _, rest = line.partition(":")
        deps[path] = rest.split()
    by_name = {Path(p).name.split(".ko")[0].replace("-", "_"): p for p in deps}
    builtin = {Path(p).name.split(".ko")[0].replace("-", "_")
               for p in (moddir / "modules.builtin").read_text().split()}
    order: list[str] = []

    def add(path: str) -> None:
        for d in reversed(deps[path]):
            add(d)
        if path not in order:
            order.append(path)
    for m in wanted:
        if m in by_name:
            add(by_name[m])
        elif m not in builtin:
            raise LabError(f"kernel module {m} is neither a module nor built in")
    for p in order:
        if not p.endswith(".ko"):
            raise LabError(f"{p}: compressed module, busybox insmod needs .ko")
    return order


def _initrd(moddir: Path, out: Path) -> None:
    entries = CpioWriter()
    entries.dir("bin")
    entries.file("bin/busybox", Path("/bin/busybox").read_bytes(), 0o755)
    entries.file("init", INIT.encode(), 0o755)
    entries.dir("modules")
    order = _load_order(moddir, INITRD_MODULES)
    for p in order:
        entries.file(f"modules/{Path(p).name}", (moddir / p).read_bytes(), 0o644)
    entries.file("modules.order", "".join(Path(p).name + "\n" for p in order).encode(), 0o644)
    out.write_bytes(entries.finish())


def _root_tree(lower: Path, moddir: Path, tmp: Path) -> Path:
    """The lab's root filesystem + the kernel's modules (depmod run in it: this machine may
    have no kmod) + the VM settings, as a directory for mkfs.ext4 -d."""
    root = tmp / "root"
    run(["cp", "-a", str(lower), str(root)], timeout=600)
    (root / ".lab-complete").unlink(missing_ok=True)
    shutil.copytree(moddir, root / "lib/modules" / moddir.name, symlinks=True)
    (root / "etc/systemd/system/lab-net.service").write_text(LAB_NET_UNIT)
    run(["chroot", str(root), "/bin/sh", "-c", CUSTOMIZE_VM], timeout=300)
    run(["chroot", str(root), "depmod", moddir.name], timeout=300)
    return root


class CpioWriter:
    """A newc cpio archive (the initramfs format) built in memory, owners and modes explicit."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.ino = 1

    def _entry(self, name: str, mode: int, data: bytes, uid: int = 0, gid: int = 0) -> None:
        name_b = name.encode() + b"\0"
        head = b"070701" + b"".join(b"%08X" % v for v in (
            self.ino, mode, uid, gid, 1, 0, len(data), 0, 0, 0, 0, len(name_b), 0))
        self.ino += 1
        blob = head + name_b
        blob += b"\0" * (-len(blob) % 4) + data
        self.parts.append(blob + b"\0" * (-len(blob) % 4))

    def dir(self, name: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> None:
        self._entry(name, stat.S_IFDIR | mode, b"", uid, gid)

    def file(self, name: str, data: bytes, mode: int, uid: int = 0, gid: int = 0) -> None:
        self._entry(name, stat.S_IFREG | mode, data, uid, gid)

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0, b"")
        out = b"".join(self.parts)
        return out + b"\0" * (-len(out) % 512)

