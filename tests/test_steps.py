"""The decisions of `up`'s steps, facts in / change out (no host): what differs gets changed, nothing else."""

from __future__ import annotations

import hashlib

import pytest

from provisioner.checks.base import Fact
from provisioner.engine import UpOptions, inputs_hash, select_phases
from provisioner.errors import UsageError
from provisioner.phases import PHASE_NAMES, PHASES
from provisioner.phases.material import go_seconds
from provisioner.checks.kernel import module_present
from provisioner.steps import CommandStep, FileStep, PackagesStep, ServiceStep, _merge_block

BLOCK = "# BEGIN provisioner cluster lab (managed)\n10.0.0.1 a\n# END provisioner cluster lab\n"


def test_phases_in_the_runbook_order():
    assert PHASE_NAMES == ["prep", "lb", "runtime", "kube-packages", "init", "cni", "join-control-planes",
                           "join-workers", "verify"]
    assert [p.name for p in PHASES if p.serial] == ["join-control-planes"]
    assert [p.name for p in PHASES if not p.journaled] == ["verify"]


def test_select_phases():
    assert [p.name for p in select_phases(UpOptions(only="lb"))] == ["lb"]
    assert [p.name for p in select_phases(UpOptions(start="cni"))][:2] == ["cni", "join-control-planes"]
    with pytest.raises(UsageError, match="unknown phase 'lbs' - choose from prep, lb"):
        select_phases(UpOptions(only="lbs"))
    with pytest.raises(UsageError):
        select_phases(UpOptions(only="lb", start="prep"))


def test_merge_block_replaces_only_ours():
    current = "127.0.0.1 localhost\n# BEGIN provisioner cluster lab (managed)\n10.0.0.9 old\n# END provisioner cluster lab\n::1 x\n"
    merged = _merge_block(current, BLOCK)
    assert merged == "127.0.0.1 localhost\n# BEGIN provisioner cluster lab (managed)\n10.0.0.1 a\n" \
                     "# END provisioner cluster lab\n::1 x\n"
    assert _merge_block(merged, BLOCK) == merged
    assert _merge_block("127.0.0.1 localhost\n", BLOCK).endswith("\n\n" + BLOCK)


def _file_fact(content: str, meta: str = "644 root root") -> Fact:
    return Fact(f"{meta}\n{hashlib.sha256(content.encode()).hexdigest()}", 0)


def test_file_step_changes_only_what_differs():
    step = FileStep("/etc/x.conf", "a=1\n")
    assert step.change(_file_fact("a=1\n"), set()) is None
    assert step.change(_file_fact("a=2\n"), set()).step == "update /etc/x.conf"
    assert step.change(Fact("absent", 0), set()).step == "create /etc/x.conf"
    assert "fix owner/mode" in step.change(_file_fact("a=1\n", "666 root root"), set()).step


def test_file_step_block_and_masked_diff():
    step = FileStep("/etc/hosts", BLOCK, block=True)
    current = "127.0.0.1 localhost\n"
    fact = Fact(f"644 root root\n@@CONTENT\n{current}", 0)
    assert step.change(fact, set()) is not None
    merged = _merge_block(current, BLOCK)
    assert step.change(Fact(f"644 root root\n@@CONTENT\n{merged}", 0), set()) is None
    secret = FileStep("/etc/k.conf", "pass=hunter2\n", secret=True)
    mask = lambda s: s.replace("hunter2", "<redacted>").replace("old", "<redacted>")  # noqa: E731
    diff = secret.diff("pass=old\nport=1\n", None, mask)
    assert "hunter2" not in diff and "+pass=<redacted>" not in diff and "-port=1" in diff
    only_secret = secret.diff("pass=old\n", None, mask)
    assert "hunter2" not in only_secret and "secret values differ (masked)" in only_secret


def test_command_step_guarded_and_notified():
    step = CommandStep("apply sysctls", "check", "sysctl -p f", when_notified="sysctl")
    assert step.change(Fact("", 0), set()) is None
    assert step.change(Fact("", 1), set()).commands == ["sysctl -p f"]
    assert step.change(Fact("", 0), {"sysctl"}) is not None
    reload_only = CommandStep("daemon-reload", None, "systemctl daemon-reload", when_notified="units")
    assert reload_only.change(None, set()) is None and reload_only.change(None, {"units"}) is not None


@pytest.mark.parametrize("state,notified,expected", [
    ("enabled active", set(), None),
    ("enabled active", {"haproxy"}, ["systemctl reload-or-restart haproxy"]),
    ("disabled active", set(), ["systemctl enable haproxy"]),
    ("enabled failed", set(), ["systemctl restart haproxy"]),
    ("enabled inactive", {"haproxy"}, ["systemctl restart haproxy"]),
])
def test_service_step(state, notified, expected):
    change = ServiceStep("haproxy", restart_on=("haproxy",), reload=True).change(Fact(state, 0), notified)
    assert (change.commands if change else None) == expected


def test_service_enabled_not_started():
    step = ServiceStep("kubelet", started=False)
    assert step.change(Fact("enabled activating", 0), set()) is None
    assert step.change(Fact("disabled inactive", 0), set()).commands == ["systemctl enable kubelet"]


def test_packages_step_versions_and_holds():
    step = PackagesStep({"kubeadm": "1.30.2", "kubelet": "1.30.2"}, hold=True)
    good = Fact("kubeadm 1.30.2-1.1 hi \nkubelet 1.30.2-1.1 hi \n@@HELD\nkubeadm\nkubelet", 0)
    assert step.change(good, set()) is None
    old = Fact("kubeadm 1.30.1-1.1 hi \nkubelet 1.30.2-1.1 ii \n@@HELD\nkubeadm", 0)
    change = step.change(old, set())
    assert change.step == "install kubeadm" and "apt-mark hold kubeadm kubelet" in change.commands
    removed = Fact("kubeadm 1.30.2-1.1 rc \n@@HELD\n", 0)     # config-files only: not installed
    assert "kubelet" in step.change(removed, set()).step


def test_inputs_hash_follows_step_identity():
    phase = PHASES[0]
    a = [FileStep("/etc/a", "1"), CommandStep("x", "true", "echo")]
    b = [FileStep("/etc/a", "2"), CommandStep("x", "true", "echo")]
    assert inputs_hash(phase, a) == inputs_hash(phase, list(a))
    assert inputs_hash(phase, a) != inputs_hash(phase, b)


def test_go_durations_and_module_probes():
    assert go_seconds("24h0m0s") == 86400 and go_seconds("2h30m") == 9000 and go_seconds("0s") == 0
    assert "proc/filesystems" in module_present("overlay")
    assert module_present("nf_conntrack") == "[ -d /sys/module/nf_conntrack ]"
