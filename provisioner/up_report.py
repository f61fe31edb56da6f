"""How ``up`` talks: progress per phase and host, the plan with diffs, the summary, JSON.

>>> reporter = make_reporter(Console(stderr=True))      # doctest: +SKIP   live on a TTY, lines in a CI log
>>> result = run_up(inv, state, keys, options, reporter) # doctest: +SKIP
>>> reporter.finish(result)                             # doctest: +SKIP   the changed and failed hosts
>>> print_summary(result, Console(), "inv.yaml")        # doctest: +SKIP   the per-phase table, the verdict

Four voices, one per audience:

- :class:`LiveReporter` (a terminal): one line per phase with a host counter and its elapsed time, a
  spinner per running host naming its current step; at the end only the hosts that changed or failed;
- :class:`LineReporter` (a CI log, no terminal): one line per phase as it starts, and after it one line
  per host that changed or failed - never one per unchanged host (a no-op run on 100 hosts: ~12 lines);
- :class:`ConsoleReporter` (``-v``): one line per phase and per host, every host, as before;
- :class:`QuietReporter` (``-q``): nothing but what went wrong; the summary follows.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from provisioner.engine import HostRun, PhaseRun, Reporter, UpResult
from provisioner.hostlist import compress, natural, plural, seconds

STYLE = {"ok": "green", "changed": "yellow", "skipped": "dim", "failed": "bold red", "planned": "cyan",
         "stopped": "dim"}
REPORT_VERSION = 1


class ConsoleReporter(Reporter):
    """``-v``: one line per phase start and per host done (unchanged ones too), as they happen."""

    def __init__(self, console: Console):
        self.console = console

    def phase_started(self, phase, hosts):
        how = "one at a time" if phase.serial else "in parallel"
        self.console.print(f"[bold]{phase.name}[/] ({escape(phase.summary)}) on {plural(len(hosts), 'host')}, {how}",
                           markup=True)

    def host_done(self, run: HostRun):
        style = STYLE.get(run.status, "")
        why = f" ({run.reason})" if run.reason else ""
        detail = {"changed": f"{run.changed} changed{why}", "planned": f"{run.changed} to change{why}",
                  "skipped": run.note, "ok": "no change", "failed": run.error}.get(run.status, run.note)
        self.console.print(f"  {run.host:<16} [{style}]{run.status:<8}[/] {seconds(run.seconds):>7}  {escape(detail)}",
                           highlight=False, markup=True)

    def phase_done(self, run: PhaseRun):
        pass

    def note(self, text):
        self.console.print(text)

    def finish(self, result: UpResult | None) -> None:
        """Called once when the run is over (also when it could not start): nothing left to say here."""


def phase_line(phase, hosts: list[str]) -> str:
    """The line a phase starts with (a CI log's landmark): ``runtime (...) on 6 hosts, in parallel``."""
    how = "" if len(hosts) == 1 else ", one at a time" if phase.serial else ", in parallel"
    return f"{phase.name} ({phase.summary}) on {plural(len(hosts), 'host')}{how}"


def what_changed(run: HostRun) -> str:
    """One host's outcome in a phase, for a person: ``changed (new): write /etc/hosts, ...`` or the error."""
    if run.status == "failed":
        return "FAILED: " + (run.error.strip().splitlines() or ["?"])[0]
    verb = {"planned": "would change", "stopped": "stopped"}.get(run.status, "changed")
    why = f" ({run.reason})" if run.reason else ""
    steps = ", ".join(c.step for c in run.changes)
    return f"{verb}{why}: {steps}" if steps else f"{verb}{why}"


def _worth_a_line(run: HostRun) -> bool:
    """Failed, or changed something. A plan's hosts are not: the plan itself lists them, with diffs."""
    return run.status == "failed" or (bool(run.changes) and run.status != "planned")


class QuietReporter(Reporter):
    """``-q``: no progress at all; failures reach the summary, which the caller prints."""

    def __init__(self, console: Console):
        self.console = console

    def note(self, text):
        if text.startswith("interrupted"):      # the one note that explains a pause the user caused
            self.console.print(text)

    def finish(self, result: UpResult | None) -> None: ...


class LineReporter(Reporter):
    """Progress for a log file or CI: one line when a phase starts, then one line per host that changed or
    failed in it (sorted by host once the phase is over, so two runs' logs diff cleanly)."""

    wants_table = False      # a log has a line per phase already: the table would double a no-op run's length

    def __init__(self, console: Console):
        self.console = console
        self.lock = threading.Lock()
        self.pending: list[HostRun] = []

    def phase_started(self, phase, hosts):
        self.console.print(phase_line(phase, hosts))

    def host_done(self, run: HostRun):
        if _worth_a_line(run):
            with self.lock:
                self.pending.append(run)

    def phase_done(self, run: PhaseRun):
        self._flush()

    def note(self, text):
        self.console.print(text)

    def preflight_will_fix(self, will_fix: dict[str, list[str]]) -> None:
        for line in will_fix_lines(will_fix):
            self.console.print(line)

    def _flush(self) -> None:
        with self.lock:
            runs, self.pending = sorted(self.pending, key=lambda r: natural(r.host)), []
        width = max((len(r.host) for r in runs), default=0)
        for run in runs:
            self.console.print(f"  {run.host:<{width}}  {what_changed(run)}")

    def finish(self, result: UpResult | None) -> None:
        self._flush()       # an interrupted phase never reached phase_done


def will_fix_lines(will_fix: dict[str, list[str]]) -> list[str]:
    """``up``'s preflight findings that a phase of the run repairs, hosts with the same list merged:
    ``preflight: kernel.sysctl (prep), time.sync (prep) on master[1-3], node[1-3] - up fixes these``."""
    groups: dict[tuple, list[str]] = {}
    for host, checks in will_fix.items():
        groups.setdefault(tuple(checks), []).append(host)
    return [f"preflight: {', '.join(checks)} on {compress(hosts)} - "
            f"{'this run fixes it' if len(checks) == 1 else 'this run fixes them'}"
            for checks, hosts in groups.items()]


class LiveReporter(LineReporter):
    """A terminal: rich's live display. Each done phase is one line (``✓ prep  8/8 hosts  3 changes  2.3s``);
    the running phase shows its host counter and elapsed time and a spinner per running host with the step it
    is in. :meth:`finish` clears the display (the per-phase table says the same, once) and lists only the hosts
    that changed or failed; notes (preflight findings this run fixes, Ctrl-C) are printed above it and stay."""

    MAX_HOSTS = 8      # spinner lines shown at once; the rest are counted ("and 24 more")
    wants_table = True

    def __init__(self, console: Console, clock: Callable[[], float] = time.monotonic):
        super().__init__(console)
        self.clock = clock
        self.phase: str | None = None
        self.total = 0
        self.done = 0
        self.changed = 0
        self.started = 0.0
        self.running: dict[str, tuple[str, Spinner]] = {}
        self.finished: list[Text] = []
        self.live = Live(console=console, refresh_per_second=8, transient=True, get_renderable=self.render)

    # hooks (worker threads) -----------------------------------------------------------------------
    def phase_started(self, phase, hosts):
        with self.lock:
            self.phase, self.total, self.done, self.changed = phase.name, len(hosts), 0, 0
            self.started = self.clock()
            self.running = {}
        if not self.live.is_started:
            self.live.start()
        self.live.refresh()

    def host_started(self, phase: str, host: str) -> None:
        with self.lock:
            self.running[host] = ("read the host", Spinner("dots", style="cyan"))

    def step_started(self, phase: str, host: str, step: str) -> None:
        with self.lock:
            if host in self.running:
                self.running[host] = (step, self.running[host][1])

    def host_done(self, run: HostRun):
        with self.lock:
            self.running.pop(run.host, None)
            self.done += 1
            self.changed += run.changed
        super().host_done(run)

    def phase_done(self, run: PhaseRun):
        failed = sum(h.status == "failed" for h in run.hosts)
        line = Text("✓ " if not failed else "✗ ", style="green" if not failed else "bold red")
        line.append(f"{run.name:<20} {len(run.hosts)}/{plural(self.total, 'host')}  "
                    f"{plural(run.changed, 'change')}  {seconds(run.seconds)}")
        if failed:
            line.append(f"  {failed} failed", style="bold red")
        with self.lock:
            self.phase, self.running = None, {}
            self.finished.append(line)
        self.live.refresh()

    def note(self, text):
        self.live.console.print(text)

    def preflight_will_fix(self, will_fix):
        for line in will_fix_lines(will_fix):
            self.live.console.print(line)

    # rendering (the live thread) --------------------------------------------------------------------
    def render(self):
        with self.lock:
            if self.phase is None:
                return Group(*self.finished)
            running = sorted(self.running.items(), key=lambda kv: natural(kv[0]))
            head = Spinner("dots", text=Text(f"{self.phase:<20} {self.done}/{plural(self.total, 'host')}  "
                                             f"{plural(self.changed, 'change')}  "
                                             f"{seconds(self.clock() - self.started)}"), style="bold")
            width = max((len(h) for h, _ in running), default=0)
            rows = [Spinner(spin.name, text=Text(f"{host:<{width}}  {step}", overflow="ellipsis", no_wrap=True),
                            style="cyan")
                    for host, (step, spin) in running[:self.MAX_HOSTS]]
            if len(running) > self.MAX_HOSTS:
                rows.append(Text(f"    and {len(running) - self.MAX_HOSTS} more running"))
        return Group(*self.finished, head, *[_indent(r) for r in rows])

    def finish(self, result: UpResult | None) -> None:
        if self.live.is_started:
            self.live.stop()
        with self.lock:
            self.pending = []
        if result is not None:
            print_changes(result, self.console)


def _indent(renderable):
    from rich.padding import Padding
    return Padding(renderable, (0, 0, 0, 2))


def print_changes(result: UpResult, console: Console) -> None:
    """The hosts that changed or failed, per phase; hosts with the very same outcome share a line
    (``master[1-3]``)."""
    from provisioner.report import print_wrapped

    for prun in result.phases:
        groups: dict[str, list[str]] = {}
        for run in sorted(prun.hosts, key=lambda r: natural(r.host)):
            if _worth_a_line(run):
                groups.setdefault(what_changed(run), []).append(run.host)
        for what, hosts in groups.items():
            print_wrapped(console, Text(f"{prun.name}: {compress(hosts)} "), what, 4)


def make_reporter(console: Console, verbose: bool = False, quiet: bool = False) -> Reporter:
    """The voice for this run: ``-v`` every host, ``-q`` nothing but errors, else live on a terminal and
    one line per phase and per changed host in a log."""
    if verbose and quiet:
        from provisioner.errors import UsageError
        raise UsageError("--verbose and --quiet: give one of them")
    if not isinstance(console, Console):
        # cli.py's consoles are lazy proxies (rich loads on first print); rich's Live enters the console
        # as a context manager, which a proxy's __getattr__ cannot forward: hand over the console itself.
        console.is_terminal                                  # noqa: B018 - makes the proxy build it
        console = getattr(console, "_console", None) or console
    if verbose:
        return ConsoleReporter(console)
    if quiet:
        return QuietReporter(console)
    return LiveReporter(console) if console.is_terminal else LineReporter(console)


def print_plan(result: UpResult, console: Console) -> None:
    for prun in result.phases:
        for hrun in sorted(prun.hosts, key=lambda h: h.host):
            for change in hrun.changes:
                why = f" ({hrun.reason})" if hrun.reason else ""
                console.print(f"[cyan]{prun.name}[/] {hrun.host}: {escape(change.step)}{why}", markup=True)
                if change.diff:
                    console.print(change.diff.rstrip("\n"), markup=False, highlight=False)
                elif change.commands:
                    for command in change.commands:
                        console.print(f"    $ {command}", markup=False, highlight=False)


def print_summary(result: UpResult, console: Console, inventory: str, table: bool = True) -> None:
    """The per-phase table (unless ``table`` is False: a CI log already has a line per phase), then the
    verdict: done, failed (with the failure's fields) or interrupted."""
    if table:
        print_phase_table(result, console)
    verb = "would change" if result.plan else "changed"
    if result.failure:
        f = result.failure
        what = "UNREACHABLE" if f.kind == "unreachable" else "FAILED"
        where = compress(h.strip() for h in f.host.split(","))     # the JSON keeps "master1, master2, ..."
        console.print(f"[bold red]{what}[/] in phase {f.phase} on {where}: {escape(f.message)}", highlight=False,
                      markup=True)
        for label, value in failure_fields(f):
            if label == "output":
                console.print("  last lines of its output:", markup=False)
                for line in value.splitlines():
                    console.print(f"    {line}", markup=False, highlight=False)
            else:
                console.print(f"  {label}: {value}", markup=False, highlight=False)
        console.print(f"  re-run `provisioner up -i {inventory}` to resume at {f.phase} "
                      f"(completed steps are journaled); log: {result.log_path}", markup=False, highlight=False)
    elif result.interrupted:
        console.print(f"interrupted: {result.changed} {verb} so far; re-run `provisioner up -i {inventory}` to "
                      f"resume; log: {result.log_path}", markup=False, highlight=False)
    else:
        hosts = sorted({h.host for p in result.phases for h in p.hosts if h.changes})
        where = f" on {compress(hosts)}" if hosts else ""
        console.print(f"{'plan' if result.plan else 'up'}: {result.changed} {verb}{where} in {seconds(result.seconds)} "
                      f"(log: {result.log_path})", markup=False, highlight=False)


def print_phase_table(result: UpResult, console: Console) -> None:
    """One row per phase: hosts, changes, skipped hosts, duration."""
    table = Table(title=f"{'plan' if result.plan else 'up'}: cluster {result.cluster}", title_justify="left")
    for col in ("phase", "hosts", "changed" if not result.plan else "to change", "skipped", "time"):
        table.add_column(col, justify="right" if col != "phase" else "left")
    for p in result.phases:
        skipped = sum(1 for h in p.hosts if h.status == "skipped")
        table.add_row(p.name, str(len(p.hosts)), str(p.changed), str(skipped), seconds(p.seconds))
    console.print(table)


def failure_fields(f) -> list[tuple[str, str]]:
    """The summary lines of a failure that has them: step, command (redacted), exit code or signal,
    the output tail, the hint."""
    out = []
    if f.step:
        out.append(("step", f.step))
    if f.command:
        out.append(("command", f.command))
    if f.rc is not None:
        out.append(("exit code", f"{f.rc}" + (f" ({f.signal})" if f.signal else "")))
    elif f.signal:
        out.append(("signal", f.signal))
    if f.tail:
        out.append(("output", f.tail))
    if f.hint:
        out.append(("hint", f.hint))
    return out


def to_json(result: UpResult) -> str:
    failure = None
    if result.failure:
        f = result.failure
        failure = {"host": f.host, "phase": f.phase, "step": f.step, "command": f.command, "exit_code": f.rc,
                   "signal": f.signal or None, "tail": f.tail, "message": f.message, "hint": f.hint,
                   "kind": f.kind}
    data = {
        "version": REPORT_VERSION,
        "cluster": result.cluster,
        "plan": result.plan,
        "ok": result.ok,
        "changed": result.changed,
        "seconds": round(result.seconds, 3),
        "interrupted": result.interrupted,
        "exit_code": result.exit_code,
        "log": result.log_path,
        "preflight": result.preflight,
        "failure": failure,
        "phases": [{
            "name": p.name, "seconds": round(p.seconds, 3), "changed": p.changed,
            "hosts": [{"host": h.host, "status": h.status, "seconds": round(h.seconds, 3), "note": h.note,
                       "reason": h.reason, "error": h.error,
                       "changes": [{"step": c.step, "commands": c.commands, "diff": c.diff} for c in h.changes]}
                      for h in sorted(p.hosts, key=lambda h: h.host)],
        } for p in result.phases],
    }
    return json.dumps(data, indent=2) + "\n"


def error_json(exc: Exception) -> str:
    """The report of a run that could not start (bad input, state directory busy): same keys as :func:`to_json`."""
    code = getattr(exc, "exit_code", 1)
    data = {"version": REPORT_VERSION, "ok": False, "exit_code": code, "changed": 0, "interrupted": False,
            "failure": {"host": "-", "phase": "start", "step": "", "command": "", "exit_code": None, "signal": None,
                        "tail": "", "message": str(exc), "hint": "", "kind": "input" if code == 2 else "step"},
            "phases": []}
    return json.dumps(data, indent=2) + "\n"


def from_dict(data: dict) -> UpResult:
    """A result back from its JSON (:func:`to_json`): print a saved run again, e.g. at another width.

    >>> print_summary(from_dict(json.loads(Path("up.json").read_text())), Console(), "inv.yaml")  # doctest: +SKIP
    """
    from provisioner.engine import Failure
    from provisioner.steps import Change

    result = UpResult(data["cluster"], data["plan"], seconds=data["seconds"], log_path=data["log"],
                      interrupted=data["interrupted"], preflight=data.get("preflight"))
    f = data.get("failure")
    if f:
        result.failure = Failure(f["host"], f["phase"], f["command"], f["exit_code"], f["tail"], f["message"],
                                 f["step"], f["signal"] or "", f["hint"], f["kind"])
    for p in data["phases"]:
        prun = PhaseRun(p["name"], "", seconds=p["seconds"])
        prun.hosts = [HostRun(h["host"], p["name"], h["status"],
                              [Change(c["step"], c["commands"], c["diff"]) for c in h["changes"]],
                              h["seconds"], h["error"], h["note"], h["reason"]) for h in p["hosts"]]
        result.phases.append(prun)
    return result
