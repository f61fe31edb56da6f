"""`up` killed inside kubeadm init / join, interrupted with Ctrl-C, and `reset` connecting only where it must.

One lab boot for the module; the tests build on each other, in file order:

1. SIGKILL of `up` (and of the kubeadm it started) at two points inside `kubeadm init` on master1 and at
   two points inside the serial control-plane joins (master2 after kubelet-start: kubelet.conf and a Node,
   no etcd member; master3 after its etcd member was announced, before it started). Each next `up` says
   the node is half-done, runs `kubeadm reset -f` on that node only and does it again; the last `up`
   completes and a further one changes nothing. No temp dir or token-bearing config is left on a node.
2. SIGINT during master2's (slowed) `kubeadm join` in join-control-planes: the join completes, master3
   is not started, the --json report is written, exit 130.
3. `reset --limit ha1` logs in nowhere but ha1 (here: nowhere - ha1 is no Kubernetes node); `reset --limit
   master3` logs in on master3 and on one control plane that stays, to check its etcd member left.

The stand-in kubeadm stops where a test says (/etc/standins/kubeadm-pause, see tests/standins/README.md)
at the points between upstream's phases: cmd/kubeadm/app/cmd/init.go (certs, kubeconfig, etcd,
control-plane, kubelet-start, wait-control-plane, ...) and cmd/kubeadm/app/cmd/join.go (preflight,
control-plane-prepare, check-etcd, kubelet-start, control-plane-join) in kubernetes/kubernetes.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from tests.support.cli import REPO, run_cli, spawn_cli
from tests.support.lab_inventory import lab_cli_args, lab_inventory, sh
from tests.support.lab_inventory import standin_calls as calls

CPS = ["master1", "master2", "master3"]
WORKERS = ["node1", "node2", "node3"]
LBS = ["ha1", "ha2"]
KUBE = CPS + WORKERS
PAUSED = "/run/standins/kubeadm-paused"


@pytest.fixture(scope="module")
def cluster(pristine_lab, tmp_path_factory):
    base = tmp_path_factory.mktemp("halfdone")
    inv = lab_inventory(pristine_lab, base)
    return pristine_lab, inv, base / "state"




def kubeadm_resets(lab) -> dict[str, int]:
    return {n: sum(1 for c in calls(lab, n) if c["prog"] == "kubeadm" and c["argv"][1:2] == ["reset"]
                   and "-f" in c["argv"]) for n in KUBE}


def up_args(cluster, *extra):
    lab, inv, state = cluster
    return [sys.executable, "-m", "provisioner", "up", "-i", str(inv), *lab_cli_args(lab, state), *extra]


def start_up(cluster, log_path, *extra):
    """`provisioner up` in the background (SIGINT at its default: see tests.support.cli.spawn_cli)."""
    lab, inv, state = cluster
    return spawn_cli("up", "-i", str(inv), *lab_cli_args(lab, state), *extra, stdout=subprocess.DEVNULL,
                     stderr=open(log_path, "w"))


def pause(lab, node, step, seconds=900):
    sh(lab, node, f"mkdir -p /etc/standins && echo 'step={step} seconds={seconds}' > /etc/standins/kubeadm-pause")


def wait_paused(lab, node, proc, step, log, deadline=900) -> int:
    """Poll until kubeadm on ``node`` sits at ``step``; its pid."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        text = sh(lab, node, f"cat {PAUSED} 2>/dev/null || true").stdout
        if f"step={step}" in text:
            return int(text.split("pid=")[1].split()[0])
        if proc.poll() is not None:
            raise AssertionError(f"up ended (exit {proc.returncode}) before kubeadm reached {step} on {node}:\n"
                                 + log.read_text()[-4000:])
        time.sleep(1)
    raise AssertionError(f"kubeadm never reached {step} on {node}:\n" + log.read_text()[-4000:])


def kill_inside(cluster, tmp_path, node, step, name) -> str:
    """Start `up`, SIGKILL it and the kubeadm it started once kubeadm sits at ``step`` on ``node``; its stderr."""
    lab = cluster[0]
    pause(lab, node, step)
    log = tmp_path / f"{name}.log"
    proc = start_up(cluster, log)
    try:
        pid = wait_paused(lab, node, proc, step, log)
        proc.kill()
        proc.wait(timeout=60)
        # Without a pty nothing signals the remote command when the SSH session dies: kill it as a crash would.
        sh(lab, node, f"kill -9 {pid}; rm -f {PAUSED}")
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    return log.read_text()


