"""Preflight's one round trip per host: the clock rides in it, one sudo, and the VIP's ARP read (no host needed).

The lab tests (test_preflight_lab.py) run the same scripts on real nodes; these pin the logic:
- the clock offset comes from stamps in the facts' own output, not from a second command;
- the privileged wrapper runs sudo once (no `sudo -n true` first) and falls back to the user;
- the VIP probe's ARP line (`arp FLAGS MAC`, from /proc/net/arp) is read as the check expects, and
  a load balancer holding the VIP is known from its addresses.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
from pathlib import Path

import pytest
from tests.support.skips import need_tool

from provisioner import preflight, sharedreads
from provisioner.checks import cluster as cc
from provisioner.checks.base import FAIL, PASS, Fact, Facts, Node
from provisioner.factdata import ReadPlan
from provisioner.validation import load_inventory

INV = load_inventory(Path(__file__).resolve().parents[1] / "inventories/lab.yaml")


def _node(host: str, facts: dict) -> Node:
    return Node(INV.host(host), INV, Facts({k: Fact(v, 0) for k, v in facts.items()}, True))


class _Conn:
    def close(self):
        pass


class _FakeSsh:
    @classmethod
    def of(cls, keys):
        return cls()

    def target(self, host):
        from provisioner.sshconfig import SshTarget
        return SshTarget.of(host)

    def open(self, target, timeout=10):
        return _Conn()

    session = open      # preflight alone opens a bare session (no Fabric), up a Fabric connection


class _Host:
    """A testinfra host answering every command with canned output; remembers the commands."""

    def __init__(self, stdout: str):
        self.stdout, self.commands = stdout, []

    def run(self, command):
        self.commands.append(command)
        return type("Result", (), {"stdout": self.stdout, "rc": 0})()


def test_clock_offset_comes_from_the_facts_round_trip(monkeypatch):
    """One command per host: the script stamps the host's clock first and last (@@CLOCK), and the offset
    is their middle minus the middle of our send/receive times - no `date` round trip after it."""
    host = INV.host("node1")
    remote_now = 1_000_000.0
    canned = (f"@@PRIV 1\n@@CLOCK {remote_now:.6f}\n@@FACT name.hostname {remote_now:.6f}\nnode1\n"
              f"@@RC 0 {remote_now + 0.01:.6f}\n@@CLOCK {remote_now + 0.02:.6f}\n")
    fake = _Host(canned)
    # the connection layer is lane-agnostic here: whichever opener this version uses returns our fake
    monkeypatch.setattr(preflight, "open_connection", lambda *a, **k: _Conn(), raising=False)
    monkeypatch.setattr(preflight, "Ssh", _FakeSsh, raising=False)
    monkeypatch.setattr(preflight, "testinfra_host", lambda conn: fake)
    local = iter([500_000.0, 500_000.1])
    monkeypatch.setattr(preflight.time, "time", lambda: next(local, 500_000.1))
    report, node = preflight.audit_host(INV, host, keys=None, timeout=5)
    assert report.reachable, report.reason
    assert len(fake.commands) == 1, f"one round trip per host, got {len(fake.commands)}: {fake.commands[1:]}"
    # remote middle 1_000_000.01, local middle 500_000.05
    assert node.clock_offset == pytest.approx(499_999.96, abs=1e-6)


def test_clock_offset_without_stamps_is_unknown():
    assert preflight.clock_offset("@@PRIV 1\n", 1.0, 2.0) is None


def _fake_bin(tmp_path: Path, sudo_exit: int | None) -> dict:
    """PATH with an `id` saying uid 1000 and a `sudo` that logs each call, then refuses (exit 1) or runs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "id").write_text("#!/bin/sh\necho 1000\n")
    body = f"exit {sudo_exit}" if sudo_exit is not None else 'shift; exec "$@"'     # drop -n, run the rest
    (bin_dir / "sudo").write_text(f"#!/bin/sh\necho \"$1 $2 $3\" >> {tmp_path}/sudo.log\n{body}\n")
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def _run_wrapped(env: dict) -> str:
    script = preflight.wrap_privileged(preflight.gather_script({"a": "echo one"}, {"a"}, clock=True))
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env, timeout=30).stdout


