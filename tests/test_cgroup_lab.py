"""cgroup v1 on one lab node (tests/lab/faults.py cgroup_v1: tmpfs over /sys/fs/cgroup for SSH
sessions and the kubelet): preflight fails that node naming the check and the fix, `up` refuses to
start, and the stand-in kubelet refuses the host as upstream's does (kubernetes/kubernetes
pkg/kubelet/apis/config/validation/validation_linux.go, failCgroupV1 default true from 1.35, #134298).
"""

from __future__ import annotations

import subprocess

from tests.standins import build
from tests.support.cli import run_cli
from tests.support.lab_inventory import lab_cli_args, lab_inventory, sh
from tests.test_preflight_lab import KUBE_NODES, check, failing, preflight


def test_lab_nodes_are_cgroup_v2(lab, tmp_path):
    code, report, stderr = preflight(lab, lab_inventory(lab, tmp_path))
    for name in KUBE_NODES:
        assert check(report, name, "os.cgroup_unified")["status"] == "pass", check(report, name, "os.cgroup_unified")


def test_cgroup_v1_node_fails_preflight_and_up_refuses(lab, faults, tmp_path):
    inventory = lab_inventory(lab, tmp_path)
    faults.cgroup_v1("node1")
    code, report, _ = preflight(lab, inventory)
    assert code == 1
    assert failing(report) == {"node1": ["os.cgroup_unified"]}
    c = check(report, "node1", "os.cgroup_unified")
    assert c["observed"] == "cgroup v1 (/sys/fs/cgroup is tmpfs)"
    assert "refuses cgroup v1" in c["fix"] and "systemd.unified_cgroup_hierarchy=1" in c["fix"]
    r = run_cli("up", "-i", str(inventory), *lab_cli_args(lab, tmp_path / "state"))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "preflight failed" in r.stdout + r.stderr and "os.cgroup_unified" in r.stdout + r.stderr


def test_standin_kubelet_refuses_the_cgroup_v1_node(lab, faults, tmp_path):
    kubelet_deb = next(d for d in build.ensure_built().all() if d.name.startswith("kubelet_"))
    subprocess.run(["dpkg-deb", "-x", str(kubelet_deb), str(tmp_path)], check=True)
    node = lab.node("node2")
    target = node.path("/usr/local/bin/kubelet-cgroup-test")
    # The program itself (/usr/bin/kubelet is a launcher that finds it beside the package's other files)
    target.write_bytes((tmp_path / "usr/lib/provisioner-standins/kubelet/kubelet.py").read_bytes())
    target.chmod(0o755)
    cfg = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
    node.path("/root/kubelet-cgroup-test.yaml").write_text(cfg)
    run = ("/usr/local/bin/kubelet-cgroup-test --config=/root/kubelet-cgroup-test.yaml "
           "--container-runtime-endpoint=unix:///run/nothing.sock")
    try:
        before = sh(lab, "node2", run)           # cgroup v2: gets past the check, to the CRI socket
        assert "cgroup v1" not in before.stderr and "validate CRI v1 runtime API" in before.stderr, before.stderr
        faults.cgroup_v1("node2")
        after = sh(lab, "node2", run)
        assert after.rc == 1
        assert "kubelet is configured to not run on a host using cgroup v1" in after.stderr, after.stderr
    finally:
        target.unlink(missing_ok=True)
        node.path("/root/kubelet-cgroup-test.yaml").unlink(missing_ok=True)
