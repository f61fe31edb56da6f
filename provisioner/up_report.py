"""What ``up`` says when it is over: the plan with diffs, the summary table and verdict, the JSON report
(and a report back from its JSON, to render a saved run again).

>>> print_summary(result, Console(), "inv.yaml")        # doctest: +SKIP

The progress while it runs is :mod:`provisioner.up_progress` (``make_reporter`` is reachable from here too).
"""

from __future__ import annotations

import json

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from provisioner.hostlist import compress, seconds
from provisioner.steps import Change
from provisioner.up_progress import make_reporter
from provisioner.uptypes import Failure, HostRun, PhaseRun, UpResult

__all__ = ["error_json", "from_dict", "make_reporter", "print_plan", "print_summary", "to_json"]
REPORT_VERSION = 1

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