def test_one_sudo_per_round_trip(tmp_path):
    out = _run_wrapped(_fake_bin(tmp_path, sudo_exit=None))
    facts, _ = preflight.parse_facts(out)
    assert facts.privileged and facts.text("a") == "one"
    calls = (tmp_path / "sudo.log").read_text().splitlines()
    assert len(calls) == 1 and calls[0] == "-n bash -c", calls


def test_refused_sudo_falls_back_to_the_user(tmp_path):
    out = _run_wrapped(_fake_bin(tmp_path, sudo_exit=1))
    facts, _ = preflight.parse_facts(out)
    assert facts.privileged is False and facts.text("a") == "one"
    assert preflight.clock_offset(out, 0.0, 0.0) is not None


def test_vip_answered_by_a_stranger_in_the_arp_table():
    """/proc/net/arp's line for the VIP: flags 0x2 (complete) with a MAC none of our hosts has -> taken."""
    ha2_links = "3: eth0@if4: <BROADCAST,UP> mtu 1500 link/ether 02:00:00:00:00:08 brd ff:ff:ff:ff:ff:ff"
    ha1 = _node("ha1", {"vip.probe": "arp 0x2 02:99:99:99:99:99", "id.links": ha2_links.replace("08", "07")})
    ha2 = _node("ha2", {"vip.probe": "arp 0x0 00:00:00:00:00:00", "id.links": ha2_links})
    verdicts = cc.vip_free([ha1, ha2])
    assert verdicts[0].status == FAIL and "02:99:99:99:99:99" in verdicts[0].observed
    assert verdicts[1].status == PASS and "free" in verdicts[1].observed      # an unanswered request


def test_vip_on_one_of_our_load_balancers_is_known_from_its_addresses():
    """The holder runs no "held" test of its own: its net.addresses (read anyway) show the VIP."""
    ha1 = _node("ha1", {"net.addresses": f"2: eth0    inet {INV.vip}/32 scope global eth0", "vip.probe": ""})
    ha2 = _node("ha2", {"net.addresses": "2: eth0    inet 172.31.250.108/24 scope global eth0",
                        "vip.probe": "arp 0x2 02:4c:ac:1f:fa:6b"})
    verdicts = cc.vip_free([ha1, ha2])
    assert all(v.status == PASS and "held by ha1" in v.observed for v in verdicts), verdicts


def test_vip_probe_script_runs_in_bash_and_reads_no_arp_for_a_local_address():
    """The probe as the host runs it (bash builtins), against a listener on loopback: the connect ends at
    once, loopback has no ARP entry, so it prints nothing and exits 0."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        proc = subprocess.run(["bash", "-c", cc.vip_probe("127.0.0.1", port)], capture_output=True, text=True,
                              timeout=30)
    assert proc.returncode == 0 and proc.stdout == "", proc


class _Ran:
    def __init__(self, stdout: str):
        self.exited, self.stdout, self.stderr = 0, stdout, ""


class _LiveConn:
    """A connection preflight kept open; answers like a Debian host and remembers each command."""

    is_connected = True

    def __init__(self):
        self.commands = []

    def run(self, command, **kwargs):
        self.commands.append(command)
        return _Ran("debian|12|bookworm||amd64\nmachine-1\n")

    def fabric(self):
        return self             # the one connection: Fabric rides it (transport.HostConnection.fabric)

    def close(self):
        pass


def _session(tmp_path, conn):
    from provisioner.session import Session
    from provisioner.runlog import RunLog
    from provisioner.transport import HostKeys

    (tmp_path / "known_hosts").write_text("")
    log = RunLog.create(tmp_path, "up", lambda s: s)
    return Session(INV, HostKeys(tmp_path / "known_hosts"), log, lambda s: s, timeout=5, parallel=4,
                   reuse={"node1": conn})


def test_up_session_reads_nothing_more_when_preflight_read_it(tmp_path):
    """`up`'s session takes over preflight's connection; the OS and machine id came in preflight's round trip
    (session.SESSION_READ): no first command of its own on the host."""
    from provisioner import session as S

    conn = _LiveConn()
    session = _session(tmp_path, conn)
    session.open(["node1"], {"node1": "debian|12|bookworm||amd64\nmachine-1\n"})
    assert conn.commands == [] and session.os["node1"].distro == "debian"
    assert session.identity["node1"] == "machine-1"
    assert S.SESSION_READ.startswith(S.SESSION_PROBE)


def test_up_session_still_cleans_leftovers_first(tmp_path):
    """A temp dir of an earlier run on the host: the session's first command (Remote.start) runs to remove it."""
    conn = _LiveConn()
    session = _session(tmp_path, conn)
    session.open(["node1"], {"node1": "debian|12|bookworm||amd64\nmachine-1\nleftovers\n"})
    assert len(conn.commands) == 1 and "/tmp/.provisioner." in conn.commands[0]
    assert session.os["node1"].distro == "debian"


