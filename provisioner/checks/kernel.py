"""Swap, kernel modules and sysctls: what the kubelet and kube-proxy need from the kernel."""

from __future__ import annotations

from provisioner.checks.base import UNIT_DIRS, Node, NodeCheck, read_file


class SwapActive(NodeCheck):
    id, title = "swap.active", "no active swap"
    fixed_by = "prep"
    reads = ("/proc/swaps",)
    reference = "kubeadm"       # checks.go SwapCheck
    facts = {"swap.active": read_file("/proc/swaps")}

    def applies(self, node):
        return node.is_kube_node

    def evaluate(self, f, node):
        active = [line.split()[0] for line in f.lines("swap.active")[1:]]
        if not active:
            return self.passed("none", "none")
        return self.failed(", ".join(active), "none", "swapoff -a (the kubelet refuses to start with swap on; prep does this)")


class SwapPersistent(NodeCheck):
    id, title = "swap.persistent", "no swap in /etc/fstab or enabled swap units"
    fixed_by = "prep"
    reads = ("/etc/fstab", "list-units --type swap")
    facts = {
        # awk '$1 !~ /^#/ && $3 == "swap" {print $1}', in bash builtins
        "swap.fstab": "while read -r _d _m _t _r; do [[ $_d != \\#* && $_t == swap ]] && echo \"$_d\"; done "
                      "2>/dev/null </etc/fstab; true",
        # list-units (loaded units, fstab-generated ones included) is ~50x faster than list-unit-files; and it
        # runs only where a swap unit can exist at all: a .swap unit file, a generated one (fstab), an active swap.
        "swap.units": "if compgen -G '/run/systemd/generator*/*.swap' >/dev/null || " + " || ".join(
            f"compgen -G '{d}/*.swap' >/dev/null" for d in UNIT_DIRS) + " || { mapfile -t _l </proc/swaps; "
            "[ ${#_l[@]} -gt 1 ]; }; then systemctl list-units --type=swap --all --no-legend --plain 2>/dev/null "
            "| awk '$2 != \"masked\" {print $1}'; fi",
    }

    def applies(self, node):
        return node.is_kube_node

    def evaluate(self, f, node):
        found = [f"fstab: {d}" for d in f.lines("swap.fstab")] + [f"unit: {u}" for u in f.lines("swap.units")]
        if not found:
            return self.passed("none", "none")
        return self.failed("; ".join(found), "none",
                           "comment swap lines out of /etc/fstab and mask swap units (swap comes back after reboot; prep does this)")


# What a module provides, so a module built into the kernel (no /sys/module entry) counts as loaded.
# overlay: a line of /proc/filesystems ("nodev<TAB>overlay") names it - what `grep -qw overlay` finds there,
# read by bash itself (mapfile; the lines joined by spaces, the name between blanks): no process.
MODULE_PROBES = {
    "overlay": "{ mapfile -t _fs < /proc/filesystems && [[ \" ${_fs[*]} \" =~ [[:space:]]overlay[[:space:]] ]]; } 2>/dev/null",
    "br_netfilter": "[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]",
}


def module_present(name: str) -> str:
    """A read-only command: exit 0 when module ``name`` is loaded or built in (used by preflight and prep)."""
    loaded = f"[ -d /sys/module/{name} ]"
    return f"{{ {loaded} || {MODULE_PROBES[name]}; }}" if name in MODULE_PROBES else loaded


class KernelModules(NodeCheck):
    id, title = "kernel.modules", "overlay and br_netfilter loaded or loadable"
    fixed_by = "prep"
    reads = ("/sys/module/overlay", "/sys/module/br_netfilter")
    reference = "kubespray"
    facts = {"kernel.modules": "; ".join(
        f"if {module_present(m)}; then echo '{m} loaded'; "
        f"elif modinfo {m} >/dev/null 2>&1; then echo '{m} loadable'; else echo '{m} missing'; fi"
        for m in ("overlay", "br_netfilter"))}

    def applies(self, node):
        return node.is_kube_node

    def evaluate(self, f, node):
        states = dict(line.split(None, 1) for line in f.lines("kernel.modules") if len(line.split()) == 2)
        observed = ", ".join(f"{m} {s}" for m, s in states.items()) or "unknown"
        missing = [m for m in ("overlay", "br_netfilter") if states.get(m) not in ("loaded", "loadable")]
        if not missing:
            return self.passed(observed, "loaded or loadable")
        return self.failed(observed, "loaded or loadable",
                           f"install the kernel modules package providing {', '.join(missing)} (linux-modules-extra on Ubuntu)")


def _sysctl_fact(keys: list[str]) -> str:
    """``sysctl -n`` for each key, as reads of /proc/sys (builtins, no process)."""
    return "; ".join(f"printf '%s=' {k}; read -r _v 2>/dev/null </proc/sys/{k.replace('.', '/')} && echo \"$_v\" "
                     "|| echo missing" for k in keys)


class _SysctlCheck(NodeCheck):
    keys: tuple[str, ...] = ()
    wanted = "1"

    def evaluate(self, f, node):
        values = dict(line.split("=", 1) for line in f.lines(self.id) if "=" in line)
        observed = ", ".join(f"{k}={values.get(k, 'missing')}" for k in self.keys)
        bad = [k for k in self.keys if values.get(k) != self.wanted]
        if not bad:
            return self.passed(observed)
        return self.failed(observed, ", ".join(f"{k}={self.wanted}" for k in self.keys),
                           f"sysctl -w {bad[0]}={self.wanted} and persist it in /etc/sysctl.d ({self.fixed_by} does this)")


class KubeSysctls(_SysctlCheck):
    id, title = "kernel.sysctl", "ip_forward and bridge-nf-call-iptables on"
    fixed_by = "prep"
    keys = ("net.ipv4.ip_forward", "net.bridge.bridge-nf-call-iptables")
    reads = keys
    reference = "kubeadm"       # checks.go FileContentCheck on /proc/sys/net/ipv4/ip_forward and bridge-nf
    facts = {"kernel.sysctl": _sysctl_fact(list(keys))}

    def applies(self, node):
        return node.is_kube_node


class NonlocalBind(_SysctlCheck):
    id, title = "lb.nonlocal_bind", "ip_nonlocal_bind on load balancers"
    fixed_by = "lb"
    keys = ("net.ipv4.ip_nonlocal_bind",)
    reads = keys
    facts = {"lb.nonlocal_bind": _sysctl_fact(list(keys))}

    def applies(self, node: Node):
        return node.is_lb
