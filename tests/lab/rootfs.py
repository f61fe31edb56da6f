"""The nodes' root filesystem: debootstrap minbase bookworm, cached as zstd.

``ensure_lower()`` returns a read-only lower directory for overlayfs,
extracting the cached tarball once and building it (about a minute) when the
tarball for the current key is missing. The key hashes the package list and
the customization script, so changing either rebuilds.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from . import config
from .util import LabError, building, log, run

RECIPE_VERSION = 1

PACKAGES = (
    "openssh-server", "openssh-sftp-server", "systemd", "systemd-sysv", "dbus",
    "keepalived", "haproxy", "chrony", "sudo", "python3", "iproute2",
    "iputils-ping", "procps", "psmisc", "kmod", "socat", "curl",
    "ca-certificates", "gnupg", "netbase", "libfaketime",
    # Host firewalls `up` manages (phases/hostsec.py): installed but off (firewalld disabled in CUSTOMIZE,
    # ufw ENABLED=no as Debian ships it); tests/test_hostsec_lab.py starts them.
    "firewalld", "ufw", "libpam-systemd",      # libpam-systemd: the logind polkitd (firewalld) needs
    # Debian's etcd 3.4: the stand-in kubelet runs a control plane's etcd.yaml with it (the stacked member is
    # real: membership, quorum, snapshots); its own etcd.service is masked (the static pod is the etcd).
    # etcdctl is what a user installs on control planes for `provisioner etcd` (etcd-client).
    "etcd-server", "etcd-client",
)

# Mount point inside the node for the per-node DMI layer (see LAB_DMI_SCRIPT).
SYSCLASS_LAYER = "/usr/local/lib/provisioner-lab/sysclass"
# Host directory bind-mounted at this path in the node (swap fault: needs a
# filesystem that supports swap files; overlayfs does not).
SWAP_DIR = "/var/lib/provisioner-lab-swap"

# The VM has no DMI, and sysfs refuses new files: overlay the node's
# /sys/class with a host-provided layer holding dmi/id/*. Writes to the host
# files show up inside at once (the fault helpers rely on it).
LAB_DMI_SCRIPT = f"""#!/bin/sh
# provisioner-lab: show this node's own DMI identity at /sys/class/dmi/id.
set -e
layer={SYSCLASS_LAYER}
[ -e "$layer/dmi/id/product_uuid" ] || exit 0
mount -t overlay lab-dmi -o "lowerdir=$layer:/sys/class" /sys/class
"""

LAB_DMI_UNIT = f"""[Unit]
Description=provisioner-lab per-node DMI identity
DefaultDependencies=no
Before=sysinit.target
ConditionPathExists={SYSCLASS_LAYER}/dmi/id/product_uuid

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/lab-dmi

[Install]
WantedBy=sysinit.target
"""

CHRONY_DROPIN = """# provisioner-lab: nodes cannot set the shared kernel clock (no
# CAP_SYS_TIME); run chronyd with -x so it still syncs its view of time.
[Unit]
ConditionCapability=

[Service]
ExecStart=
ExecStart=!/usr/sbin/chronyd $DAEMON_OPTS -x
"""

SSHD_DROPIN = """# provisioner-lab: one per-node ed25519 host key, written at boot.
HostKey /etc/ssh/ssh_host_ed25519_key
UseDNS no
PasswordAuthentication no
"""

# pam_systemd (libpam-systemd, which firewalld's polkitd needs) starts a user manager for every SSH login and
# logind stops it UserStopDelaySec (10 s) after the login ends: the stop would land in whatever runs ten seconds
# later (a benchmark's next tool). At 0 each login's start and stop stay with that login.
LOGIND_DROPIN = """[Login]
UserStopDelaySec=0
"""
JOURNALD_DROPIN = """[Journal]
Storage=volatile
RuntimeMaxUse=16M
"""

# Units that cannot work in a container (no udev, no hardware, no real
# clock) and would leave `systemctl is-system-running` degraded.
MASKED_UNITS = (
    "systemd-udevd.service", "systemd-udevd-control.socket",
    "systemd-udevd-kernel.socket", "systemd-udev-trigger.service",
    "systemd-udev-settle.service", "console-getty.service",
    "getty@tty1.service", "systemd-timesyncd.service",
    "e2scrub_reap.service", "e2scrub_all.timer", "apt-daily.timer",
    "apt-daily-upgrade.timer", "fstrim.timer", "dpkg-db-backup.timer",
    "sys-kernel-config.mount", "sys-kernel-debug.mount",
    "sys-kernel-tracing.mount", "systemd-modules-load.service", "etcd.service",
)

CUSTOMIZE = f"""set -eu
rm -f /usr/sbin/policy-rc.d
rm -f /etc/ssh/ssh_host_*
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
ln -s /etc/machine-id /var/lib/dbus/machine-id
for u in ops nosudo; do
  useradd --create-home --shell /bin/bash --user-group "$u"
  usermod -p '*' "$u"
  install -d -m 0700 -o "$u" -g "$u" "/home/$u/.ssh"
