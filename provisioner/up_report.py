"""How ``up`` talks: progress lines per phase and host, the plan with diffs, the summary, JSON.

>>> reporter = ConsoleReporter(Console(stderr=True))     # doctest: +SKIP
>>> print_summary(result, Console())                     # doctest: +SKIP
"""

from __future__ import annotations

import json

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from provisioner.engine import HostRun, PhaseRun, Reporter, UpResult

STYLE = {"ok": "green", "changed": "yellow", "skipped": "dim", "failed": "bold red", "planned": "cyan",
         "stopped": "dim"}
REPORT_VERSION = 1


class ConsoleReporter(Reporter):
    """One line per phase start and per host done, as they happen (also readable in CI logs)."""

    def __init__(self, console: Console):
        self.console = console

    def phase_started(self, phase, hosts):
        how = "one at a time" if phase.serial else "in parallel"
        self.console.print(f"[bold]{phase.name}[/] ({escape(phase.summary)}) on {len(hosts)} host(s), {how}",
                           markup=True)

    def host_done(self, run: HostRun):
        style = STYLE.get(run.status, "")
        why = f" ({run.reason})" if run.reason else ""
        detail = {"changed": f"{run.changed} changed{why}", "planned": f"{run.changed} to change{why}",
                  "skipped": run.note, "ok": "no change", "failed": run.error}.get(run.status, run.note)
        self.console.print(f"  {run.host:<16} [{style}]{run.status:<8}[/] {run.seconds:6.2f}s  {escape(detail)}",
                           highlight=False, markup=True)

    def phase_done(self, run: PhaseRun):
        pass

    def note(self, text):
        self.console.print(text)


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


def print_summary(result: UpResult, console: Console, inventory: str) -> None:
    table = Table(title=f"{'plan' if result.plan else 'up'}: cluster {result.cluster}", title_justify="left")
    for col in ("phase", "hosts", "changed" if not result.plan else "to change", "skipped", "seconds"):
        table.add_column(col, justify="right" if col != "phase" else "left")
    for p in result.phases:
        skipped = sum(1 for h in p.hosts if h.status == "skipped")
        table.add_row(p.name, str(len(p.hosts)), str(p.changed), str(skipped), f"{p.seconds:.2f}")
    console.print(table)
    verb = "would change" if result.plan else "changed"
    if result.failure:
        f = result.failure
        what = "UNREACHABLE" if f.kind == "unreachable" else "FAILED"
        console.print(f"[bold red]{what}[/] in phase {f.phase} on {f.host}: {escape(f.message)}", highlight=False,
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
        console.print(f"{'plan' if result.plan else 'up'}: {result.changed} {verb} in {result.seconds:.1f}s "
                      f"(log: {result.log_path})", markup=False, highlight=False)


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
