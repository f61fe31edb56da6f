"""What people read, as snapshots (no lab): preflight and `up` rendered at 80 and 140 columns, on a terminal
and off it, from JSON reports that real lab runs saved (tests/test_preflight_lab.py, tests/test_up_lab.py).
A layout regression shows as a diff of tests/snapshots/*.txt; UPDATE_SNAPSHOTS=1 rewrites them (see
tests/support/snapshots.py). The last tests run the real CLI on a pseudo-terminal.

Terminal output is checked as the screen shows it once the command is done: :func:`screen` plays the
escape sequences rich writes (carriage return, cursor up, erase line) like a terminal would, so a live
display that does not clean up after itself shows in the snapshot.
"""

from __future__ import annotations

import dataclasses
import io
import re

import pytest
from rich.console import Console

from provisioner import report as preflight_report
from provisioner import up_progress, up_report
from provisioner.hostlist import compress, expand, plural, seconds
from provisioner.phases import PHASES
from provisioner.steps import Change
from tests.support.snapshots import assert_snapshot, load_report, pty_run, screen

WIDTHS = (80, 140)
PHASE = {p.name: p for p in PHASES}


def console(width: int, tty: bool) -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=width, force_terminal=tty, color_system="standard" if tty else None,
                   markup=False, highlight=False, soft_wrap=True, get_time=lambda: 0.0), buf


def replay(result, reporter) -> None:
    """Feed a finished run's phases through ``reporter`` the way the engine calls it."""
    for prun in result.phases:
        reporter.phase_started(PHASE[prun.name], [h.host for h in prun.hosts])
        for run in prun.hosts:
            reporter.host_started(prun.name, run.host)
            for change in run.changes:
                reporter.step_started(prun.name, run.host, change.step)
            reporter.host_done(run)
        reporter.phase_done(prun)


def render_up(name: str, width: int, tty: bool, mode: str = "") -> str:
    result = up_report.from_dict(load_report(name))
    con, buf = console(width, tty)
    reporter = up_report.make_reporter(con, verbose=mode == "v", quiet=mode == "q")
    if isinstance(reporter, up_progress.LiveReporter):
        reporter.live.auto_refresh = False       # frames only when the reporter asks: a stable snapshot
    replay(result, reporter)
    reporter.finish(result)
    up_report.print_summary(result, con, "inventories/lab.yaml", table=getattr(reporter, "wants_table", True))
    return screen(buf.getvalue()) if tty else buf.getvalue()


def render_preflight(name: str, width: int, tty: bool, verbose: bool = False) -> str:
    con, buf = console(width, tty)
    preflight_report.print_table(preflight_report.from_dict(load_report(name)), con, verbose)
    return screen(buf.getvalue()) if tty else buf.getvalue()


def test_words_are_shared():
    """One spelling of host lists, counts and durations for every command."""
    assert compress(["master1", "master2", "master3", "node1", "node2", "node3", "ha1", "ha2"]) == \
        "master[1-3], node[1-3], ha[1-2]"
    assert expand(compress(["w01", "w02", "w10", "x"])) == ["w01", "w02", "w10", "x"]
    assert [plural(n, "worker") for n in (0, 1, 2)] == ["0 workers", "1 worker", "2 workers"]
    assert (seconds(0.123), seconds(9.96), seconds(61.25)) == ("0.1s", "10.0s", "1m01.2s")


def test_validate_counts_in_singular_and_plural():
    """The grammar slip the issue names: "1 workers"."""
    from tests.support.cli import run_cli

    r = run_cli("validate", "-i", "inventories/single.yaml")
    assert r.returncode == 0, r.stderr
    assert "2 hosts (1 control plane, 1 worker, 0 load balancers, mode none)" in r.stdout, r.stdout


