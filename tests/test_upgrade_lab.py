"""`provisioner upgrade` on the lab: a 1.36 cluster built by `up` is upgraded to 1.37 across every node.

What is asserted: the refusals (a skipped minor, a downgrade) and `--plan` change nothing; the order, read from
the stand-in kubeadm's own call logs (the first control plane's `upgrade apply`, then each other control plane's
`upgrade node` one at a time, then the workers two at a time); every Node Ready with kubelet v1.37.1, the
packages at 1.37.1 and held; the API answering through the VIP all along (a probe loop on a load balancer,
five requests a second, records no failed request); a second run leaves every node alone; `up` with the old
version stops at its preflight and names the version to set; `up` at the new version converges (its second run
changes nothing).
Real parts: sshd, apt with the lab's pkgs.k8s.io-style repositories of both minors, haproxy, keepalived, the
real kubectl of each minor (drain, uncordon); kubeadm/kubelet/the API server are the stand-ins (tests/standins).
"""

from __future__ import annotations

import json

import pytest

from provisioner.versions import DEFAULT_VERSION
from tests.lab.util import wait_for
from tests.support.cli import run_cli
from tests.support.lab_inventory import lab_cli_args, lab_inventory, sh, standin_calls

OLD, NEW = "1.36.4", DEFAULT_VERSION
NODES = ["master1", "master2", "master3", "node1", "node2", "node3"]
KUBECTL = "kubectl --kubeconfig /etc/kubernetes/admin.conf"
PROBE = ("rm -f /tmp/probe.log /tmp/probe.done; touch /tmp/probe.run; nohup bash -c 'while [ -e /tmp/probe.run ]; do "
         "curl -sk -o /dev/null -w \"%{http_code}\\n\" --max-time 2 https://172.31.250.100:6443/version "
         ">>/tmp/probe.log; sleep 0.2; done; touch /tmp/probe.done' >/dev/null 2>&1 &")


