"""SELinux mode and the host firewall (firewalld or ufw), as the inventory's ``selinux:`` and ``firewall:`` say.

SELinux, on hosts that have it (getenforce on PATH): ``permissive`` does what the kubeadm install guide
does (``setenforce 0`` and SELINUX=permissive in /etc/selinux/config); ``enforcing`` keeps it, installs
container-selinux where dnf has it, lets haproxy connect to the API port (boolean haproxy_connect_any) and
labels keepalived's check script keepalived_unconfined_script_exec_t so keepalived may run it.

Firewall, only where one is active: ``managed`` opens exactly the ports of the host's roles
(provisioner/firewall.py) in the zone of its nic, permanently and then live (firewall-cmd --permanent,
then --reload), or with ``ufw allow``; ``disabled`` stops and disables firewalld and ufw.
"""

from __future__ import annotations

from provisioner import firewall
from provisioner.phases.base import q
from provisioner.render import CHECK_SCRIPT
from provisioner.steps import CommandStep

HAS_SELINUX = "command -v getenforce >/dev/null 2>&1"
SELINUX_CONFIG = "/etc/selinux/config"
KEEPALIVED_SCRIPT_TYPE = "keepalived_unconfined_script_exec_t"
FIREWALLD_ACTIVE = "systemctl is-active -q firewalld 2>/dev/null"
UFW_BEFORE_RULES = "/etc/ufw/before.rules"
UFW_VRRP_RULE = "-A ufw-before-input -p 112 -j ACCEPT"     # IP protocol 112; ufw's own syntax has no vrrp


def selinux_steps(inv, host) -> list:
    if inv.selinux == "permissive":
        # The kubeadm install guide's two commands; the sed only rewrites an enforcing line.
        return [CommandStep(
            "SELinux permissive (live and /etc/selinux/config)",
            f"! {HAS_SELINUX} || {{ [ \"$(getenforce)\" != Enforcing ] && "
            f"! grep -q '^SELINUX=enforcing$' {SELINUX_CONFIG} 2>/dev/null; }}",
            f"if [ \"$(getenforce)\" = Enforcing ]; then setenforce 0; fi && "
            f"sed -i 's/^SELINUX=enforcing$/SELINUX=permissive/' {SELINUX_CONFIG}",
            why="could not make SELinux permissive")]
    out = [CommandStep("container-selinux installed (dnf hosts)",
                       f"! {HAS_SELINUX} || ! command -v dnf >/dev/null 2>&1 || rpm -q container-selinux >/dev/null",
                       "dnf -y install container-selinux", why="could not install container-selinux")]
    if host in inv.load_balancers:
        out.append(CommandStep("SELinux boolean haproxy_connect_any on",
                               f"! {HAS_SELINUX} || [ \"$(getsebool haproxy_connect_any)\" = "
                               "'haproxy_connect_any --> on' ]",
                               "setsebool -P haproxy_connect_any 1", why="could not set haproxy_connect_any"))
    return out


def keepalived_script_context_step() -> CommandStep:
    """The check script's SELinux type (after the lb phase wrote it): a rule, then restorecon."""
    spec = q(CHECK_SCRIPT.replace(".", r"\."))
    path = q(CHECK_SCRIPT)
    return CommandStep(
        f"SELinux type {KEEPALIVED_SCRIPT_TYPE} on {CHECK_SCRIPT}",
        f"! {HAS_SELINUX} || [ \"$(getenforce)\" != Enforcing ] || "
        f"{{ semanage fcontext -l -C | grep -q \"^{CHECK_SCRIPT.replace('.', chr(92) * 2 + '.')} .*:{KEEPALIVED_SCRIPT_TYPE}:\" "
        f"&& [ -z \"$(restorecon -n -v {path})\" ]; }}",
        f"{{ semanage fcontext -a -t {KEEPALIVED_SCRIPT_TYPE} {spec} 2>/dev/null || "
        f"semanage fcontext -m -t {KEEPALIVED_SCRIPT_TYPE} {spec}; }} && restorecon -v {path}",
        why="could not label keepalived's check script")


def _zone(host) -> str:
    """The zone of the host's nic (firewalld puts an unassigned interface in the default zone)."""
    nic = q(host.nic or "eth0")
    return f"{{ z=$(firewall-cmd --get-zone-of-interface={nic} 2>/dev/null) || z=$(firewall-cmd --get-default-zone); }}"


def _all_listed(listing: str, items) -> str:
    return " && ".join(f"[[ \" ${listing} \" == *\" {i} \"* ]]" for i in items)


def firewall_steps(inv, host) -> list:
    if inv.firewall == "disabled":
        return [CommandStep("firewalld stopped and disabled",
                            f"! {FIREWALLD_ACTIVE} && ! systemctl is-enabled -q firewalld 2>/dev/null",
                            "systemctl disable --now firewalld", why="could not stop firewalld"),
                CommandStep("ufw disabled", f"! {firewall.UFW_ACTIVE}", "ufw disable", why="could not disable ufw")]
    want = firewall.openings(inv, host)
    ports, protos = want.ports, want.protocols
    # ports and protocols in calls of their own: firewall-cmd refused the two options in one call here (exit 2)
    adds = " && ".join(f"firewall-cmd --permanent --zone=\"$z\" {' '.join(opts)}" for opts in (
        [f"--add-port={p}" for p in ports], [f"--add-protocol={p}" for p in protos]) if opts)
    listed = (f"{_zone(host)} && rp=$(firewall-cmd --zone=\"$z\" --list-ports) && "
              f"pp=$(firewall-cmd --permanent --zone=\"$z\" --list-ports) && "
              f"rv=$(firewall-cmd --zone=\"$z\" --list-protocols) && "
              f"pv=$(firewall-cmd --permanent --zone=\"$z\" --list-protocols)")
    tests = [_all_listed(var, items) for var, items in (("rp", ports), ("pp", ports), ("rv", protos), ("pv", protos))
             if items]
    check = f"! {FIREWALLD_ACTIVE} || {{ {' && '.join([listed, *tests])}; }}"
    out = [CommandStep(f"firewalld opens {want.describe()}", check,
                       f"{_zone(host)} && {adds} && firewall-cmd --reload",
                       why="could not open the cluster ports in firewalld")]
    rules = [firewall.ufw_rule(p) for p in ports]
    ufw_check = (f"! {firewall.UFW_ACTIVE} || {{ s=$(ufw status) && "
                 + " && ".join(f"grep -q '^{r} ' <<<\"$s\"" for r in rules)
                 + (f" && grep -qF -- {q(UFW_VRRP_RULE)} {UFW_BEFORE_RULES}" if protos else "") + "; }")
    ufw_cmd = " && ".join(f"ufw allow {r}" for r in rules)
    if protos:
        # before.rules' filter table ends with its one COMMIT line; ufw reload applies it.
        ufw_cmd += (f" && {{ grep -qF -- {q(UFW_VRRP_RULE)} {UFW_BEFORE_RULES} || "
                    f"sed -i {q('/^COMMIT$/i ' + UFW_VRRP_RULE)} {UFW_BEFORE_RULES}; }} && ufw reload")
    out.append(CommandStep(f"ufw allows {want.describe()}", ufw_check, ufw_cmd,
                           why="could not open the cluster ports in ufw"))
    return out
