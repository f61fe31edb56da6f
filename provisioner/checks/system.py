"""Operating system, hardware, disk and privilege checks."""

from __future__ import annotations

from provisioner import firewall
from provisioner.checks.base import Facts, Node, NodeCheck, Result, read_file, unit_file_exists
from provisioner.versions import CGROUP_V2_FROM

SUPPORTED_OS = {"debian": {"11", "12", "13"}, "ubuntu": {"20.04", "22.04", "24.04"},
                "rocky": {"8", "9", "10"}, "rhel": {"8", "9", "10"}, "almalinux": {"8", "9", "10"},
                "centos": {"9", "10"}}
# Releases that boot cgroup v1 by default (systemd's legacy/hybrid hierarchy): supported for
# Kubernetes 1.35+ only when the host was switched to v2 (systemd.unified_cgroup_hierarchy=1).
CGROUP_V1_BY_DEFAULT = {"ubuntu": {"20.04"}, "rocky": {"8"}, "rhel": {"8"}, "almalinux": {"8"}}
RHEL_FAMILY = {"rocky", "rhel", "almalinux", "centos", "fedora"}

# The file system type of the last mount on /sys/fs/cgroup (cgroup2 = unified; tmpfs = v1 or hybrid),
# what the kubelet's statfs(/sys/fs/cgroup) sees, read from /proc/self/mounts with bash builtins.
CGROUP_FACT = {"os.cgroup": "mapfile -t _mt </proc/self/mounts; _t=none; for _l in \"${_mt[@]}\"; do case $_l in "
                            "*' /sys/fs/cgroup '*) _t=${_l#* /sys/fs/cgroup }; _t=${_t%% *};; esac; done; echo $_t"}
CGROUP_FIX = ("boot the host with cgroup v2: add systemd.unified_cgroup_hierarchy=1 to the kernel command line "
              "(grubby --update-kernel=ALL --args=systemd.unified_cgroup_hierarchy=1, or GRUB_CMDLINE_LINUX in "
              "/etc/default/grub then update-grub) and reboot - or use an OS that defaults to v2 "
              "(Debian 11+, Ubuntu 22.04+, EL 9)")


def cgroup_v2(f: Facts) -> bool:
    return f.text("os.cgroup") == "cgroup2"


def os_release(f: Facts) -> dict[str, str]:
    out = {}
    for line in f.lines("os.release"):
        key, _, value = line.partition("=")
        out[key] = value.strip().strip('"')
    return out


class SupportedOs(NodeCheck):
    id, title = "os.supported", "supported OS and version"
    reads = ("/etc/os-release", "/sys/fs/cgroup")
    facts = {"os.release": read_file("/etc/os-release"), **CGROUP_FACT}

    def evaluate(self, f, node):
        rel = os_release(f)
        os_id, version = rel.get("ID", "?"), rel.get("VERSION_ID", "?")
        major = version.split(".")[0] if os_id not in ("ubuntu",) else version
        observed = f"{os_id} {version}"
        wanted = ", ".join(f"{k} {'/'.join(sorted(v))}" for k, v in SUPPORTED_OS.items())
        if major not in SUPPORTED_OS.get(os_id, set()):
            return self.failed(observed, wanted, "install a supported distribution release")
        minor = node.inv.version.minor
        if minor >= CGROUP_V2_FROM and major in CGROUP_V1_BY_DEFAULT.get(os_id, set()) and not cgroup_v2(f):
            return self.failed(f"{observed} on cgroup v1", f"{observed} with cgroup v2 for Kubernetes 1.{minor}",
                               f"{observed} boots cgroup v1, which the kubelet of 1.{CGROUP_V2_FROM}+ refuses - "
                               + CGROUP_FIX)
        return self.passed(observed)


class CgroupV2(NodeCheck):
    id, title = "os.cgroup_unified", "cgroup v2 (unified hierarchy) for Kubernetes 1.35+"
    # kubeadm's SystemVerification fails cgroup v1 for 1.35+; the kubelet's failCgroupV1 refuses to start
    reads, reference = ("/sys/fs/cgroup",), "kubeadm"
    facts = CGROUP_FACT

    def applies(self, node):
        return node.is_kube_node

    def evaluate(self, f, node):
        fs = f.text("os.cgroup") or "none"
        if fs == "cgroup2":
            return self.passed("cgroup v2 (/sys/fs/cgroup is cgroup2)", "cgroup v2")
        observed, minor = f"cgroup v1 (/sys/fs/cgroup is {fs})", node.inv.version.minor
        if minor >= CGROUP_V2_FROM:
            return self.failed(observed, "cgroup v2",
                               f"the kubelet of Kubernetes 1.{minor} refuses cgroup v1 (failCgroupV1) - " + CGROUP_FIX)
        return self.failed(observed, "cgroup v2", f"cgroup v1 works with 1.{minor} but not with 1.{CGROUP_V2_FROM}+ "
                           "- " + CGROUP_FIX, severity="warn")


