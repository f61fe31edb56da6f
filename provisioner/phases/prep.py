"""prep (every host): hostname, /etc/hosts, swap off for good, SELinux and firewall (phases/hostsec.py),
kernel modules + sysctls, package sources, chrony.

>>> [s.name for s in steps(ctx, inv.host("master1"))][:2]     # doctest: +SKIP
['set hostname master1', 'write /etc/hosts']
"""

from __future__ import annotations

from provisioner import hostsfile, proxy
from provisioner.checks.kernel import module_present
from provisioner.desired import (APT_MIRROR_LIST, DOCKER_REPO, KUBERNETES_REPO, YUM_MIRROR_REPO, chrony_conf,
                                 chrony_unit)
from provisioner.phases.hostsec import firewall_steps, selinux_steps
from provisioner.phases.base import Phase, UpContext, file_is, q, sysctl_check
from provisioner.steps import Change, CommandStep, FileStep, FuncStep, ServiceStep

FSTAB_SWAP = r"^[^#[:space:]]+[[:space:]]+[^[:space:]]+[[:space:]]+swap[[:space:]]"
DISTRO_SOURCES = ("/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list.d/ubuntu.sources")


def hostname_step(name: str) -> CommandStep:
    """The live hostname, and /etc/hostname as the desired state has it ("NAME\\n", what hostnamectl writes)."""
    n = q(name)
    # The live name is the kernel's (what `hostname` prints: gethostname(2) reads the UTS name, which
    # /proc/sys/kernel/hostname shows), the lasting one /etc/hostname as hostnamectl writes it ("NAME\n").
    # Both read by bash itself: this probe runs on every host in every `up`.
    return CommandStep(f"set hostname {name}",
                       f"{{ IFS= read -r h < /proc/sys/kernel/hostname; }} 2>/dev/null && [ \"$h\" = {n} ] && "
                       f"{{ {file_is('/etc/hostname', name)}; }}",
                       f"hostnamectl set-hostname {n} 2>/dev/null || {{ echo {n} > /etc/hostname.new && "
                       f"mv -f /etc/hostname.new /etc/hostname && hostname {n}; }}",
                       why="could not set the hostname", writes=("/etc/hostname",))


# swap.target masked the way `systemctl mask` does it and `systemctl is-enabled` calls "masked": its unit
# file in /etc/systemd/system is /dev/null (a symlink) or empty (systemd src/shared/install.c:
# null_or_empty_path). A mask in /run is "masked-runtime", not this.
SWAP_TARGET = "/etc/systemd/system/swap.target"
SWAP_MASKED = f"{{ [ {SWAP_TARGET} -ef /dev/null ] || {{ [ -f {SWAP_TARGET} ] && [ ! -s {SWAP_TARGET} ]; }}; }}"
# No active swap: /proc/swaps has its header line only (it is what `swapon --show` lists, util-linux
# sys-utils/swapon.c via libmount's swaps parser). Read by bash itself, no process.
NO_ACTIVE_SWAP = "{ [ ! -e /proc/swaps ] || { { read -r _; ! read -r _; } < /proc/swaps; }; }"


# No swap line in /etc/fstab: what `! grep -Eq FSTAB_SWAP /etc/fstab` says, by bash itself (its =~ is POSIX
# ERE, as grep -E; line by line, the last line counted without its newline too). A missing fstab has no swap
# line (grep: exit 2, negated to 0; here the redirection fails and nothing is found).
NO_FSTAB_SWAP = (f"{{ _r={q(FSTAB_SWAP)}; _hit=1; {{ while IFS= read -r _l || [ -n \"$_l\" ]; do "
                 "[[ $_l =~ $_r ]] && { _hit=0; break; }; done < /etc/fstab; } 2>/dev/null; [ $_hit = 1 ]; }")


def swap_off_step() -> CommandStep:
    check = f"{NO_ACTIVE_SWAP} && {NO_FSTAB_SWAP} && {SWAP_MASKED}"
    command = ("swapoff -a && sed -i.provisioner.bak -E "
               f"'s@({FSTAB_SWAP}.*)$@# \\1  # off for the kubelet (provisioner)@' /etc/fstab && "
               "systemctl mask swap.target $(systemctl list-units --type swap --all --plain --no-legend "
               "| awk '{print $1}')")
    return CommandStep("swap off now and after reboot", check, command, why="could not turn swap off")


