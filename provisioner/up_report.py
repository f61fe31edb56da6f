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
        detail = {"changed": f"{run.changed} changed", "planned": f"{run.changed} to change",
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
                console.print(f"[cyan]{prun.name}[/] {hrun.host}: {escape(change.step)}", markup=True)
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
        console.print(f"[bold red]FAILED[/] in phase {f.phase} on {f.host}: {escape(f.message)}", highlight=False,
                      markup=True)
        if f.command:
            console.print(f"  command: {f.command}", markup=False, highlight=False)
            console.print(f"  exit code: {f.rc}", markup=False, highlight=False)
        if f.tail:
            console.print("  last lines of its output:", markup=False)
            for line in f.tail.splitlines():
                console.print(f"    {line}", markup=False, highlight=False)
        console.print(f"  re-run `provisioner up -i {inventory}` to resume at {f.phase} "
                      f"(completed steps are journaled); log: {result.log_path}", markup=False, highlight=False)
    elif result.interrupted:
        console.print(f"interrupted: {result.changed} {verb} so far; re-run `provisioner up -i {inventory}` to "
                      f"resume; log: {result.log_path}", markup=False, highlight=False)
    else:
        console.print(f"{'plan' if result.plan else 'up'}: {result.changed} {verb} in {result.seconds:.1f}s "
                      f"(log: {result.log_path})", markup=False, highlight=False)


def to_json(result: UpResult) -> str:
    failure = None
    if result.failure:
        f = result.failure
        failure = {"host": f.host, "phase": f.phase, "command": f.command, "exit_code": f.rc, "tail": f.tail,
                   "message": f.message}
    data = {
        "version": REPORT_VERSION,
        "cluster": result.cluster,
        "plan": result.plan,
        "ok": result.ok,
        "changed": result.changed,
        "seconds": round(result.seconds, 3),
        "interrupted": result.interrupted,
        "log": result.log_path,
        "preflight": result.preflight,
        "failure": failure,
        "phases": [{
            "name": p.name, "seconds": round(p.seconds, 3), "changed": p.changed,
            "hosts": [{"host": h.host, "status": h.status, "seconds": round(h.seconds, 3), "note": h.note,
                       "error": h.error,
                       "changes": [{"step": c.step, "commands": c.commands, "diff": c.diff} for c in h.changes]}
                      for h in sorted(p.hosts, key=lambda h: h.host)],
        } for p in result.phases],
    }
    return json.dumps(data, indent=2) + "\n"
