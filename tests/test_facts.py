"""The fact types' parsers, on real output: each file in tests/facts_output is what the command in its first
line printed (stdout as the gathering script reads it, its exit code in the second line). Captured on this
project's Debian 12 build host (coreutils 9.1, dpkg 1.21.22: the lab nodes' versions) for files and packages;
the unit reads need systemd as PID 1, which only the lab nodes have: tests/test_facts_lab.py reads them there.
"""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import subprocess
from pathlib import Path

import pytest

from provisioner.factdata import Fact
from provisioner.facts import FileBodyProbe, FileProbe, FileState, PackagesProbe, UnitProbe, UnitState
from provisioner.probebatch import batch_probes, package_probe_names, unit_probe_units

OUTPUT = Path(__file__).parent / "facts_output"


def captured(name: str) -> tuple[str, Fact]:
    """(command, its fact) from a captured file, as parse_facts hands it over (stdout without edge newlines)."""
    head1, head2, body = (OUTPUT / f"{name}.txt").read_text().split("\n", 2)
    assert head1.startswith("# command: ") and head2.startswith("# exit: ")
    return head1[len("# command: "):], Fact(body.strip("\n"), int(head2[len("# exit: "):]))


def test_file_probe_reads_mode_owner_group_and_hash():
    command, fact = captured("stat+sha256sum_etc-hosts")
    assert command == FileProbe("/etc/hosts")
    state = FileProbe.parse(fact)
    assert state == FileState("755", "root", "root", "6ddf9e4f40a00c9c803fc850c98175fc269762f22bc2d0e4112b65ec1efba16a")
    command, fact = captured("stat+sha256sum_absent")
    assert command == FileProbe("/etc/provisioner-absent.conf") and FileProbe.parse(fact) is None
    assert FileProbe.parse(None) is None                   # not read: the step writes it


def test_file_body_probe_reads_the_content():
    command, fact = captured("stat+cat_etc-hostname")
    assert command == FileBodyProbe("/etc/hostname")
    assert FileBodyProbe.parse(fact) == (["755", "root", "root"], "vm")
    assert FileBodyProbe.parse(Fact("644 root root\n@@CONTENT", 0)) == (["644", "root", "root"], "")   # empty file
    assert FileBodyProbe.parse(Fact("absent", 0)) is None


def test_a_batch_of_files_splits_into_what_each_probe_prints():
    probes = [FileProbe("/etc/hosts"), FileProbe("/etc/hostname"), FileProbe("/etc/provisioner-absent.conf")]
    [batch], expand = batch_probes(probes)
    command, fact = captured("batch_stat+sha256sum")
    assert command == batch
    answers = expand({batch: fact})
    assert FileProbe.parse(answers[probes[0]]) == FileProbe.parse(captured("stat+sha256sum_etc-hosts")[1])
    assert FileProbe.parse(answers[probes[1]]).owner == "root"
    assert FileProbe.parse(answers[probes[2]]) is None


def test_packages_probe_reads_dpkg_status_with_its_trailing_blank():
    command, fact = captured("dpkg-query_bash_coreutils_not-a-package")
    assert command == PackagesProbe(["bash", "coreutils", "not-a-package"])
    assert fact.rc == 1                                    # dpkg-query: "no packages found matching not-a-package"
    found = PackagesProbe.parse(fact)
    assert sorted(found) == ["bash", "coreutils"]
    assert found["bash"].version == "5.2.15-2+b8" and found["bash"].status == "ii"
    assert found["bash"].installed and not found["bash"].held
    assert package_probe_names(PackagesProbe(["bash", "coreutils", "not-a-package"])) == (
        ["bash", "coreutils", "not-a-package"], False)


def test_a_batch_of_package_probes_gives_each_its_lines():
    probes = [PackagesProbe(["bash"]), PackagesProbe(["coreutils", "not-a-package"])]
    [batch], expand = batch_probes(probes)
    command, fact = captured("batch_dpkg-query")
    assert command == batch and package_probe_names(batch) == (["bash", "coreutils", "not-a-package"], True)
    answers = expand({batch: fact})
    assert list(PackagesProbe.parse(answers[probes[0]])) == ["bash"]
    assert list(PackagesProbe.parse(answers[probes[1]])) == ["coreutils"]


@pytest.mark.parametrize("unit, state", [("ssh.service", UnitState("enabled", "active")),
                                         ("systemd-journald.service", UnitState("static", "active")),
                                         ("provisioner-not-a-unit.service", UnitState("", "inactive"))])
def test_unit_probe_reads_what_systemd_printed_on_a_lab_node(unit, state):
    command, fact = captured(f"systemctl-show_{unit}")
    assert command == UnitProbe(unit) and UnitProbe.parse(fact) == state


def test_a_batch_of_units_from_a_lab_node_splits_per_unit():
    probes = [UnitProbe(u) for u in ("ssh.service", "systemd-journald.service", "provisioner-not-a-unit.service")]
    [batch], expand = batch_probes(probes)
    command, fact = captured("systemctl-show_batch")
    assert command == batch
    answers = expand({batch: fact})
    assert [UnitProbe.parse(answers[p]) for p in probes] == [UnitProbe.parse(captured(f"systemctl-show_{p.unit}")[1])
                                                             for p in probes]


def test_unit_probe_parses_systemctl_show_and_batches_by_type():
    # systemctl show's Key=value lines (src/systemctl/systemctl-show.c); the live read is in test_facts_lab.py
    assert UnitProbe.parse(Fact("UnitFileState=enabled\nActiveState=active", 0)) == UnitState("enabled", "active")
    assert UnitProbe.parse(None) == UnitState("", "")
    probes = [UnitProbe("chrony.service"), UnitProbe("docker.service")]
    [batch], expand = batch_probes(probes)
    assert unit_probe_units(batch) == (["chrony.service", "docker.service"], True)
    answers = expand({batch: Fact("ActiveState=active\nUnitFileState=enabled\n\nActiveState=inactive\n"
                                  "UnitFileState=disabled", 0)})
    assert UnitProbe.parse(answers[probes[1]]) == UnitState("disabled", "inactive")
    assert expand({batch: Fact("ActiveState=active\nUnitFileState=enabled", 0)}) == {}   # short: read one by one


def test_batching_is_by_type_not_by_text():
    """The same text as a plain string is not a probe of that kind: nothing is read back out of a command."""
    text = str(FileProbe("/etc/hosts"))
    cmds, _ = batch_probes([text, str(FileProbe("/etc/hostname"))])
    assert cmds == [text, str(FileProbe("/etc/hostname"))]
    assert unit_probe_units(str(UnitProbe("chrony"))) is None


@pytest.mark.parametrize("path", ["/etc/hosts", "/etc/os-release", "/etc/provisioner-absent.conf"])
def test_file_probe_says_what_the_file_is_here(path):
    """Live, on this machine: the probe's own command through bash, against what Python reads."""
    out = subprocess.run(["bash", "-c", FileProbe(path)], capture_output=True, text=True)
    state = FileProbe.parse(Fact(out.stdout.strip("\n"), out.returncode))
    if not os.path.exists(path):
        assert state is None
        return
    st = os.lstat(path)              # stat -c without -L: a symlink's own mode and owner; sha256sum reads through it
    assert state == FileState(f"{st.st_mode & 0o7777:o}", pwd.getpwuid(st.st_uid).pw_name,
                              grp.getgrgid(st.st_gid).gr_name, hashlib.sha256(Path(path).read_bytes()).hexdigest())