def hosts_conflicts_step(ctx: UpContext, host) -> FuncStep:
    """Comment out /etc/hosts lines outside our block that map a cluster name elsewhere (they win over it)."""
    wanted, own = hostsfile.wanted_names(ctx.inv), hostsfile.own_names(ctx.inv, host)

    def needed(fact):
        found = hostsfile.conflicts(FileStep._current(fact) or "", wanted, own)
        if not found:
            return None
        return Change("comment out " + "; ".join(c.describe() for c in found),
                      [f"prefix line {c.lineno} with '{hostsfile.MARKER.format(names=', '.join(c.names))}'"
                       for c in found])

    def action(sctx, change):
        current = sctx.remote.read("/etc/hosts") or ""
        fixed = hostsfile.comment_out(current, wanted, own)
        if fixed != current:
            sctx.remote.put("/etc/hosts", fixed, mode=0o644)

    # The same read as the managed block's FileStep (stat + content): the engine runs it once for both.
    probe = FileStep("/etc/hosts", "", block=True).probe()
    return FuncStep("/etc/hosts lines that contradict the cluster block", probe, needed, action,
                    identity=f"hosts conflicts {sorted(wanted.items())} {sorted(own)}", writes=("/etc/hosts",))


def yum_mirror_steps(ctx: UpContext, host) -> list:
    """The inventory's yum mirror in place of the distribution's repositories: ours written, every other
    repository file's sections set enabled=0 (kept, so removing the mirror from the inventory can restore them)."""
    if not ctx.has_file(host, YUM_MIRROR_REPO):
        return []
    ours = " ".join(f"-e {q(p)}" for p in (YUM_MIRROR_REPO, KUBERNETES_REPO, DOCKER_REPO))
    enabled = "^enabled[[:space:]]*=[[:space:]]*1"
    others = f"$(grep -l {q(enabled)} /etc/yum.repos.d/*.repo 2>/dev/null | grep -vxF {ours})"
    return [FileStep.of(ctx.file(host, YUM_MIRROR_REPO)),
            CommandStep("disable the distribution's own dnf repositories",
                        f"[ -z \"{others}\" ]",
                        f"for f in {others}; do sed -i.disabled-by-provisioner -E {q('s/' + enabled + '/enabled=0/')} \"$f\"; done")]


def steps(ctx: UpContext, host) -> list:
    inv, os_ = ctx.inv, ctx.os.get(host.hostname)
    out: list = [hostname_step(ctx.file(host, "/etc/hostname").content.strip()), FileStep.of(ctx.file(host, "/etc/hosts")),
                 hosts_conflicts_step(ctx, host)]
    if inv.timezone:
        tz = q(inv.timezone)
        out.append(CommandStep(f"timezone {inv.timezone}",
                               f"[ \"$(readlink -f /etc/localtime)\" = /usr/share/zoneinfo/{tz} ]",
                               f"timedatectl set-timezone {tz} 2>/dev/null || ln -sfn /usr/share/zoneinfo/{tz} "
                               "/etc/localtime"))
    out.append(swap_off_step())
    out += selinux_steps(inv, host) + firewall_steps(inv, host)
    if host in inv.kube_nodes:
        modules = ctx.file(host, "/etc/modules-load.d/kubernetes.conf")
        sysctl = ctx.file(host, "/etc/sysctl.d/99-kubernetes.conf")
        names = [m.strip() for m in modules.content.splitlines() if m.strip() and not m.startswith("#")]
        out += [
            FileStep.of(modules),
            CommandStep("load " + " ".join(names), " && ".join(module_present(m) for m in names),
                        " && ".join(f"{{ {module_present(m)} || modprobe {q(m)}; }}" for m in names),
                        why="could not load kernel modules"),
            FileStep.of(sysctl, notify="sysctl"),
            CommandStep("apply Kubernetes sysctls", sysctl_check(sysctl.content), f"sysctl -q -p {q(sysctl.path)}",
                        when_notified="sysctl", why="could not apply sysctls"),
        ]
    rhel = ctx.family(host) == "rhel"
    if rhel:
        out += yum_mirror_steps(ctx, host)
    elif inv.package_mirrors.apt and os_:
        out.append(FileStep.of(ctx.file(host, APT_MIRROR_LIST), notify="apt-sources"))
        out.append(CommandStep("disable the distribution's own apt sources",
                               " && ".join(f"[ ! -e {p} ]" for p in DISTRO_SOURCES),
                               " ; ".join(f"if [ -e {p} ]; then mv -f {p} {p}.disabled-by-provisioner; fi"
                                          for p in DISTRO_SOURCES) + "; true"))
    if ctx.has_file(host, proxy.APT_CONF):     # before the first package: apt goes through the proxy
        out.append(FileStep.of(ctx.file(host, proxy.APT_CONF)))
    # gnupg: apt-key's successor dearmors the repository keys (dnf imports them itself)
    out.append(ctx.packages(host, {"chrony": None, "curl": None, "ca-certificates": None,
                                   **({} if rhel else {"gnupg": None})}))
    chrony = ctx.file(host, chrony_conf(os_))
    out.append(FileStep.of(chrony, notify="chrony"))
    out.append(ServiceStep(chrony_unit(os_), restart_on=("chrony",)))
    return out


PHASE = Phase("prep", "hostname, /etc/hosts, swap, kernel, package sources, chrony", lambda inv: inv.hosts, steps)