class Privilege(NodeCheck):
    id, title = "access.sudo", "root or passwordless sudo"
    reads, reference = ("id -u", "sudo -n"), "kubeadm"     # checks.go IsPrivilegedUserCheck

    def evaluate(self, f, node):
        user = node.user
        if user == "root":
            return self.passed("root")
        if not node.host.sudo:
            return self.failed(f"{user}, sudo disabled in the inventory", "root or sudo",
                               "set sudo: true for this host or log in as root")
        if f.privileged:
            return self.passed(f"{user} with sudo -n")
        return self.failed(f"{user} cannot run sudo -n", "passwordless sudo",
                           f"grant {user} passwordless sudo (e.g. /etc/sudoers.d/{user}: {user} ALL=(ALL) NOPASSWD:ALL)")


class Cpus(NodeCheck):
    id, title = "hw.cpus", "at least 2 CPUs on control planes"
    reads, reference = ("/proc/self/status",), "kubeadm"   # checks.go NumCPUCheck
    # nproc counts the CPUs this process may run on (sched_getaffinity), like kubeadm's runtime.NumCPU():
    # the same count from the shell's own Cpus_allowed_list ("0-3,6"), without a process. The file is read
    # at once (mapfile: one read to EOF), not line by line: bash's `read` reads ahead and seeks back after
    # each line, and /proc regenerates the text at every seek - an earlier line whose length changed between
    # two generations (SigQ, say: signals queued for the user, not padded) shifts the rest, and the line can
    # be missed.
    facts = {"hw.nproc": "mapfile -t _st </proc/self/status; _v=; for _l in \"${_st[@]}\"; do case $_l in "
                         "Cpus_allowed_list:*) _v=${_l#*:}; _v=${_v//[[:space:]]/}; break;; esac; done; "
                         "[ -n \"$_v\" ] && { _n=0; for _r in ${_v//,/ }; do _n=$((_n + ${_r#*-} - ${_r%-*} + 1)); "
                         "done; echo $_n; }; true"}

    def applies(self, node):
        return node.is_control_plane

    def evaluate(self, f, node):
        n = f.text("hw.nproc")
        if n.isdigit() and int(n) >= 2:
            return self.passed(n, ">= 2")
        return self.failed(n or "unknown", ">= 2", "give this control plane at least 2 CPUs (kubeadm init refuses fewer)")


class Memory(NodeCheck):
    id, title = "hw.memory", "at least 1700 MB memory on control planes"
    reads, reference = ("/proc/meminfo",), "kubeadm"       # checks.go MemCheck (ControlPlaneMem)
    # At once, as hw.nproc reads /proc/self/status (the numbers change between regenerations)
    facts = {"hw.meminfo": "mapfile -t _mi </proc/meminfo; for _l in \"${_mi[@]}\"; do case $_l in "
                           "MemTotal:*|SwapTotal:*) echo $_l;; esac; done"}

    def applies(self, node):
        return node.is_control_plane

    def evaluate(self, f, node):
        mem = next((int(line.split()[1]) for line in f.lines("hw.meminfo") if line.startswith("MemTotal:")), 0)
        mb = mem // 1024
        if mb >= 1700:
            return self.passed(f"{mb} MB", ">= 1700 MB")
        return self.failed(f"{mb} MB", ">= 1700 MB", "give this control plane at least 2 GiB of memory")


class DiskSpace(NodeCheck):
    id, title = "disk.var_lib", "free disk under /var/lib"
    reads = ("df -Pk /var/lib",)
    facts = {"disk.var_lib": "df -Pk /var/lib"}      # the last line is the file system's
    FAIL_GB, WARN_GB = 2, 10

    def evaluate(self, f, node):
        parts = (f.lines("disk.var_lib")[-1:] or [""])[0].split()
        if len(parts) < 4 or not parts[3].isdigit():
            return self.failed("unknown", f">= {self.WARN_GB} GB", "check that df works and /var/lib exists")
        gb = int(parts[3]) / 1024 / 1024
        observed = f"{gb:.1f} GB free"
        if gb < self.FAIL_GB:
            return self.failed(observed, f">= {self.WARN_GB} GB", "free space under /var/lib (images, etcd, logs live there)")
        if gb < self.WARN_GB:
            return self.failed(observed, f">= {self.WARN_GB} GB", "images and etcd will fill this soon - grow the disk", severity="warn")
        return self.passed(observed, f">= {self.WARN_GB} GB")


