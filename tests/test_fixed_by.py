"""No check claims a fix that `up` does not perform.

A check's ``fixed_by`` names the `up` phase that repairs it; preflight then downgrades its failure to a
warning before the host joins. That is only honest when the named phase really changes what the check
judges. The check declares what it judges (``reads``: paths, units, sysctl keys, packages); what the phase
changes is read from the phase's own steps for every host it runs on (their files, contents, probes and
commands, services, packages), so a step removed or never written shows here.
"""

from __future__ import annotations

from pathlib import Path

import dataclasses

import pytest

from provisioner.checks import NODE_CHECKS
from provisioner.engine import build_context
from provisioner.phases import PHASE_NAMES, phase
from provisioner.phases.base import OsInfo
from provisioner.steps import CommandStep, FileStep, PackagesStep, ServiceStep
from provisioner.validation import load_inventory

REPO = Path(__file__).resolve().parents[1]


def step_text(step) -> str:
    """What one step manages, as text: its name and identity plus what it writes, probes and runs."""
    parts = [step.name, step.identity(), step.probe() or ""]
    if isinstance(step, FileStep):
        parts += [step.path, step.content]
    elif isinstance(step, CommandStep):
        parts += [step.check or "", step.command]
    elif isinstance(step, ServiceStep):
        parts.append(step.unit)
    elif isinstance(step, PackagesStep):
        parts += list(step.packages)
    return "\n".join(parts)


@pytest.fixture(scope="module")
def phase_text(tmp_path_factory):
    inv = load_inventory(REPO / "inventories/lab.yaml")
    ctx = dataclasses.replace(build_context(inv, tmp_path_factory.mktemp("state")),
                              os={h.hostname: OsInfo("debian", "13", "trixie", "", "amd64") for h in inv.hosts})
    cache: dict[str, str] = {}

    def text(name: str) -> str:
        if name not in cache:
            p = phase(name)
            cache[name] = "\n".join(step_text(s) for host in p.hosts(inv) for s in p.steps(ctx, host))
        return cache[name]
    return text


CLAIMS = [c for c in NODE_CHECKS if c.fixed_by]


@pytest.mark.parametrize("check", CLAIMS, ids=[c.id for c in CLAIMS])
def test_the_named_phase_changes_what_the_check_reads(check, phase_text):
    assert check.fixed_by in PHASE_NAMES, f"{check.id}: fixed_by {check.fixed_by!r} is no phase of up"
    assert check.reads, f"{check.id} claims {check.fixed_by} fixes it but does not say what it reads"
    untouched = [r for r in check.reads if r not in phase_text(check.fixed_by)]
    assert not untouched, f"{check.id} claims `up` ({check.fixed_by}) fixes it, but that phase never touches {untouched}"


def test_every_check_says_what_it_reads_and_what_it_mirrors():
    for check in NODE_CHECKS:
        assert check.reference in ("kubeadm", "kubespray", "kubekey", "ours"), check.id


def test_an_enforcing_selinux_says_what_up_will_change():
    """Prep now runs setenforce 0 and edits /etc/selinux/config (phases/hostsec.py): the verdict names prep,
    and with selinux: enforcing in the inventory an enforcing host is what was asked for."""
    from provisioner.checks.base import PASS, WARN, Fact, Facts, Node
    from provisioner.preflight import settle

    inv = load_inventory(REPO / "inventories/lab.yaml")
    check = next(c for c in NODE_CHECKS if c.id == "security.selinux")
    facts = Facts({"os.release": Fact('ID=rocky\nVERSION_ID="9"', 0),
                   "security.selinux": Fact("Enforcing\nSELINUX=enforcing", 0)})
    node = Node(inv.host("node1"), inv, facts)
    verdict = settle(check, check.evaluate(facts, node), node, strict=False)
    assert verdict.status == WARN and verdict.fixed_by == "prep" and "setenforce 0" in verdict.fix
    assert "prep" in step_text_of_prep(inv) and "setenforce 0" in step_text_of_prep(inv)
    kept = inv.model_copy(update={"selinux": "enforcing"})
    assert check.evaluate(facts, Node(kept.host("node1"), kept, facts)).status == PASS


def step_text_of_prep(inv) -> str:
    from provisioner.phases import hostsec
    return "prep\n" + "\n".join(step_text(s) for s in hostsec.selinux_steps(inv, inv.host("node1")))