def test_kube_versions_read_from_the_package_database_first(tmp_path):
    """kube.versions: one dpkg-query for both packages (installed: "ii"); a binary is asked only where no
    installed package provides it (here kubelet's package is removed, "rc", and a kubelet binary is there)."""
    from provisioner.checks.runtime import KubeVersions

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "dpkg-query").write_text("#!/bin/sh\nprintf 'kubeadm 1.37.1-1.1 ii \\nkubelet 1:1.36.0-1.1 rc \\n'\n")
    (bin_dir / "kubelet").write_text("#!/bin/sh\necho 'Kubernetes v1.35.9'\n")
    (bin_dir / "kubeadm").write_text(f"#!/bin/sh\necho called >> {tmp_path}/kubeadm.log\necho v0.0.0\n")
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    out = subprocess.run(["bash", "-c", KubeVersions.facts["kube.versions"]], capture_output=True, text=True,
                         env=env, timeout=30).stdout
    assert out.splitlines() == ["kubeadm v1.37.1", "kubelet v1.35.9"]
    assert not (tmp_path / "kubeadm.log").exists(), "the package answered for kubeadm: its binary is not run"


def test_step_probes_run_alongside_the_facts(tmp_path):
    """`up`'s extra commands run in a second process started before the facts (a host takes the longer of
    the two sequences, not their sum), and each one's output still parses back on its own."""
    flag = tmp_path / "side-started"
    script = preflight.gather_script(
        {"fact": f"for i in $(seq 200); do [ -e {flag} ] && break; sleep 0.05; done; [ -e {flag} ] && echo seen",
         "extra.0": f"touch {flag}; echo probe; exit 3", "extra.1": "printf 'no newline'"},
        {"fact"}, clock=True, alongside={"extra.0", "extra.1"})
    out = subprocess.run(["bash", "-c", 'echo "@@PRIV 1"\n' + script], capture_output=True, text=True,
                         timeout=60).stdout
    facts, _ = preflight.parse_facts(out)
    assert facts.text("fact") == "seen", "the step probes had not started while the facts ran"
    assert (facts.text("extra.0"), facts.rc("extra.0")) == ("probe", 3)
    assert facts.text("extra.1") == "no newline"
    assert preflight.clock_offset(out, 0.0, 0.0) is not None


def read_facts_locally(commands: list[str], env: dict) -> dict:
    """What probes.read_commands does over SSH, in a local bash: each command's fact, by command."""
    script = preflight.gather_script({f"p{i}": c for i, c in enumerate(commands)})
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=60).stdout
    facts, _ = preflight.parse_facts(out)
    return {commands[int(k[1:])]: f for k, f in facts.values.items()}