@pytest.mark.parametrize("tty", [False, True], ids=["plain", "tty"])
@pytest.mark.parametrize("width", WIDTHS)
def test_preflight_with_faults(width, tty):
    text = render_preflight("preflight-lab-faults", width, tty)
    assert all(len(line) <= width for line in text.splitlines()), text
    report = load_report("preflight-lab-faults")
    for h in report["hosts"]:
        for c in h["checks"]:
            if c["status"] == "fail":
                assert c["id"] in text and (h["host"] in text or h["host"] in expand(text)), (h["host"], c["id"])
    assert "(prep does this)" not in " ".join(text.split())
    rows = preflight_report.findings(preflight_report.from_dict(report))
    assert all(f.fix.count("provisioner up") + f.fix.count("prep does") <= 1 for f in rows), rows   # said once
    assert any(f.fix.endswith("`provisioner up` fixes this (prep phase)") for f in rows)
    assert_snapshot(f"preflight-faults-{width}-{'tty' if tty else 'plain'}", text, stable=True)


def test_preflight_verbose_lists_passes_grouped():
    text = render_preflight("preflight-lab-faults", 140, False, verbose=True)
    assert "pass" in text.split() and "hw.cpus" in text
    assert_snapshot("preflight-faults-140-plain-verbose", text, stable=True)


@pytest.mark.parametrize("tty", [False, True], ids=["plain", "tty"])
@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("run", ["up-lab-build", "up-lab-noop"])
def test_up(run, width, tty):
    text = render_up(run, width, tty)
    assert_snapshot(f"{run}-{width}-{'tty' if tty else 'plain'}", text, stable=True)
    result = up_report.from_dict(load_report(run))
    lines = text.splitlines()
    if run == "up-lab-noop":
        assert len(lines) <= (16 if tty else 12), text      # tty: the table and the verdict; plain: a line per phase
    changed = {(p.name, h.host) for p in result.phases for h in p.hosts if h.changes}
    if not tty:      # each changed host named once per phase (hosts with the same change share a line), no others
        rows = [h for line in lines if line.startswith("  ") for h in expand(line[2:].split("  ")[0])]
        assert sorted(rows) == sorted(h for _, h in changed), text
    else:            # the live display is gone: the changed hosts (each once per phase), the table, the verdict
        assert "⠋" not in text and "✓" not in text, text
        named = {}
        for line in lines:
            phase, _, rest = line.partition(": ")
            if phase in PHASE and rest:
                named.setdefault(phase, []).extend(expand(rest.split(" changed")[0]))
        assert named == {p.name: sorted(h.host for h in p.hosts if h.changes) for p in result.phases
                         if any(h.changes for h in p.hosts)}, text
        for p in result.phases:
            assert sum(line.startswith(f"│ {p.name} ") for line in lines) == 1, text


def test_up_at_98_nodes_off_a_terminal_is_a_line_per_group_of_identical_changes():
    """The lab build's report with node1-3 made node1-90 (the same changes each): a 98-node full build
    in a CI log fits in 60 lines, the workers' join is one line."""
    result = up_report.from_dict(load_report("up-lab-build"))
    for prun in result.phases:
        model = next((h for h in prun.hosts if h.host == "node1"), None)
        if model:
            prun.hosts = [h for h in prun.hosts if not h.host.startswith("node")] + [
                dataclasses.replace(model, host=f"node{i}") for i in range(1, 91)]
    con, buf = console(80, False)
    reporter = up_report.make_reporter(con)
    replay(result, reporter)
    reporter.finish(result)
    up_report.print_summary(result, con, "inventories/lab.yaml", table=False)
    lines = buf.getvalue().splitlines()
    assert len(lines) <= 60, buf.getvalue()
    assert "  node[1-90]  changed (new): kubeadm join" in lines, buf.getvalue()