class SeLinux(NodeCheck):
    id, title = "security.selinux", "SELinux mode as the inventory's selinux: says"
    fixed_by = "prep"       # phases/hostsec.py: setenforce 0 + /etc/selinux/config (tests/test_fixed_by.py)
    reads = ("getenforce", "/etc/selinux/config")
    facts = {"security.selinux": "if command -v getenforce >/dev/null 2>&1; then getenforce; "
                                 "grep -m1 '^SELINUX=' /etc/selinux/config 2>/dev/null || echo SELINUX=; "
                                 "else echo absent; fi"}

    def evaluate(self, f, node):
        lines = f.lines("security.selinux") or ["absent"]
        state, config = lines[0].strip(), (lines[1].partition("=")[2].strip() if len(lines) > 1 else "")
        if os_release(f).get("ID") not in RHEL_FAMILY and state == "absent":
            return self.skipped("not a RHEL-family host")
        observed = f"{state} (config: {config or 'unset'})" if state != "absent" else state
        if node.inv.selinux == "enforcing":
            return self.passed(observed, "kept enforcing: `up` (prep) installs container-selinux, sets "
                                         "haproxy_connect_any and labels keepalived's check script")
        if state.lower() == "enforcing" or config.lower() == "enforcing":
            return self.failed(observed, "Permissive now and in /etc/selinux/config",
                               "`up` (prep) runs setenforce 0 and sets SELINUX=permissive in /etc/selinux/config "
                               "(or write selinux: enforcing in the inventory)", severity="warn")
        return self.passed(observed)


class Firewall(NodeCheck):
    id, title = "security.firewall", "host firewall does not block cluster ports"
    severity = "warn"
    reads = ("firewalld", "ufw")
    reference = "kubeadm"      # checks.go FirewalldCheck: a warning, as here
    fixed_by = "prep"          # phases/hostsec.py opens each role's ports, or stops the firewall
    # systemctl only for a firewall that is installed at all; what an active one lets in (the default zone's
    # runtime ports/protocols, ufw's rules), what prep compares with the role's ports.
    facts = {"security.firewall": "if " + unit_file_exists("firewalld.service") + " && systemctl is-active -q firewalld 2>/dev/null; "
                                  "then echo 'firewalld active'; "
                                  "echo \"firewalld-ports $(firewall-cmd --list-ports 2>/dev/null)\"; "
                                  "echo \"firewalld-protocols $(firewall-cmd --list-protocols 2>/dev/null)\"; "
                                  "else echo 'firewalld inactive'; fi; "
                                  # ufw.service is active even with ufw off (Debian enables it; ENABLED=no in
                                  # ufw.conf keeps it inactive): ufw's own chains say whether it filters
                                  f"if {firewall.UFW_ACTIVE}; "
                                  "then echo 'ufw active'; echo \"ufw-ports $(ufw status | awk '/ALLOW/ && $1 ~ /^[0-9]/ "
                                  "{print $1}' | tr : - | tr '\\n' ' ')\"; else echo 'ufw inactive'; fi"}

    def evaluate(self, f, node):
        found = firewall.active(f.text("security.firewall"))
        active = list(found)
        if not active:
            return self.passed("no firewalld/ufw active", "inactive or ports open")
        want = firewall.openings(node.inv, node.host)
        if node.inv.firewall == "disabled":
            return self.failed(", ".join(active) + " active", "inactive (firewall: disabled)",
                               f"`up` (prep) stops and disables {' and '.join(active)}")
        blocked = []
        for name in active:
            gap = firewall.missing(want, found[name], found[name])
            if name == "ufw":      # ufw's VRRP rule lives in before.rules, not in `ufw status`
                gap = firewall.Openings(gap.ports, ())
            if gap.ports or gap.protocols:
                blocked.append(f"{name} active, not open: {gap.describe()}")
        if not blocked:
            return self.passed(", ".join(active) + " active, the role's ports open", want.describe())
        return self.failed("; ".join(blocked), f"open: {want.describe()}",
                           f"`up` (prep) opens {want.describe()} in {' and '.join(active)} (zone of "
                           f"{node.host.nic}, permanent and runtime), or write firewall: disabled in the inventory")