def test_batched_step_probes_read_what_each_probe_reads(tmp_path):
    """up's file, unit and package probes folded into one command per kind (one stat + one sha256sum for
    every file, one systemctl show, one dpkg-query) give each step the fact its own probe gives."""
    from provisioner.probebatch import batch_probes
    from provisioner.steps import FileStep, PackagesStep, ServiceStep

    (tmp_path / "a.conf").write_text("alpha\n")
    (tmp_path / "b.conf").write_text("beta\n")
    (tmp_path / "b.conf").chmod(0o600)
    steps = [FileStep(str(tmp_path / "a.conf"), "alpha\n"), FileStep(str(tmp_path / "b.conf"), "other\n", mode=0o600),
             FileStep(str(tmp_path / "missing.conf"), "x\n"),
             ServiceStep("chrony"), ServiceStep("kubelet"),
             PackagesStep({"kubeadm": "1.37.1", "kubelet": "1.37.1"}), PackagesStep({"chrony": None})]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # systemctl show: one block per unit, in the order given, a blank line between (systemd src/systemctl)
    (bin_dir / "systemctl").write_text("#!/bin/bash\nshift 6\nfirst=1\nfor u in \"$@\"; do [ $first = 1 ] || echo; "
                                       "first=0; if [ $u = chrony ]; then printf 'ActiveState=active\\nUnitFileState=enabled\\n'; "
                                       "else printf 'ActiveState=inactive\\nUnitFileState=disabled\\n'; fi; done\n")
    (bin_dir / "dpkg-query").write_text("#!/bin/bash\nfor p in \"$@\"; do case $p in kubeadm) echo 'kubeadm 1.37.1-1.1 hi ';; "
                                        "kubelet) echo 'kubelet 1.37.1-1.1 hi ';; chrony) echo 'chrony 4.3-2 ii ';; esac; done\n")
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    probes = [s.probe() for s in steps]
    one_by_one = read_facts_locally(probes, env)
    commands, expand = batch_probes(probes)
    assert len(commands) == 3, commands
    batched = expand(read_facts_locally(commands, env))
    for step in steps:
        mine, theirs = batched[step.probe()], one_by_one[step.probe()]
        assert step.change(mine, set()) == step.change(theirs, set()), step.name
        if isinstance(step, FileStep):
            assert mine.output.split() == theirs.output.split(), step.name
    assert steps[0].change(batched[probes[0]], set()) is None            # same content, mode, owner
    assert "update" in steps[1].change(batched[probes[1]], set()).step
    assert batched[probes[2]].output == "absent"


# A systemctl as strict as systemd's about what `show` prints: one block per unit in the order given, a blank line
# before each but the first (systemd src/systemctl/systemctl-show.c show_one); only the properties asked for by -p,
# even empty ones (src/systemctl/systemctl.c parse_argv: "show it, even if it is empty"), in the bus order: the
# unit type's interface (Service: ExecStart) before the Unit one (ActiveState, then UnitFileState); a socket has no
# ExecStart; --value prints the values alone. Each call is logged.
_SYSTEMCTL = r'''#!/usr/bin/env python3
import sys
args = sys.argv[1:]
open(sys.argv[0] + ".log", "a").write(" ".join(args) + "\n")
assert args[0] == "show", args
props, value, units, i = [], False, [], 1
while i < len(args):
    if args[i] == "-p":
        props.append(args[i + 1]); i += 2; continue
    if args[i] == "--value":
        value = True
    elif args[i] == "--":
        units += args[i + 1:]; break
    else:
        units.append(args[i])
    i += 1
UNITS = {"chrony": [("ExecStart", "{ path=/usr/sbin/chronyd ; argv[]=/usr/sbin/chronyd -F 1 }"),
                    ("ActiveState", "active"), ("UnitFileState", "enabled")],
         "cri-docker.service": [("ExecStart", "{ path=/usr/bin/cri-dockerd ; argv[]=/usr/bin/cri-dockerd "
                                              "--pod-infra-container-image registry.k8s.io/pause:3.10 }"),
                                ("ExecStart", "{ path=/bin/true ; argv[]=/bin/true }"),
                                ("ActiveState", "active"), ("UnitFileState", "enabled")],
         "cri-docker.socket": [("ActiveState", "active"), ("UnitFileState", "enabled")]}
out = []
for u in units:
    shown = [(k, v) for k, v in UNITS.get(u, [("ExecStart", ""), ("ActiveState", "inactive"),
                                              ("UnitFileState", "")]) if k in props]
    out.append("\n".join(v if value else f"{k}={v}" for k, v in shown))
print("\n\n".join(out))
'''


