"""How ``up`` talks while it runs: progress per phase and host, then the hosts that changed or failed.

>>> reporter = make_reporter(Console(stderr=True))      # doctest: +SKIP
>>> result = run_up(inv, state, keys, options, reporter) # doctest: +SKIP
>>> reporter.finish(result)                             # doctest: +SKIP

Four voices, one per audience:

- :class:`LiveReporter` (a terminal): one line per phase with a host counter and its elapsed time, a
  spinner per running host naming its current step; at the end only the hosts that changed or failed;
- :class:`LineReporter` (a CI log, no terminal): one line per phase as it starts, and after it one line
  per group of hosts with the same change or failure (``node[1-95]  changed (new): ...``) - never one
  per unchanged host (a no-op run on 100 hosts: ~12 lines);
- :class:`ConsoleReporter` (``-v``): one line per phase and per host, every host, as before;
- :class:`QuietReporter` (``-q``): nothing but what went wrong; the summary follows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.padding import Padding
from rich.spinner import Spinner
from rich.text import Text

from provisioner.errors import UsageError
from provisioner.hostlist import compress, natural, plural, seconds
from provisioner.report import print_wrapped
from provisioner.reporter import Reporter
from provisioner.uptypes import HostRun, PhaseRun, UpResult

STYLE = {"ok": "green", "changed": "yellow", "skipped": "dim", "failed": "bold red", "planned": "cyan",
         "stopped": "dim"}


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


def grouped(runs: list[HostRun]) -> dict[str, list[str]]:
    """Outcome (:func:`what_changed`) -> the hosts that had it, in the order of ``runs``."""
    groups: dict[str, list[str]] = {}
    for run in runs:
        groups.setdefault(what_changed(run), []).append(run.host)
    return groups


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
    """Progress for a log file or CI: one line when a phase starts, then one line per group of hosts with
    the same change or failure in it (sorted by host once the phase is over, so two runs' logs diff cleanly)."""

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
        """One line per distinct outcome, its hosts folded (``node[1-95]  changed (new): kubeadm join``):
        a 98-node build is a few lines per phase, not one per host."""
        with self.lock:
            runs, self.pending = sorted(self.pending, key=lambda r: natural(r.host)), []
        labels = {what: compress(hosts) for what, hosts in grouped(runs).items()}
        width = max((len(label) for label in labels.values()), default=0)
        for what, label in labels.items():
            self.console.print(f"  {label:<{width}}  {what}")

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
    return Padding(renderable, (0, 0, 0, 2))


def print_changes(result: UpResult, console: Console) -> None:
    """The hosts that changed or failed, per phase; hosts with the very same outcome share a line
    (``master[1-3]``)."""
    for prun in result.phases:
        runs = sorted((r for r in prun.hosts if _worth_a_line(r)), key=lambda r: natural(r.host))
        for what, hosts in grouped(runs).items():
            print_wrapped(console, Text(f"{prun.name}: {compress(hosts)} "), what, 4)


def make_reporter(console: Console, verbose: bool = False, quiet: bool = False) -> Reporter:
    """The voice for this run: ``-v`` every host, ``-q`` nothing but errors, else live on a terminal and
    one line per phase and per changed host in a log."""
    if verbose and quiet:
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
