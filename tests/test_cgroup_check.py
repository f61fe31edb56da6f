"""cgroup v2 for Kubernetes 1.35+: the preflight check, the OS rule per minor, and the fact
command against real mounts (a private mount namespace with tmpfs or cgroup2 on /sys/fs/cgroup).

Upstream: the kubelet refuses a host not in cgroup v2 unified mode when failCgroupV1 is true, the
default from 1.35 (kubernetes/kubernetes pkg/kubelet/apis/config/validation/validation_linux.go
validateKubeletOSConfiguration; #134298). Unified mode is runc's IsCgroup2UnifiedMode: statfs of
/sys/fs/cgroup is cgroup2 - a v1 or hybrid host has tmpfs there.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from provisioner.checks import NODE_CHECKS
from provisioner.checks.base import FAIL, PASS, WARN, Fact, Facts, Node
from provisioner.checks.system import CGROUP_FACT
from provisioner.inventory import Inventory
from provisioner.validation import load_inventory
from tests.support.skips import need_root, need_tool

LAB = load_inventory(Path(__file__).resolve().parents[1] / "inventories/lab.yaml")
CHECKS = {c.id: c for c in NODE_CHECKS}


def _node(facts: dict, version: str = "1.37.1") -> Node:
    inv = Inventory.model_validate({**LAB.model_dump(mode="json", exclude_none=True), "kubernetes_version": version})
    return Node(inv.host("node1"), inv, Facts({k: Fact(v, 0) for k, v in facts.items()}))


@pytest.mark.parametrize("fs,version,status", [
    ("cgroup2", "1.37.1", PASS),
    ("tmpfs", "1.37.1", FAIL),
    ("tmpfs", "1.35.9", FAIL),
    ("tmpfs", "1.34.11", WARN),       # 1.34's kubelet still starts on v1 (failCgroupV1 false)
    ("none", "1.36.4", FAIL),
])
def test_cgroup_check(fs, version, status):
    node = _node({"os.cgroup": fs}, version)
    verdict = CHECKS["os.cgroup_unified"].evaluate(node.facts, node)
    assert verdict.status == status, verdict
    if status != PASS:
        assert fs in verdict.observed and "systemd.unified_cgroup_hierarchy=1" in verdict.fix
        assert "an OS that defaults to v2" in verdict.fix


@pytest.mark.parametrize("os_release,fs,version,status", [
    ('ID=ubuntu\nVERSION_ID="20.04"', "tmpfs", "1.37.1", FAIL),     # boots v1: refused for 1.35+
    ('ID=ubuntu\nVERSION_ID="20.04"', "cgroup2", "1.37.1", PASS),   # unless the host reports v2
    ('ID=ubuntu\nVERSION_ID="20.04"', "tmpfs", "1.34.11", PASS),
    ('ID=rocky\nVERSION_ID="8.10"', "tmpfs", "1.35.9", FAIL),
    ('ID=rocky\nVERSION_ID="9.4"', "cgroup2", "1.37.1", PASS),
    ('ID=debian\nVERSION_ID="12"', "cgroup2", "1.37.1", PASS),
])
def test_supported_os_per_minor(os_release, fs, version, status):
    node = _node({"os.release": os_release, "os.cgroup": fs}, version)
    verdict = CHECKS["os.supported"].evaluate(node.facts, node)
    assert verdict.status == status, verdict
    if status == FAIL:
        assert "cgroup v1" in verdict.observed and "systemd.unified_cgroup_hierarchy=1" in verdict.fix


@pytest.mark.parametrize("mount,expected", [("tmpfs", "tmpfs"), ("cgroup2", "cgroup2")])
def test_fact_reads_the_real_mount(mount, expected):
    need_root("mounts a file system over /sys/fs/cgroup in a private mount namespace")
    need_tool("unshare", "apt-get install util-linux")
    script = f"mount -t {mount} none /sys/fs/cgroup && {CGROUP_FACT['os.cgroup']}"
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "bash", "-c", script],
                       capture_output=True, text=True, timeout=30)
    assert (r.returncode, r.stdout.strip()) == (0, expected), r.stderr


def test_check_ids_fit_the_report_schema():
    # provisioner/schemas/preflight-report.schema.json: check ids are letters and underscores around one dot.
    import json
    import re

    from provisioner.report import SCHEMA_PATH

    schema = json.loads(SCHEMA_PATH.read_text())
    pattern = schema["properties"]["hosts"]["items"]["properties"]["checks"]["items"]["properties"]["id"]["pattern"]
    assert all(re.match(pattern, c.id) for c in NODE_CHECKS), [c.id for c in NODE_CHECKS if not re.match(pattern, c.id)]