def _units_env(tmp_path: Path, monkeypatch) -> dict:
    """A PATH with the strict systemctl above; unit files looked for in tmp_path/units (cri-docker.service only)."""
    from provisioner.checks import base
    (tmp_path / "units").mkdir()
    (tmp_path / "units" / "cri-docker.service").write_text("[Service]\n")
    monkeypatch.setattr(base, "UNIT_DIRS", (str(tmp_path / "units"),))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "systemctl").write_text(_SYSTEMCTL)
    (bin_dir / "systemctl").chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def test_facts_and_service_probes_share_one_systemctl_show(tmp_path, monkeypatch):
    """The facts' unit properties (cri-docker's ExecStart) and up's service probes (batched or alone) are read
    with ONE systemctl show, and each gets exactly what its own command prints: its units, its properties,
    nothing for a unit whose file is not installed."""
    from provisioner.checks.base import unit_property
    from provisioner.probebatch import batch_probes
    from provisioner.steps import ServiceStep

    env = _units_env(tmp_path, monkeypatch)
    batch, _ = batch_probes([ServiceStep(u).probe() for u in ("chrony", "cri-docker.socket", "cri-docker.service",
                                                                "kubelet")])
    asked = {"runtime.cri": unit_property("cri-docker.service", "ExecStart"),
             "other.unit": unit_property("absent.service", "ExecStart"), "plain": "echo plain",
             "extra.0": batch[0], "extra.1": ServiceStep("kubelet").probe(), "extra.2": "echo side"}
    alone = {name: fact for name, fact in zip(asked, read_facts_locally(list(asked.values()), env).values())}
    log = tmp_path / "bin" / "systemctl.log"
    assert len(log.read_text().splitlines()) == 3    # each alone: its own systemctl (none where no unit file)
    assert "pause:3.10" in alone["runtime.cri"].output and "ActiveState=inactive" in alone["extra.1"].output

    log.unlink()
    plan, split = sharedreads.join_unit_reads(ReadPlan.of(asked, {"runtime.cri", "other.unit", "plain"},
                                                          {"extra.0", "extra.1", "extra.2"}))
    script = preflight.gather_script(dict(plan.commands), plan.shared, clock=True, alongside=plan.side)
    out = subprocess.run(["bash", "-c", 'echo "@@PRIV 1"\n' + script], capture_output=True, text=True, env=env,
                         timeout=60).stdout
    facts, durations = preflight.parse_facts(out)
    split(facts, durations)
    assert len(log.read_text().splitlines()) == 1, log.read_text()
    assert facts.values == alone
    assert set(durations) >= {"runtime.cri", "other.unit"}


def test_preflight_script_runs_systemctl_show_once_with_ups_probes():
    """On a node where up probes services, preflight's one command holds one systemctl show, not one for the
    facts and one for the probes (each is 100-200 ms of the node's CPU)."""
    from provisioner.probebatch import batch_probes
    from provisioner.steps import ServiceStep

    extra, expand = batch_probes([ServiceStep(u).probe() for u in ("chrony", "docker", "cri-docker.service")])
    script = preflight.host_script(INV, INV.host("node1"), extra)
    assert script.count("systemctl show") == 1, script
    # where there is nothing to share (no extra commands), the facts read for themselves, as before
    assert preflight.host_script(INV, INV.host("node1")).count("systemctl show") == 1


def test_shared_unit_read_that_does_not_add_up_answers_no_probe(tmp_path, monkeypatch):
    """systemctl printing fewer blocks than units: the probes get no answer (up reads them again) and the fact
    whose unit file is installed says nothing true (rc 1), rather than a block that may be another unit's."""
    from provisioner.checks.base import unit_property
    from provisioner.steps import ServiceStep

    _units_env(tmp_path, monkeypatch)
    commands = {"runtime.cri": unit_property("cri-docker.service", "ExecStart"),
                "extra.0": ServiceStep("chrony").probe()}
    _, split = sharedreads.join_unit_reads(ReadPlan.of(commands, {"runtime.cri"}, {"extra.0"}))
    facts = Facts({sharedreads.SHARED_UNITS: Fact("ActiveState=active\nUnitFileState=enabled\n@@PRESENT\n"
                                                "cri-docker.service", 0)})
    split(facts, {})
    assert "extra.0" not in facts.values and facts.values["runtime.cri"] == Fact("", 1)


# chronyc's tracking report as chrony prints it (chrony client.c process_cmd_tracking: "Leap status     : %L",
# one of Normal / Insert second / Delete second / Not synchronised), and its failure without a daemon
# ("506 Cannot talk to daemon" on stderr, exit 1).
_TRACKING = ("Reference ID    : AC1FFA01 (172.31.250.1)\nStratum         : 3\n"
             "System time     : 0.000012 seconds fast of NTP time\nLeap status     : {leap}\n")


