"""Can this machine run the lab? Returns the reasons it cannot."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from . import rootfs

HOST_TOOLS = {
    "systemd-nspawn": "systemd-container", "ip": "iproute2", "nsenter": "util-linux",
    "mount": "mount", "ssh-keygen": "openssh-client", "zstd": "zstd",
    "dpkg-scanpackages": "dpkg-dev", "gpg": "gnupg", "gpgconf": "gpgconf",
    "mkswap": "util-linux", "sysctl": "procps",
}


def missing_requirements() -> list[str]:
    """Human-readable reasons why the lab cannot boot here (empty: it can)."""
    reasons = []
    if os.geteuid() != 0:
        return ["the lab needs root (network namespaces, mounts, systemd-nspawn)"]
    if not os.path.exists("/proc/self/ns/net"):
        reasons.append("kernel without network namespaces")
    if "overlay" not in Path("/proc/filesystems").read_text():
        os.system("modprobe overlay >/dev/null 2>&1")
        if "overlay" not in Path("/proc/filesystems").read_text():
            reasons.append("kernel without overlayfs")
    if not Path("/sys/fs/cgroup").is_dir():
        reasons.append("no /sys/fs/cgroup")
    tools = dict(HOST_TOOLS)
    if not rootfs.tarball_path().exists() and not (rootfs.lower_path() / ".lab-complete").exists():
        tools["debootstrap"] = "debootstrap"
    for tool, pkg in tools.items():
        if shutil.which(tool) is None:
            reasons.append(f"{tool} not found (apt-get install {pkg})")
    return reasons