done
printf 'ops ALL=(ALL) NOPASSWD:ALL\\n' > /etc/sudoers.d/ops
chmod 0440 /etc/sudoers.d/ops
install -d {SYSCLASS_LAYER} {SWAP_DIR}
systemctl enable lab-dmi.service
systemctl mask {' '.join(MASKED_UNITS)}
systemctl disable firewalld.service
systemctl set-default multi-user.target
printf '# provisioner-lab: nodes reach no Debian mirror; products add the lab repo.\\n' > /etc/apt/sources.list
printf '# provisioner-lab: no DNS server reaches the nodes.\\n' > /etc/resolv.conf
printf 'LANG=C.UTF-8\\n' > /etc/default/locale
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log /var/log/apt/*
"""

FILES = {
    "usr/local/sbin/lab-dmi": (LAB_DMI_SCRIPT, 0o755),
    "etc/systemd/system/lab-dmi.service": (LAB_DMI_UNIT, 0o644),
    "etc/systemd/system/chrony.service.d/lab.conf": (CHRONY_DROPIN, 0o644),
    "etc/ssh/sshd_config.d/lab.conf": (SSHD_DROPIN, 0o644),
    "etc/systemd/journald.conf.d/lab.conf": (JOURNALD_DROPIN, 0o644),
    "etc/systemd/logind.conf.d/lab.conf": (LOGIND_DROPIN, 0o644),
}


def rootfs_key() -> str:
    """Hash of everything that shapes the image: packages, files, script."""
    blob = json.dumps({"v": RECIPE_VERSION, "suite": config.SUITE,
                       "packages": sorted(PACKAGES), "files": FILES,
                       "customize": CUSTOMIZE}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def tarball_path() -> Path:
    return config.CACHE_DIR / f"rootfs-{rootfs_key()}.tar.zst"


def lower_path() -> Path:
    return config.LIB_DIR / f"rootfs-{rootfs_key()}"


def build_tarball(mirror: str | None = None) -> Path:
    """debootstrap + customize + pack as zstd tarball; returns its path."""
    mirror = mirror or config.debian_mirror()
    out = tarball_path()
    config.CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="build-", dir=config.CACHE_DIR))
    root = tmp / "root"
    t0 = time.monotonic()
    try:
        log.info("building rootfs %s from %s", out.name, mirror)
        run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}",
             config.SUITE, str(root), mirror], timeout=1800)
        for rel, (text, mode) in FILES.items():
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
            p.chmod(mode)
        run(["chroot", str(root), "/bin/sh", "-c", CUSTOMIZE], timeout=300)
        pack(root, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("rootfs built in %.1fs", time.monotonic() - t0)
    print(f"lab: rootfs {out.name} built in {time.monotonic() - t0:.1f}s")
    return out


def pack(root: Path, out: Path) -> None:
    """``root`` as a zstd tarball at ``out`` (written beside it, then renamed)."""
    part = out.with_suffix(".part")
    run(["sh", "-c", "tar -C \"$1\" --numeric-owner --xattrs --xattrs-include='*' "
         "-cf - . | zstd -q -T0 -3 -f -o \"$2\"", "sh", str(root), str(part)], timeout=900)
    os.replace(part, out)


def extracted(lower: Path, tarball: Path, build) -> bool:
    """``lower`` extracted from ``tarball`` (made by ``build()`` when missing); False when it already was."""
    if (lower / ".lab-complete").exists():
        return False
    if not tarball.exists():
        build()
    with building(lower, ".extract-", ".lab-complete") as tmp:
        run(["sh", "-c", "zstd -q -d -c \"$1\" | tar -C \"$2\" --numeric-owner "
             "--xattrs --xattrs-include='*' -xpf -", "sh", str(tarball), str(tmp)],
            timeout=600)
    return True


def ensure_lower() -> Path:
    """The extracted read-only lower dir, building/extracting as needed."""
    if extracted(lower_path(), tarball_path(), build_tarball):
        prune("rootfs", tarball_path(), lower_path())
    return lower_path()


def prune(prefix: str, tarball: Path, lower: Path) -> None:
    """Delete the ``prefix`` tarballs and lower dirs of other keys than ``tarball``'s and ``lower`` (not in use)."""
    mounts = Path("/proc/mounts").read_text()
    for old in config.CACHE_DIR.glob(f"{prefix}-*.tar.zst"):
        if old != tarball:
            old.unlink(missing_ok=True)
    for old in config.LIB_DIR.glob(f"{prefix}-*"):
        if old != lower and f"lowerdir={old}," not in mounts:
            shutil.rmtree(old, ignore_errors=True)


def user_ids(lower: Path, user: str) -> tuple[int, int]:
    """uid, gid of ``user`` in the image's /etc/passwd."""
    for line in (lower / "etc/passwd").read_text().splitlines():
        f = line.split(":")
        if f[0] == user:
            return int(f[2]), int(f[3])
    raise LabError(f"user {user} missing from rootfs")
