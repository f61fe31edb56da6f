"""Run `provisioner upgrade`: node by node in the order of :func:`~provisioner.daytwo.upgrade.stages`.

>>> run_upgrade(inv, Path("inv.yaml"), state_dir, keys, KubeVersion.parse("1.37.1"), batch=1)  # doctest: +SKIP
[NodeUpgrade(host='master1', role='first control plane', done=True, outcome='1.36.4 -> 1.37.1: ...'), ...]

Every node is read before it is touched: one that runs the target's kubelet, with kubeadm, kubelet and
kubectl at the target and the Node schedulable, is left alone ("already at"), so a run stopped half-way
resumes where it stopped (the first control plane's `kubeadm upgrade apply` only while the cluster's
kubeadm-config still names an older version). The repository file and the package steps are `up`'s own
(kube-packages), rendered from the inventory at the target version: what the next `up` wants, once the
inventory says that version. The journal records each upgraded node (phase ``upgrade``, the version).
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import yaml

from provisioner.daytwo.changed import changed_inventory
from provisioner.daytwo.hosts import DRAIN_TIMEOUT_S, drain, uncordon
from provisioner.daytwo.upgrade import READY_TIMEOUT_S, RESTART_KUBELET, check_target, kubeadm_command, stages
from provisioner.engine import build_context
from provisioner.factdata import Fact
from provisioner.inventory import Inventory
from provisioner.phases.base import KUBECTL, UpContext
from provisioner.phases.kube_packages import package_step, source_steps
from provisioner.remote import Remote, StepFailed
from provisioner.runlog import RunLog
from provisioner.session import Session
from provisioner.stepbase import StepContext
from provisioner.transport import HostKeys, Ssh, quote
from provisioner.versions import KubeVersion

PACKAGES = ("kubeadm", "kubelet", "kubectl")


@dataclass(frozen=True)
class NodeUpgrade:
    host: str
    role: str
    done: bool            # at the target version, Ready and schedulable
    outcome: str          # one line


@dataclass(frozen=True)
class ClusterVersions:
    cluster: KubeVersion                  # kubeadm-config's ClusterConfiguration.kubernetesVersion
    kubelets: dict[str, str]              # Node -> its kubelet's version (v1.36.4)
    unschedulable: frozenset[str]


def read_cluster(first: Remote) -> ClusterVersions:
    """The cluster's version and its Nodes, read on the first control plane with admin.conf."""
    cc = first.run(f"{KUBECTL} -n kube-system get configmap kubeadm-config "
                   "-o jsonpath='{.data.ClusterConfiguration}'", timeout=60, quiet=True,
                   why="cannot read the kubeadm-config ConfigMap on the first control plane")
    nodes = first.run(f"{KUBECTL} get nodes -o json", timeout=60, quiet=True, why="cannot list the Nodes")
    items = json.loads(nodes.stdout).get("items", [])
    return ClusterVersions(KubeVersion.parse(str(yaml.safe_load(cc.stdout)["kubernetesVersion"])),
                           {n["metadata"]["name"]: n["status"]["nodeInfo"]["kubeletVersion"] for n in items},
                           frozenset(n["metadata"]["name"] for n in items if n.get("spec", {}).get("unschedulable")))


def cluster_version(inv: Inventory, state_dir: Path, keys: Ssh | HostKeys, timeout: float) -> KubeVersion:
    """The version the cluster runs (its kubeadm-config), read on the first control plane."""
    first = inv.first_control_plane.hostname
    log = RunLog.create(state_dir, "upgrade-plan", lambda s: s)
    session = Session(inv, keys, log, lambda s: s, timeout, 1)
    try:
        session.open([first])
        return read_cluster(session.remotes[first]).cluster
    finally:
        session.close()
        log.close()


def run_steps(steps: list, remote: Remote, redact: Callable[[str], str]) -> list[str]:
    """Probe each step, apply what it would change (as `up` does, one host); the changes' names."""
    changed, notified = [], set()
    for step in steps:
        probe = step.probe()
        fact = None
        if probe is not None:
            res = remote.run(str(probe), check=False, quiet=True, timeout=120)
            fact = Fact(res.stdout, res.rc)
        change = step.change(fact, notified)
        if change is not None:
            step.apply(StepContext(remote, notified, redact), change)
            changed.append(change.step)
            if step.notify:
                notified.add(step.notify)
    return changed