def test_killed_inside_init_and_control_plane_joins_then_up_redoes_only_those_nodes(cluster, tmp_path):
    lab, inv, state = cluster
    # 1. init killed after its kubeconfig phase: admin.conf and kubelet.conf exist, no API, no etcd.
    kill_inside(cluster, tmp_path, "master1", "init/kubeconfig", "run1")
    assert sh(lab, "master1", "ls /etc/kubernetes/admin.conf").rc == 0
    # 2. the next run finds it half-done, resets it, and is killed again after kubelet-start.
    text = kill_inside(cluster, tmp_path, "master1", "init/kubelet-start", "run2")
    assert "master1: half-initialized (admin.conf" in text, text[-3000:]
    assert "kubeadm reset -f, initializing again" in text
    assert kubeadm_resets(lab) == {**{n: 0 for n in KUBE}, "master1": 1}
    # 3. init completes; master2's join is killed after kubelet-start: kubelet.conf + Node, no etcd member.
    pause(lab, "master3", "join/etcd-member-added")       # used by the run after
    text = kill_inside(cluster, tmp_path, "master2", "join/kubelet-start", "run3")
    assert "master1: half-initialized (" in text, text[-3000:]
    assert sh(lab, "master2", "ls /etc/kubernetes/kubelet.conf").rc == 0
    # 4. master2 is redone; master3's join is killed after its etcd member was announced.
    text = kill_inside(cluster, tmp_path, "master3", "join/etcd-member-added", "run4")
    assert "master2: half-joined (" in text and "no etcd member" in text, text[-3000:]
    assert "master2: half-joined" in text and "kubeadm reset -f, joining again" in text
    # 5. completes: master3 is redone too.
    r = subprocess.run(up_args(cluster, "--json", str(tmp_path / "run5.json")), cwd=REPO, capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "master3: half-joined (" in r.stderr and "no etcd member" in r.stderr, r.stderr[-3000:]
    assert "master1: half" not in r.stderr and "master2: half" not in r.stderr
    # kubeadm reset -f ran on the half-done nodes only, once per half state found
    assert kubeadm_resets(lab) == {**{n: 0 for n in KUBE}, "master1": 2, "master2": 1, "master3": 1}
    members = sh(lab, "master1", "curl -fsS --cacert /etc/kubernetes/pki/etcd/ca.crt --cert "
                                 "/etc/kubernetes/pki/etcd/healthcheck-client.crt --key "
                                 "/etc/kubernetes/pki/etcd/healthcheck-client.key -X POST -d '{}' "
                                 "https://127.0.0.1:2379/v3/cluster/member/list").stdout
    assert sorted(m.get("name", "?") for m in json.loads(members)["members"]) == CPS
    nodes = sh(lab, "master1", "kubectl --kubeconfig=/etc/kubernetes/admin.conf get nodes --no-headers").stdout
    assert sorted(line.split()[0] for line in nodes.splitlines()) == sorted(KUBE)
    # nothing left behind: our temp dirs, the configs that carry the token and certificate key
    for node in KUBE + LBS:
        left = sh(lab, node, "ls -d /tmp/.provisioner.* /etc/kubernetes/provisioner/kubeadm-*.yaml "
                             "/etc/standins/kubeadm-pause 2>/dev/null || true").stdout.split()
        assert left == [], (node, left)
    # 6. a further run changes nothing
    r = run_cli("up", "-i", str(inv), *lab_cli_args(lab, state), "--json", "-", timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads(r.stdout)
    assert report["changed"] == 0, [(p["name"], h["host"], h["changes"]) for p in report["phases"]
                                    for h in p["hosts"] if h["changes"]]


def test_ctrl_c_in_the_serial_join_lets_the_join_finish(cluster, tmp_path):
    lab, inv, state = cluster
    r = run_cli("reset", "-i", str(inv), *lab_cli_args(lab, state), "--limit", "master2,master3", "--yes",
                timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    started = time.time_ns()
    pause(lab, "master2", "join/kubelet-start", seconds=8)      # kubeadm join still running when Ctrl-C comes
    report = tmp_path / "report.json"
    proc = start_up(cluster, tmp_path / "sigint.log", "--json", str(report))
    try:
        wait_paused(lab, "master2", proc, "join/kubelet-start", tmp_path / "sigint.log")
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=600)
        exited = time.time_ns()          # nodes share this machine's kernel clock
    finally:
        if proc.poll() is None:
            proc.kill()
    text = (tmp_path / "sigint.log").read_text()
    assert proc.returncode == 130, text[-3000:]
    joins = {n: [c for c in calls(lab, n) if c["prog"] == "kubeadm" and c["argv"][1:2] == ["join"]
                 and c["time_ns"] > started] for n in ("master2", "master3")}
    assert [c["exit"] for c in joins["master2"]] == [0], joins["master2"]    # finished, not cut
    # ... and `up` waited for it: it did not abandon the join and exit while kubeadm was still running
    assert joins["master2"][0]["end_ns"] <= exited
    assert "interrupted: each host finishes the step it is in" in text
    assert joins["master3"] == [], "master3 must not start after Ctrl-C"
    data = json.loads(report.read_text())
    assert data["interrupted"] is True
    assert "join-control-planes" in [p["name"] for p in data["phases"]]
    assert sh(lab, "master2", "ls /etc/kubernetes/provisioner/kubeadm-join.yaml 2>/dev/null | wc -l").stdout.strip() == "0"
    r = run_cli("up", "-i", str(inv), *lab_cli_args(lab, state), timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "master2: half" not in r.stderr


def _logins(lab, since: float, until: float) -> dict[str, int]:
    counts = {}
    for node in KUBE + LBS:
        out = sh(lab, node, f"journalctl -u ssh --since @{since:.3f} --until @{until:.3f} -o cat --no-pager"
                            " | grep -c 'Accepted publickey' || true").stdout.strip()
        counts[node] = int(out or 0)
    return counts


def test_reset_connects_only_to_the_limited_hosts(cluster):
    lab, inv, state = cluster
    since = time.time()
    r = run_cli("reset", "-i", str(inv), *lab_cli_args(lab, state), "--limit", "ha1", "--yes", timeout=300)
    until = time.time()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ha1: nothing to reset" in r.stdout
    assert _logins(lab, since, until) == {n: 0 for n in KUBE + LBS}
    since = time.time()
    r = run_cli("reset", "-i", str(inv), *lab_cli_args(lab, state), "--limit", "master3", "--yes", timeout=300)
    until = time.time()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "master3: reset (etcd member removed, checked on master1)" in r.stdout
    assert _logins(lab, since, until) == {**{n: 0 for n in KUBE + LBS}, "master3": 1, "master1": 1}
    r = run_cli("up", "-i", str(inv), *lab_cli_args(lab, state), timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
