"""The fact types on a real lab node (Debian 12, systemd as PID 1): what each parser makes of its own
command's output matches what the node says through other commands (systemctl is-enabled/is-active, dpkg -s),
one probe at a time and in a batch. Writes what systemctl printed to tests/facts_output (named after the
command) when PROVISIONER_CAPTURE_FACTS=1, beside the files captured without systemd (tests/test_facts.py)."""

from __future__ import annotations

import os
from pathlib import Path

from provisioner.factdata import Fact
from provisioner.facts import PackagesProbe, UnitProbe
from provisioner.probebatch import batch_probes

UNITS = ("ssh.service", "systemd-journald.service", "provisioner-not-a-unit.service")


def _read(node, command: str) -> Fact:
    r = node.exec(["bash", "-c", command], check=False)
    return Fact(r.stdout.strip("\n"), r.returncode)


def _save(name: str, command: str, fact: Fact) -> None:
    if os.environ.get("PROVISIONER_CAPTURE_FACTS") == "1":
        out = Path(__file__).parent / "facts_output" / f"{name}.txt"
        out.write_text(f"# command: {command}\n# exit: {fact.rc}\n{fact.output}\n")


def test_unit_facts_say_what_systemctl_says(lab):
    node = lab.nodes["node1"]
    probes = [UnitProbe(u) for u in UNITS]
    for probe in probes:
        fact = _read(node, probe)
        _save(f"systemctl-show_{probe.unit}", probe, fact)
        state = UnitProbe.parse(fact)
        enabled = node.exec(["systemctl", "is-enabled", probe.unit], check=False).stdout.strip()
        active = node.exec(["systemctl", "is-active", probe.unit], check=False).stdout.strip()
        if probe.unit.startswith("provisioner-not"):
            assert (state.file_state, state.active) == ("", "inactive"), fact
        else:
            assert (state.file_state, state.active) == (enabled, active), fact
    [batch], expand = batch_probes(probes)
    fact = _read(node, batch)
    _save("systemctl-show_batch", batch, fact)
    answers = expand({batch: fact})
    assert {p.unit: UnitProbe.parse(answers[p]) for p in probes} == {p.unit: UnitProbe.parse(_read(node, p))
                                                                    for p in probes}


def test_package_facts_say_what_dpkg_says(lab):
    node = lab.nodes["node1"]
    probe = PackagesProbe(["openssh-server", "provisioner-not-a-package"])
    fact = _read(node, probe)
    found = PackagesProbe.parse(fact)
    version = node.exec(["dpkg-query", "-W", "-f=${Version}", "openssh-server"]).stdout.strip()
    assert list(found) == ["openssh-server"] and found["openssh-server"].version == version
    assert found["openssh-server"].installed and fact.rc == 1