def wait_ready(first: Remote, host: str, target: KubeVersion) -> None:
    """Until Node ``host`` is Ready with kubelet v``target`` (StepFailed after READY_TIMEOUT_S)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    read = f"{KUBECTL} get node {quote(host)} -o json"
    seen = ""
    while time.monotonic() < deadline:
        res = first.run(read, check=False, quiet=True, timeout=60)
        if res.ok:
            node = json.loads(res.stdout)
            ready = any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", []))
            seen = f"kubelet {node['status']['nodeInfo']['kubeletVersion']}, Ready={ready}"
            if ready and node["status"]["nodeInfo"]["kubeletVersion"] == f"v{target}":
                return
        time.sleep(2)
    raise StepFailed(host, read, None, seen, f"Node {host} is not Ready with kubelet v{target} after "
                                             f"{READY_TIMEOUT_S} s ({seen or 'not read'})")


def upgrade_node(ctx: UpContext, session: Session, versions: ClusterVersions, role: str, host: str,
                 target: KubeVersion, log: RunLog) -> NodeUpgrade:
    h = ctx.inv.host(host)
    remote, first = session.remotes[host], session.remotes[ctx.inv.first_control_plane.hostname]
    packages = package_step(ctx, h, PACKAGES)
    probe = remote.run(str(packages.probe()), check=False, quiet=True, timeout=120)
    if (versions.kubelets.get(host) == f"v{target}" and host not in versions.unschedulable
            and packages.change(Fact(probe.stdout, probe.rc), set()) is None):
        return NodeUpgrade(host, role, True, f"already at {target}")
    before = versions.kubelets.get(host, "?").lstrip("v")
    done = []
    run_steps([*source_steps(ctx, h), package_step(ctx, h, ("kubeadm",))], remote, log.redactor)
    if role == "first control plane" and versions.cluster != target:
        plan = remote.run(f"kubeadm upgrade plan v{target}", timeout=300, why="kubeadm upgrade plan failed")
        log.note(host, "kubeadm upgrade plan:\n" + plan.stdout)
    if role != "first control plane" or versions.cluster != target:
        remote.run(kubeadm_command(role, target), timeout=900, why=f"{kubeadm_command(role, target)} failed")
        done.append(kubeadm_command(role, target).split(" --")[0])
    first.run(drain(host), timeout=DRAIN_TIMEOUT_S + 60, why=f"kubectl drain {host} failed")
    run_steps([package_step(ctx, h, ("kubelet", "kubectl"))], remote, log.redactor)
    remote.run(RESTART_KUBELET, timeout=120, why="the kubelet did not restart")
    first.run(uncordon(host), timeout=60, why=f"kubectl uncordon {host} failed")
    wait_ready(first, host, target)
    ctx.journal.record(host, "upgrade", f"v{target}")
    return NodeUpgrade(host, role, True, f"{before} -> {target}: {', '.join(done + ['drained', 'kubelet restarted', 'uncordoned', 'Ready'])}")


def run_upgrade(inv: Inventory, inv_path: Path, state_dir: Path, keys: Ssh | HostKeys, target: KubeVersion,
                batch: int, timeout: float = 10, say: Callable[[str], None] = print) -> list[NodeUpgrade]:
    """Upgrade every node to ``target`` (UsageError before any change when the upgrade is not allowed;
    UnreachableHosts when a node does not answer). Stops at the first node that fails."""
    target_inv = changed_inventory(inv_path, lambda d: {**d, "kubernetes_version": str(target)}, "upgrade",
                                   f"at {target}")
    base = build_context(target_inv, state_dir)

    def redact(text: str) -> str:
        for value in sorted(base.secrets.values(), key=len, reverse=True):
            text = text.replace(value, "<redacted>") if value else text
        return text

    log = RunLog.create(state_dir, "upgrade", redact)
    session = Session(target_inv, keys, log, redact, timeout, 32)
    try:
        session.open([h.hostname for h in target_inv.kube_nodes])
        versions = read_cluster(session.remotes[target_inv.first_control_plane.hostname])
        if versions.cluster != target:
            check_target(versions.cluster, target)
        ctx = replace(base, os=session.os, remotes=session.remotes)
        results: list[NodeUpgrade] = []
        for stage in stages(target_inv, batch):
            with ThreadPoolExecutor(max_workers=len(stage.hosts)) as pool:
                futures = [pool.submit(upgrade_node, ctx, session, versions, stage.role, host, target, log)
                           for host in stage.hosts]
                for host, future in zip(stage.hosts, futures):
                    try:
                        results.append(future.result())
                    except StepFailed as exc:
                        last = (exc.tail.strip().splitlines() or [""])[-1]
                        results.append(NodeUpgrade(host, stage.role, False, f"failed: {exc.why}: {last}"))
            for r in results[-len(stage.hosts):]:
                say(f"upgrade: {r.host} ({r.role}) {r.outcome}")
            if not all(r.done for r in results):
                break           # each node healthy before the next
        return results
    finally:
        session.close()
        log.close()