@pytest.mark.parametrize("stdout,stderr,rc", [
    (_TRACKING.format(leap="Normal"), "", 0),
    (_TRACKING.format(leap="Not synchronised"), "", 0),
    (_TRACKING.format(leap="Insert second"), "", 0),
    ("", "506 Cannot talk to daemon\n", 1),
    ("", "bash: chronyc: not found\n", 127),
    ("Leap status : Normal\n", "", 0),              # spacing as grep's [[:space:]]* allows
])
def test_chrony_probe_answered_from_the_fact_as_its_own_shell_would(tmp_path, stdout, stderr, rc):
    """verify's "clock synchronised" probe is not run again where preflight's time.chrony fact ran: its answer,
    derived from the fact's output, is the exit code the probe itself gives (run here by bash against a
    chronyc printing each case)."""
    from provisioner.derived import CHRONY_SYNCED, DERIVED
    from provisioner.checks.network import CHRONY_TRACKING

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "chronyc").write_text(f"#!/bin/sh\nprintf '%s' {shlex.quote(stdout)}\nprintf '%s' {shlex.quote(stderr)} >&2\n"
                                     f"exit {rc}\n")
    (bin_dir / "chronyc").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    probe = subprocess.run(["bash", "-c", CHRONY_SYNCED], capture_output=True, text=True, env=env, timeout=20)
    fact = subprocess.run(["bash", "-c", CHRONY_TRACKING], capture_output=True, text=True, env=env, timeout=20)
    source, answer = DERIVED[CHRONY_SYNCED]
    assert source == CHRONY_TRACKING
    facts, _ = preflight.parse_facts(f"@@FACT t 1\n{fact.stdout}\n@@RC {fact.returncode} 2\n")
    assert answer(facts.values["t"]).rc == probe.returncode
    assert answer(facts.values["t"]).output == probe.stdout == ""


def test_chrony_runs_once_per_host_when_up_probes_ride_along(tmp_path):
    """up's preflight round trip runs chronyc once per host (the fact), not twice (fact and verify's probe); the
    probe's answer comes back from the fact, under the probe's own name."""
    from provisioner.derived import CHRONY_SYNCED

    host = INV.host("node1")
    script, split = preflight.host_plan(INV, host, ["echo side", CHRONY_SYNCED])
    assert script.count("chronyc") == 1, script
    tracking = _TRACKING.format(leap="Normal")
    out = (f"@@PRIV 1\n@@FACT time.chrony 1\n{tracking}\n@@RC 0 2\n"
           f"@@FACT extra.0 1\nside\n@@RC 0 2\n")
    facts, durations = preflight.parse_facts(out)
    split(facts, durations)
    assert facts.values["extra.1"].rc == 0 and facts.values["extra.0"].output == "side"
    facts, durations = preflight.parse_facts(out.replace("Normal", "Not synchronised"))
    split(facts, durations)
    assert facts.values["extra.1"].rc == 1


def test_package_probes_answered_by_the_kube_versions_dpkg_query():
    """up's package probes (one PackagesStep's, and the batch of several) riding in preflight's round trip are
    answered by the kube.versions fact's one dpkg-query - this machine's real dpkg-query and database, installed
    (bash, coreutils) and unknown packages - each exactly as its own command answers, and the fact as before."""
    need_tool("dpkg-query", "Debian: apt-get install dpkg")
    from provisioner.checks.runtime import kube_versions_command
    from provisioner.probebatch import batch_probes
    from provisioner.steps import PackagesStep

    batch, _ = batch_probes([PackagesStep({"bash": None}).probe(),
                             PackagesStep({"coreutils": None, "zz-no-such-package": None}).probe()])
    asked = {"kube.versions": kube_versions_command(), "extra.0": batch[0],
             "extra.1": PackagesStep({"coreutils": None, "zz-no-such-package": None}).probe(),
             "extra.2": PackagesStep({"bash": None}).probe()}
    env = dict(os.environ)
    alone = {name: fact for name, fact in zip(asked, read_facts_locally(list(asked.values()), env).values())}
    assert alone["extra.1"].rc == 1 and alone["extra.2"].rc == 0 and "bash " in alone["extra.0"].output

    plan, split = sharedreads.join_package_reads(ReadPlan.of(asked, {"kube.versions"}, {"extra.0", "extra.1", "extra.2"}))
    assert sorted(plan.commands) == ["kube.versions"] and not plan.side
    script = preflight.gather_script(dict(plan.commands), plan.shared, clock=True, alongside=plan.side)
    assert script.count("dpkg-query") == 1
    out = subprocess.run(["bash", "-c", 'echo "@@PRIV 1"\n' + script], capture_output=True, text=True, env=env,
                         timeout=60).stdout
    facts, durations = preflight.parse_facts(out)
    split(facts, durations)
    assert facts.values == alone


