"""The root filesystem of the lab's EL-like nodes: the Debian lab root filesystem plus Debian's real `rpm` and
`dnf`, with keepalived, haproxy and chrony removed from dpkg (``up`` installs them with dnf, as the lab's .rpm
repackagings of the same Debian binaries: tests/standins/rpms.py). Cached like the rootfs, keyed by its inputs.

What makes a node Rocky 9 or AlmaLinux 10 is written per node at its first boot (:func:`write_identity`):
/etc/os-release and /etc/redhat-release as those releases ship them, dnf's ``releasever`` variable
(/etc/dnf/vars/releasever: dnf's own way to give it when no release package provides it) and the
distribution's release key file name, holding the lab's rpm signing key. See tests/lab/README.md for what is
real on these nodes and what is not.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from pathlib import Path

from . import config, rootfs
from .util import log, run

EL_RECIPE = 2
# The Debian userland the node keeps, made known to rpm under EL's package names (empty packages; scriptlets
# need /bin/sh, and a minimal EL install has curl and ca-certificates): rpm does not read dpkg's database.
USERLAND = {"bash": ("/bin/sh", "/bin/bash", "/usr/bin/sh", "/usr/bin/bash"), "python3": ("/usr/bin/python3",),
            "curl": (), "ca-certificates": (), "glibc": (), "systemd": (), "coreutils": (), "shadow-utils": (),
            "util-linux": (), "iptables": (), "iproute": (), "socat": (), "conntrack-tools": (), "ebtables": (),
            "ethtool": (), "libseccomp": (), "tar": (), "gzip": ()}
EL_DEBS = ("rpm", "dnf")
PURGED = ("keepalived", "haproxy", "chrony")
# rpm's database where EL keeps it (Debian's rpm defaults to ~/.rpmdb, away from dpkg's)
RPM_MACROS = "%_dbpath /var/lib/rpm\n"
CUSTOMIZE = f"""set -eu
dpkg -i /tmp/el-debs/*.deb >/dev/null
dpkg --purge {' '.join(PURGED)} >/dev/null
rm -rf /tmp/el-debs /etc/chrony /etc/haproxy /etc/keepalived
# written per node (write_identity): no Debian release files left to read
rm -f /etc/os-release /usr/lib/os-release /etc/debian_version
mkdir -p /etc/rpm /etc/dnf/vars /etc/yum.repos.d /etc/pki/rpm-gpg /var/lib/rpm
printf '%s' '{RPM_MACROS}' > /etc/rpm/macros.provisioner-lab
rpm --initdb
rpm -i --nodeps --nosignature /tmp/el-userland/*.rpm
rm -rf /tmp/el-userland
# the lab's chronyd cannot set the shared kernel clock: -x, as the Debian nodes' drop-in does
mkdir -p /etc/systemd/system/chronyd.service.d
printf '[Unit]\\nConditionCapability=\\n[Service]\\nExecStart=\\nExecStart=!/usr/sbin/chronyd -f /etc/chrony.conf $OPTIONS -x\\n' \\
  > /etc/systemd/system/chronyd.service.d/provisioner-lab.conf
"""

OS_RELEASES = {
    "rocky9": ("rocky", "9", """NAME="Rocky Linux"
VERSION="9.5 (Blue Onyx)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.5"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Rocky Linux 9.5 (Blue Onyx)"
ANSI_COLOR="0;32"
LOGO="fedora-logo-icon"
CPE_NAME="cpe:/o:rocky:rocky:9::baseos"
HOME_URL="https://rockylinux.org/"
BUG_REPORT_URL="https://bugs.rockylinux.org/"
""", "Rocky Linux release 9.5 (Blue Onyx)\n", "RPM-GPG-KEY-Rocky-9"),
    "alma10": ("almalinux", "10", """NAME="AlmaLinux"
VERSION="10.0 (Purple Lion)"
ID="almalinux"
ID_LIKE="rhel centos fedora"
VERSION_ID="10.0"
PLATFORM_ID="platform:el10"
PRETTY_NAME="AlmaLinux 10.0 (Purple Lion)"
ANSI_COLOR="0;34"
LOGO="fedora-logo-icon"
CPE_NAME="cpe:/o:almalinux:almalinux:10::baseos"
HOME_URL="https://almalinux.org/"
BUG_REPORT_URL="https://bugs.almalinux.org/"
""", "AlmaLinux release 10.0 (Purple Lion)\n", "RPM-GPG-KEY-AlmaLinux-10"),
}
EL_OSES = tuple(OS_RELEASES)


def el_key() -> str:
    blob = json.dumps({"v": EL_RECIPE, "rootfs": rootfs.rootfs_key(), "debs": EL_DEBS, "customize": CUSTOMIZE,
                       "userland": USERLAND})
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def tarball_path() -> Path:
    return config.CACHE_DIR / f"eltree-{el_key()}.tar.zst"


def lower_path() -> Path:
    return config.LIB_DIR / f"eltree-{el_key()}"


def build_tarball() -> Path:
    """The Debian lower, copied; Debian's rpm and dnf installed; packed as zstd."""
    from ..standins.publish import debian_debs

    lower = rootfs.ensure_lower()
    debs = debian_debs(lower, EL_DEBS, tag="el")
    out = tarball_path()
    tmp = Path(tempfile.mkdtemp(prefix="build-el-", dir=config.CACHE_DIR))
    root = tmp / "root"
    t0 = time.monotonic()
    try:
        root.mkdir()
        run(["cp", "-a", f"{lower}/.", f"{root}/"], timeout=600)
        (root / ".lab-complete").unlink(missing_ok=True)
        (root / "tmp/el-debs").mkdir(parents=True)
        for deb in debs:
            shutil.copyfile(deb, root / "tmp/el-debs" / deb.name)
        shutil.copytree(userland_rpms(tmp), root / "tmp/el-userland")
        run(["chroot", str(root), "/bin/sh", "-c", CUSTOMIZE], timeout=600)
        rootfs.pack(root, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"lab: EL root filesystem {out.name} built in {time.monotonic() - t0:.1f}s")
    return out


def userland_rpms(work: Path) -> Path:
    """One empty rpm per :data:`USERLAND` name (``Provides`` its paths), in a directory of their own."""
    from ..standins.rpms import RpmSpec, build_rpm

    empty, out = work / "userland-stage", work / "userland"
    empty.mkdir()
    for name, provides in USERLAND.items():
        build_rpm(RpmSpec(name, "12", "1.lab", f"{name} of the lab node's Debian 12 userland, known to rpm",
                          provides=provides), empty, out, work)
    return out


def ensure_lower() -> Path:
    lower, tarball = lower_path(), tarball_path()
    if rootfs.extracted(lower, tarball, build_tarball):
        rootfs.prune("eltree", tarball, lower)
        log.info("EL lower ready: %s", lower)
    return lower


def write_identity(path, os_name: str, key_asc: str, write_file) -> None:
    """Make a node (its root at ``path(inside)``) the release ``os_name``: os-release, redhat-release, dnf's
    releasever, and the release key file holding ``key_asc`` (the lab's rpm signing key)."""
    _, major, os_release, redhat_release, key_name = OS_RELEASES[os_name]
    write_file(str(path("/etc/os-release")), os_release)
    write_file(str(path("/etc/redhat-release")), redhat_release)
    write_file(str(path("/etc/system-release")), redhat_release)
    write_file(str(path("/etc/dnf/vars/releasever")), major + "\n")
    write_file(str(path(f"/etc/pki/rpm-gpg/{key_name}")), key_asc)
