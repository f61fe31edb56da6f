"""The kernel kubeadm's SystemVerification accepts: release (a warning) and required config options (errors).

Mirrors kubernetes/system-validators validators/kernel_validator.go with the spec of validators/types_unix.go
(DefaultSysSpec, as of 2025-10): a release outside ``Versions`` is a warning; a ``Required`` option that is
not ``y`` or ``m`` is an error, plus ``RequiredCgroupsV2`` or ``RequiredCgroupsV1`` by the cgroup mode;
the config comes from the first of its paths that exists (/proc/config.gz gunzipped). kubeadm modprobes
``configs`` when none exists; preflight only reads, so an unreadable config is a warning here.
"""

from __future__ import annotations

import re

from provisioner.checks.base import WARN, NodeCheck

VERSIONS = (r"^5\.4.*$", r"^5\.10.*$", r"^5\.15.*$", r"^([6-9]|[1-9][0-9]+)\.([0-9]+)\.([0-9]+).*$")
VERSIONS_NOTE = "5.4, 5.10, 5.15 (LTS) or any 6.x and newer"
# (name, aliases): any of them set to y or m satisfies it
REQUIRED = (("NAMESPACES",), ("NET_NS",), ("PID_NS",), ("IPC_NS",), ("UTS_NS",), ("CPUSETS",), ("MEMCG",),
            ("INET",), ("EXT4_FS",), ("PROC_FS",), ("NETFILTER_XT_TARGET_REDIRECT", "IP_NF_TARGET_REDIRECT"),
            ("NETFILTER_XT_MATCH_COMMENT",), ("FAIR_GROUP_SCHED",))
REQUIRED_V2 = (("CGROUPS",), ("CGROUP_BPF",), ("CGROUP_PIDS",), ("CGROUP_SCHED",))
REQUIRED_V1 = (("CGROUPS",), ("CGROUP_CPUACCT",), ("CGROUP_DEVICE",), ("CGROUP_FREEZER",), ("CGROUP_PIDS",),
               ("CGROUP_SCHED",))
CONFIG_PATHS = ("/proc/config.gz", "/boot/config-$_r", "/usr/src/linux-$_r/.config", "/usr/src/linux/.config",
                "/usr/lib/modules/$_r/config", "/usr/lib/ostree-boot/config-$_r", "/usr/lib/kernel/config-$_r",
                "/usr/src/linux-headers-$_r/.config", "/lib/modules/$_r/build/.config")
_NAMES = sorted({n for group in REQUIRED + REQUIRED_V2 + REQUIRED_V1 for n in group})


def kernel_command() -> str:
    """Prints ``release R``, ``cgroup v2|v1``, ``config PATH`` (or ``config none``) and the wanted options' lines.
    Only the wanted lines leave the host (one grep, on the gunzipped text for config.gz)."""
    pattern = "^CONFIG_(" + "|".join(_NAMES) + ")="
    paths = " ".join(f'"{p}"' for p in CONFIG_PATHS)
    return ("read -r _r </proc/sys/kernel/osrelease; echo \"release $_r\"; "
            "[ -e /sys/fs/cgroup/cgroup.controllers ] && echo 'cgroup v2' || echo 'cgroup v1'; _c=; "
            f"for _p in {paths}; do [ -e \"$_p\" ] && {{ _c=$_p; break; }}; done; echo \"config ${{_c:-none}}\"; "
            f"case $_c in '') ;; *.gz) zcat \"$_c\" | grep -E '{pattern}';; *) grep -E '{pattern}' \"$_c\";; esac; true")


FACT = {"kernel.config": kernel_command()}


def _parse(f) -> tuple[str, str, str, dict[str, str]]:
    """(release, cgroup mode, config path, {option: value}) from the kernel.config fact."""
    meta: dict[str, str] = {}
    options: dict[str, str] = {}
    for line in f.lines("kernel.config"):
        key, _, value = line.partition(" ")
        if key in ("release", "cgroup", "config"):
            meta[key] = value.strip()
        elif line.startswith("CONFIG_") and "=" in line:
            name, _, value = line.partition("=")
            options[name.removeprefix("CONFIG_")] = value.strip()
    return meta.get("release", ""), meta.get("cgroup", ""), meta.get("config", ""), options


class KernelVersion(NodeCheck):
    id, title = "kernel.version", "a kernel release kubeadm supports"
    severity = WARN                   # kernel_validator.go validateKernelVersion: a warning
    reference = "kubeadm"
    reads = ("/proc/sys/kernel/osrelease",)
    facts = FACT

    def applies(self, node):
        return node.is_kube_node

    def evaluate(self, f, node):
        release = _parse(f)[0]
        if any(re.match(v, release) for v in VERSIONS):
            return self.passed(release, VERSIONS_NOTE)
        return self.failed(release or "unknown", VERSIONS_NOTE, "boot a supported kernel (the distribution's current "
                                                                "kernel package)")


class KernelConfig(NodeCheck):
    id, title = "kernel.config", "kernel options kubeadm requires are built in or modules"
    reference = "kubeadm"
    reads = ("/proc/config.gz", "/boot/config-RELEASE", "/sys/fs/cgroup/cgroup.controllers")
    facts = FACT

    def applies(self, node):
        return node.is_kube_node

    def evaluate(self, f, node):
        release, cgroup, config, options = _parse(f)
        if not config or config == "none":
            return self.failed(f"no kernel config found for {release or '?'}", "a readable kernel config",
                               f"install the kernel's config (/boot/config-{release}) or `modprobe configs` "
                               "(kubeadm does that itself)", severity=WARN)
        wanted = REQUIRED + (REQUIRED_V2 if cgroup == "v2" else REQUIRED_V1)
        missing = [group[0] for group in wanted if not any(options.get(n) in ("y", "m") for n in group)]
        expected = f"{len(wanted)} options y or m (cgroup {cgroup})"
        if not missing:
            return self.passed(f"{len(wanted)} required options set ({config})", expected)
        return self.failed("not set: " + ", ".join(f"CONFIG_{m}" for m in missing) + f" ({config})", expected,
                           "boot a kernel built with these options (the distribution's stock kernel has them)")
