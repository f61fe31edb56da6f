"""`provisioner upgrade --to VERSION`: which upgrade is allowed, in which order, with which commands.

>>> check_target(KubeVersion.parse("1.36.4"), KubeVersion.parse("1.38.0"))      # doctest: +SKIP
UsageError: upgrade: 1.36.4 -> 1.38.0 skips 1.37 - kubeadm upgrades one minor at a time: upgrade to 1.37.1 first

The order is upstream's (kubernetes.io "Upgrading kubeadm clusters"): the first control plane (`kubeadm upgrade
apply`), the other control planes one at a time (`kubeadm upgrade node`), then the workers in batches of
``--batch``. Every node: the repository of the new minor and kubeadm at the new version (held again), the
kubeadm step, drain, kubelet and kubectl at the new version, kubelet restarted, uncordon, then it must be Ready
with the new kubelet before the next one starts. The execution: :mod:`provisioner.daytwo.upgrade_run`.
"""

from __future__ import annotations

from dataclasses import dataclass

from provisioner.daytwo.hosts import drain, uncordon
from provisioner.errors import UsageError
from provisioner.inventory import Inventory
from provisioner.versions import LATEST_PATCH, KubeVersion, is_supported, refusal

READY_TIMEOUT_S = 180
RESTART_KUBELET = "systemctl daemon-reload && systemctl restart kubelet"


@dataclass(frozen=True)
class Stage:
    role: str                  # first control plane | control plane | workers
    hosts: tuple[str, ...]     # upgraded together (workers: a batch)


def check_target(current: KubeVersion, target: KubeVersion) -> None:
    """UsageError unless ``target`` is this release's to install and one minor (or patches) above ``current``."""
    if not is_supported(target):
        raise UsageError(f"upgrade: --to {target}: {refusal(target)}")
    if (target.major, target.minor) < (current.major, current.minor) or \
            (target.minor == current.minor and target.patch < current.patch):
        raise UsageError(f"upgrade: the cluster runs {current}; --to {target} is a downgrade, which kubeadm does not do")
    if target.minor > current.minor + 1:
        step = current.minor + 1
        patch = f"1.{step}.{LATEST_PATCH[step]}" if step in LATEST_PATCH else f"1.{step}"
        raise UsageError(f"upgrade: {current} -> {target} skips 1.{step} - kubeadm upgrades one minor at a time: "
                         f"upgrade to {patch} first")


def stages(inv: Inventory, batch: int) -> list[Stage]:
    """The order nodes are upgraded in."""
    first, *others = [h.hostname for h in inv.control_planes]
    workers = [h.hostname for h in inv.workers]
    return ([Stage("first control plane", (first,))] + [Stage("control plane", (cp,)) for cp in others]
            + [Stage("workers", tuple(workers[i:i + batch])) for i in range(0, len(workers), batch)])


def kubeadm_command(role: str, target: KubeVersion) -> str:
    if role == "first control plane":
        return f"kubeadm upgrade apply v{target} --yes"
    return "kubeadm upgrade node"


def plan_lines(inv: Inventory, current: KubeVersion, target: KubeVersion, batch: int) -> list[str]:
    """What `upgrade --plan` prints: the order and every command, where it runs."""
    first = inv.first_control_plane.hostname
    minor = target.minor_str
    lines = [f"upgrade {inv.cluster_name}: {current} -> {target}"]
    for n, stage in enumerate(stages(inv, batch), 1):
        lines.append(f"{n}. {stage.role}: {', '.join(stage.hosts)}" + (" (in parallel)" if len(stage.hosts) > 1 else ""))
        for host in stage.hosts:
            lines += [f"   {host}: the pkgs.k8s.io v{minor} repository; kubeadm {target} (held again)",
                      *([f"   {host}: kubeadm upgrade plan v{target}"] if stage.role == "first control plane" else []),
                      f"   {host}: {kubeadm_command(stage.role, target)}",
                      f"   {first}: {drain(host)}",
                      f"   {host}: kubelet and kubectl {target} (held again); {RESTART_KUBELET}",
                      f"   {first}: {uncordon(host)}",
                      f"   {first}: wait until Node {host} is Ready with kubelet v{target} ({READY_TIMEOUT_S} s)"]
    return lines