def test_up_verbose_prints_every_host_and_quiet_only_the_summary():
    result = up_report.from_dict(load_report("up-lab-noop"))
    verbose = render_up("up-lab-noop", 80, False, "v")
    for p in result.phases:
        for h in p.hosts:
            assert re.search(rf"^  {h.host} +ok ", verbose, re.M), (p.name, h.host)
    quiet = render_up("up-lab-noop", 80, False, "q")
    assert quiet.splitlines()[0] == "up: cluster lab" and quiet.splitlines()[-1].startswith("up: 0 changed in ")
    assert_snapshot("up-lab-noop-80-plain-quiet", quiet, stable=True)


def test_live_frame_shows_a_counter_elapsed_time_and_a_spinner_per_running_host():
    con, buf = console(80, True)
    now = [100.0]
    reporter = up_progress.LiveReporter(con, clock=lambda: now[0])
    reporter.live.auto_refresh = False
    hosts = [f"node{i}" for i in range(1, 13)]
    reporter.phase_started(PHASE["kube-packages"], hosts)
    for h in hosts[:10]:
        reporter.host_started("kube-packages", h)
        reporter.step_started("kube-packages", h, "install kubelet kubeadm kubectl")
    for h in hosts[10:]:
        reporter.host_started("kube-packages", h)
    reporter.host_done(up_progress.HostRun("node1", "kube-packages", "changed", [Change("install x")]))
    now[0] = 112.34
    frame, frame_buf = console(80, True)
    frame.print(reporter.render())
    text = screen(frame_buf.getvalue())
    reporter.finish(None)
    assert text.splitlines()[0].endswith("kube-packages        1/12 hosts  1 change  12.3s"), text
    assert "and 3 more running" in text and len(text.splitlines()) == 1 + reporter.MAX_HOSTS + 1
    assert_snapshot("up-live-frame-80", text)


@pytest.mark.parametrize("width", WIDTHS)
def test_real_cli_on_a_terminal(tmp_path, width):
    """preflight and up on a pty, every host unreachable (loopback port 9): one grouped finding; up stops at
    its preflight with one summary; nothing left of a live display, no line wider than the terminal."""
    from tests.test_cli import _loopback_inventory

    inv = _loopback_inventory(tmp_path)
    code, text = pty_run(["preflight", "-i", str(inv), "--timeout", "2", "--state-dir", str(tmp_path / "s")],
                          width)
    assert code == 3, text
    assert text.count("UNREACHABLE") == 1 and "master[1-3], node[1-3], ha[1-2]" in text, text
    assert all(len(line) <= width for line in text.splitlines()), text
    assert_snapshot(f"preflight-pty-unreachable-{width}", text)
    code, text = pty_run(["up", "-i", str(inv), "--timeout", "2", "--state-dir", str(tmp_path / "s")], width)
    assert code == 3 and "UNREACHABLE in phase preflight" in text and "Traceback" not in text, text


def test_preflight_findings_up_fixes_are_one_line_per_distinct_list():
    """`up` on 8 fresh hosts: not eight "preflight: HOST: ... - will fix" lines, one per distinct list."""
    kube = {h: ["kernel.sysctl (prep)", "name.resolve (prep)", "time.sync (prep)"]
            for h in ("master1", "master2", "master3", "node1", "node2", "node3")}
    lbs = {h: ["lb.nonlocal_bind (lb)", "name.resolve (prep)", "time.sync (prep)"] for h in ("ha1", "ha2")}
    con, buf = console(80, False)
    up_progress.LineReporter(con).preflight_will_fix({**kube, **lbs})
    assert buf.getvalue().splitlines() == [
        "preflight: kernel.sysctl (prep), name.resolve (prep), time.sync (prep) on master[1-3], node[1-3] - "
        "this run fixes them",
        "preflight: lb.nonlocal_bind (lb), name.resolve (prep), time.sync (prep) on ha[1-2] - this run fixes them"]
    con, buf = console(80, False)
    up_progress.ConsoleReporter(con).preflight_will_fix(kube)          # -v: one line per host, as before
    assert buf.getvalue().splitlines()[0] == "preflight: master1: kernel.sysctl (prep), name.resolve (prep), " \
                                             "time.sync (prep) - will fix"