def test_package_probes_share_dpkg_query_only_where_kube_versions_runs():
    """A kube node's preflight script runs dpkg-query once with up's package probes; a load balancer (no
    kube.versions fact) keeps the probes' own."""
    from provisioner.probebatch import batch_probes
    from provisioner.steps import PackagesStep

    extra, _ = batch_probes([PackagesStep({"chrony": None}).probe(), PackagesStep({"kubelet": "1.37.1"}).probe()])
    assert preflight.host_script(INV, INV.host("node1"), extra).count("dpkg-query") == 1
    assert preflight.host_script(INV, INV.host("ha1"), extra).count("dpkg-query") == 1      # the probes' own
    assert preflight.host_script(INV, INV.host("ha1")).count("dpkg-query") == 0


# /proc files whose text changes while it is read (the reading shell's own memory, counters, the ARP table).
CHANGING_PROC = ("/proc/self/status", "/proc/meminfo", "/proc/net/arp")


def test_facts_read_changing_proc_files_at_once():
    """bash's `read` reads ahead and seeks back after each line, and /proc generates the text again at each seek:
    when an earlier line's length changed in between, the following lines shift and one can be missed (seen:
    hw.cpus failing on a 2-CPU node, once in ~60 runs). Every fact reading such a file reads it with ONE
    mapfile to the end."""
    for host in INV.hosts:
        for name, command in preflight.fact_commands(INV, host).items():
            for path in CHANGING_PROC:
                for m in re.finditer(rf"<\s*{re.escape(path)}", command):
                    statement = re.split(r";|&&|\|\||\{|\bdo\b", command[:m.start()])[-1]
                    assert statement.lstrip().startswith("mapfile "), (host.hostname, name, command)


@pytest.mark.parametrize("fact", ["hw.nproc", "hw.meminfo"])
def test_proc_facts_take_one_read_and_say_what_the_kernel_says(fact):
    """The fact's shell reads the file in one read to EOF (strace), no seek back between lines - and says what
    nproc and /proc/meminfo's own first line say, without a process of its own."""
    need_tool("strace", "apt-get install strace")
    command = preflight.fact_commands(INV, INV.host("master1"))[fact]
    path = {"hw.nproc": "/proc/self/status", "hw.meminfo": "/proc/meminfo"}[fact]
    traced = subprocess.run(["strace", "-f", "-e", "trace=openat,read,lseek", "bash", "-c", command],
                            capture_output=True, text=True, timeout=60)
    calls = traced.stderr.splitlines()
    opened = next(i for i, line in enumerate(calls) if path in line and "openat" in line)
    fd = calls[opened].rsplit("=", 1)[1].strip()
    after = [c for c in calls[opened + 1:] if c.startswith(("read(0,", "lseek(0,", f"read({fd},", f"lseek({fd},"))]
    data_reads = [c for c in after if c.startswith(("read(",)) and not c.rstrip().endswith("= 0")]
    assert len(data_reads) == 1 and not any(c.startswith("lseek") and "SEEK_CUR)" in c and ", -" in c
                                             for c in after), after
    out = subprocess.run(["/bin/bash", "-c", command], capture_output=True, text=True, timeout=60,
                         env={"PATH": "/nonexistent"}).stdout
    if fact == "hw.nproc":
        assert out.strip() == subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    else:
        first = Path("/proc/meminfo").read_text().splitlines()[0].split()
        assert out.splitlines()[0].split()[:2] == first[:2]