@pytest.fixture(scope="module")
def cluster(pristine_lab, tmp_path_factory):
    lab, base = pristine_lab, tmp_path_factory.mktemp("upgrade")
    inv = lab_inventory(lab, base, kubernetes_version=OLD)
    state = base / "state"
    r = run_cli("up", "-i", str(inv), *lab_cli_args(lab, state), timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    return lab, inv, state


def kubelets(lab) -> dict[str, str]:
    nodes = json.loads(sh(lab, "master1", f"{KUBECTL} get nodes -o json").stdout)["items"]
    return {n["metadata"]["name"]: n["status"]["nodeInfo"]["kubeletVersion"] for n in nodes}


def test_refusals_and_the_plan_change_nothing(cluster):
    lab, inv, state = cluster
    skip = run_cli("upgrade", "-i", str(inv), "--to", "1.38.0", *lab_cli_args(lab, state),
                   env={"PROVISIONER_PRERELEASE": "1.38"})
    assert skip.returncode == 2, skip.stdout + skip.stderr
    assert f"upgrade: {OLD} -> 1.38.0 skips 1.37 - kubeadm upgrades one minor at a time: upgrade to {NEW} first" \
        in skip.stderr
    down = run_cli("upgrade", "-i", str(inv), "--to", "1.35.9", *lab_cli_args(lab, state))
    assert down.returncode == 2 and "is a downgrade" in down.stderr, down.stderr
    plan = run_cli("upgrade", "-i", str(inv), "--to", NEW, "--plan", "--batch", "2", *lab_cli_args(lab, state))
    assert plan.returncode == 0, plan.stderr
    lines = plan.stdout.splitlines()
    assert lines[0] == f"upgrade lab: {OLD} -> {NEW}"
    stages = [line for line in lines if not line.startswith(" ")]
    assert stages[1:] == ["1. first control plane: master1", "2. control plane: master2", "3. control plane: master3",
                          "4. workers: node1, node2 (in parallel)", "5. workers: node3"], stages
    assert f"   master1: kubeadm upgrade apply v{NEW} --yes" in lines and "   node3: kubeadm upgrade node" in lines
    assert set(kubelets(lab).values()) == {f"v{OLD}"}


def test_upgrade_moves_every_node_in_order_and_the_api_stays_up(cluster, tmp_path):
    lab, inv, state = cluster
    sh(lab, "ha2", PROBE)
    report = tmp_path / "upgrade.json"
    try:
        r = run_cli("upgrade", "-i", str(inv), "--to", NEW, "--batch", "2", "--json", str(report),
                    *lab_cli_args(lab, state), timeout=1500)
    finally:
        sh(lab, "ha2", "rm -f /tmp/probe.run")
        wait_for(lambda: sh(lab, "ha2", "test -e /tmp/probe.done && echo y || true").stdout.strip() == "y",
                 timeout=30, what="the probe loop to stop")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert f'set kubernetes_version: "{NEW}"' in r.stdout, r.stdout
    nodes = json.loads(report.read_text())["nodes"]
    assert [(n["host"], n["done"]) for n in nodes] == [(h, True) for h in NODES], nodes
    codes = sh(lab, "ha2", "cat /tmp/probe.log").stdout.split()
    assert len(codes) > 20 and set(codes) == {"200"}, f"{len(codes)} probes: {sorted(set(codes))}"
    # the order, from the stand-in kubeadm's call log on each node
    started = {}
    for host in NODES:
        calls = [c for c in standin_calls(lab, host) if c["argv"][:2] == ["kubeadm", "upgrade"]
                 and c["argv"][2] in ("apply", "node")]
        assert len(calls) == 1 and calls[0]["exit"] == 0, (host, calls)
        started[host] = calls[0]["time_ns"]
        assert calls[0]["argv"][2] == ("apply" if host == "master1" else "node"), calls
    assert started["master1"] < started["master2"] < started["master3"] < min(started["node1"], started["node2"])
    assert max(started["node1"], started["node2"]) < started["node3"]
    assert kubelets(lab) == {h: f"v{NEW}" for h in NODES}
    # the real kubectl drained master1 by evicting coredns (a ReplicaSet's pods; the rest are DaemonSets' or mirrors)
    log = "".join(p.read_text() for p in state.glob("logs/upgrade-2*.log"))      # not upgrade-plan-*
    assert "evicting pod kube-system/coredns-" in log and "node/master1 drained" in log, log[-3000:]
    for host in NODES:
        held = sh(lab, host, "dpkg-query -W -f='${Package} ${Version} ${db:Status-Abbrev}\\n' kubeadm kubelet "
                             "kubectl").stdout.split("\n")
        assert all(line.split()[1].startswith(f"{NEW}-") and line.split()[2].startswith("h")
                   for line in held if line), (host, held)
    cc = sh(lab, "master1", f"{KUBECTL} -n kube-system get cm kubeadm-config -o jsonpath='{{.data.ClusterConfiguration}}'")
    assert f"kubernetesVersion: v{NEW}" in cc.stdout
    version = sh(lab, "node1", "curl -sk https://172.31.250.100:6443/version").stdout
    assert json.loads(version)["gitVersion"] == f"v{NEW}"


def test_a_second_run_leaves_every_node_alone_and_up_at_the_new_version_converges(cluster, tmp_path):
    lab, inv, state = cluster
    again = run_cli("upgrade", "-i", str(inv), "--to", NEW, *lab_cli_args(lab, state), timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert all(f"upgrade: {h} " in again.stdout and f"already at {NEW}" in again.stdout for h in NODES), again.stdout
    stale = run_cli("up", "-i", str(inv), *lab_cli_args(lab, state), timeout=600)
    assert stale.returncode == 1, stale.stdout[-2000:] + stale.stderr[-2000:]
    assert f'set kubernetes_version: "{NEW}" in the inventory' in stale.stdout + stale.stderr
    inv.write_text(inv.read_text().replace(f"kubernetes_version: {OLD}", f"kubernetes_version: {NEW}"))
    first = run_cli("up", "-i", str(inv), "--json", "-", *lab_cli_args(lab, state), timeout=900)
    assert first.returncode == 0, first.stderr[-3000:]
    second = run_cli("up", "-i", str(inv), "--json", "-", *lab_cli_args(lab, state), timeout=600)
    assert second.returncode == 0 and json.loads(second.stdout)["changed"] == 0, second.stderr[-2000:]
