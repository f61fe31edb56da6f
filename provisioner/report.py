"""Preflight reports: a rich table for people, JSON (documented schema) and JUnit XML for machines.

>>> print(to_json(report))          # doctest: +SKIP
>>> to_junit(report)                # doctest: +SKIP  -> '<?xml ...><testsuites ...>'

The JSON layout is versioned (``schema_version``) and described by
``provisioner/schemas/preflight-report.schema.json``; fields are only ever
added within a version.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from provisioner.checks.base import FAIL, PASS, SKIP, WARN, Result
from provisioner.hostlist import compress, plural, seconds
from provisioner.preflight import HostReport, Report

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

# rich (the table) and ElementTree (JUnit) are imported by the functions that print or build them:
# `preflight --format json` never loads either (tests/test_import_discipline.py pins it).

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "preflight-report.schema.json"
STYLE = {PASS: "green", WARN: "yellow", FAIL: "bold red", SKIP: "dim", "unreachable": "bold magenta"}


def to_dict(report: Report) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": "provisioner preflight",
        "cluster": report.cluster,
        "inventory": report.inventory,
        "started": dt.datetime.fromtimestamp(report.started, dt.timezone.utc).isoformat(),
        "duration": round(report.duration, 4),
        "exit_code": report.exit_code,
        "summary": _counts(report),
        "hosts": [
            {
                "host": h.host,
                "address": h.address,
                "roles": h.roles,
                "status": h.status,
                "reason": h.reason,
                "duration": round(h.duration, 4),
                "checks": [
                    {"id": r.check, "status": r.status, "observed": r.observed, "expected": r.expected,
                     "fix": r.fix, "fixed_by": r.fixed_by, "duration": round(r.duration, 4)}
                    for r in h.results
                ],
            }
            for h in report.hosts
        ],
    }


def _counts(report: Report) -> dict:
    counts = {PASS: 0, WARN: 0, FAIL: 0, SKIP: 0}
    for h in report.hosts:
        for r in h.results:
            counts[r.status] += 1
    counts["unreachable_hosts"] = sum(1 for h in report.hosts if not h.reachable)
    return counts


def to_json(report: Report) -> str:
    return json.dumps(to_dict(report), indent=2) + "\n"


def to_junit(report: Report) -> str:
    """One testsuite per host, one testcase per check; warnings pass with a note, skips are skipped."""
    import xml.etree.ElementTree as ET
    suites = ET.Element("testsuites", name=f"provisioner preflight {report.cluster}",
                        time=f"{report.duration:.3f}")
    for h in report.hosts:
        suite = ET.SubElement(suites, "testsuite", name=f"preflight.{h.host}", hostname=h.address,
                              tests=str(len(h.results)), time=f"{h.duration:.3f}",
                              failures=str(sum(r.status == FAIL for r in h.results if r.check != "ssh.connect")),
                              errors=str(0 if h.reachable else 1), skipped=str(sum(r.status == SKIP for r in h.results)))
        for r in h.results:
            case = ET.SubElement(suite, "testcase", classname=f"preflight.{h.host}", name=r.check, time=f"{r.duration:.3f}")
            detail = f"observed: {r.observed}\nexpected: {r.expected}\nfix: {r.fix}"
            if r.check == "ssh.connect" and not h.reachable:
                ET.SubElement(case, "error", message=f"unreachable: {r.observed}", type="unreachable").text = detail
            elif r.status == FAIL:
                ET.SubElement(case, "failure", message=f"{r.observed} - {r.fix}", type="fail").text = detail
            elif r.status == SKIP:
                ET.SubElement(case, "skipped", message=r.observed)
            elif r.status == WARN:
                ET.SubElement(case, "system-out").text = f"WARNING: {detail}"
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


NARROW = 100     # below this many columns: one finding per block instead of a table
ORDER = {"unreachable": 0, FAIL: 1, WARN: 2, SKIP: 3, PASS: 4}
LABEL = {"unreachable": "UNREACHABLE", FAIL: "FAIL", WARN: "warn", SKIP: "skip", PASS: "pass"}


@dataclass
class Finding:
    """One check with one status and one fix on one or more hosts: what the table shows as one row.

    ``values``: each observed value with the hosts that showed it, the most common first (a check such as
    name resolution sees each host's own name differently: still one finding)."""

    check: str
    status: str
    fix: str
    values: dict[str, list[str]] = field(default_factory=dict)

    @property
    def hosts(self) -> list[str]:
        return [h for hosts in self.values.values() for h in hosts]

    @property
    def where(self) -> str:
        return compress(self.hosts)

    def observed(self, every: bool) -> str:
        """The observed value; with several: the commonest with its hosts, then the others (``every``) or
        how many others there are and where."""
        ranked = sorted(self.values.items(), key=lambda kv: -len(kv[1]))
        if len(ranked) == 1:
            return ranked[0][0]
        if every:
            return "; ".join(f"{compress(hosts)}: {value}" for value, hosts in ranked)
        (value, hosts), rest = ranked[0], ranked[1:]
        others = [h for _, hs in rest for h in hs]
        return (f"{compress(hosts)}: {value}; {plural(len(rest), 'other value')} on {compress(others)} "
                "(--verbose shows them)")


def fix_text(result) -> str:
    """The fix of ``result`` said once: the check's own words without its "(prep does this)" aside and without
    preflight's "`provisioner up` (prep phase) fixes this" suffix, then one clause naming the phase of `up`
    that fixes it, when one does."""
    text = result.fix or ""
    phase = result.fixed_by
    if phase:
        text = re.sub(r";\s*`provisioner up` \(\S+ phase\) fixes this$", "", text)
        text = re.sub(rf";\s*{re.escape(phase)} does this\)", ")", text)    # "(... swap on; prep does this)"
        text = re.sub(rf"\s*\({re.escape(phase)} [^()]*\)", "", text)     # "(prep does this)", "(prep comments ...)"
        said = f"`provisioner up` fixes this ({phase} phase)"
        text = f"{text.rstrip(' ;')} - {said}" if text.rstrip(" ;") else said
    return text


def findings(report: Report, verbose: bool = False) -> list[Finding]:
    """The verdicts of every host merged by check, status and fix, failures first, then warnings (passes and
    skips only when ``verbose``); hosts in inventory order."""
    merged: dict[tuple, Finding] = {}
    for h in report.hosts:
        for r in h.results:
            status = "unreachable" if not h.reachable else r.status
            if not verbose and status in (PASS, SKIP):
                continue
            fix = "" if status == PASS else fix_text(r)
            # "connection refused on 10.0.0.7:22" on every host is one value: each host's own address
            # becomes <address> (only where it stands alone, never inside a longer number).
            observed = re.sub(rf"(?<![\d.]){re.escape(h.address)}(?![\d])", "<address>", r.observed) \
                if h.address else r.observed
            finding = merged.setdefault((r.check, status, fix), Finding(r.check, status, fix))
            finding.values.setdefault(observed, []).append(h.host)
    order = {h.host: i for i, h in enumerate(report.hosts)}
    return sorted(merged.values(), key=lambda f: (ORDER[f.status], f.check, order[f.hosts[0]]))


def summary_line(report: Report) -> str:
    """The closing line: hosts, then verdicts counted per check and host, then the duration."""
    c = _counts(report)
    return (f"{plural(len(report.hosts), 'host')}, {c['unreachable_hosts']} unreachable: {c[FAIL]} failed, "
            f"{plural(c[WARN], 'warning')}, {c[PASS]} passed, {c[SKIP]} skipped in {seconds(report.duration)}")


def print_table(report: Report, console: Console, verbose: bool = False) -> None:
    """The findings, grouped across hosts: a table from 100 columns on, one block per finding below that.

    Failures and warnings always, passes and skips with ``verbose``; text wraps at spaces, never
    inside a word (a word longer than its column is the only exception)."""
    from rich.text import Text

    rows = findings(report, verbose)
    console.print(Text(f"preflight: cluster {report.cluster}", style="bold"))
    if not rows:
        console.print("no failures or warnings (--verbose lists the passes)")
    elif console.width < NARROW:
        _blocks(rows, console, verbose)
    else:
        _table(rows, console, verbose)
    console.print(summary_line(report))


def _status(f: Finding) -> Text:
    from rich.text import Text
    return Text(LABEL[f.status], style=STYLE[f.status])


def _table(rows: list[Finding], console: Console, verbose: bool) -> None:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, expand=False)
    table.add_column("status", no_wrap=True)
    table.add_column("check", no_wrap=True)
    # A word longer than its column is folded, never cut with an ellipsis: a UUID or a sysctl name is data.
    table.add_column("hosts", max_width=32, overflow="fold")
    table.add_column("observed", ratio=1, min_width=16, overflow="fold")
    table.add_column("fix", ratio=1, min_width=20, overflow="fold")
    for f in rows:
        table.add_row(_status(f), f.check, f.where, f.observed(verbose or f.status != WARN), f.fix)
    print_trimmed(console, table)


def print_trimmed(console: Console, renderable) -> None:
    """Print ``renderable`` line by line without the blanks rich pads cells with (copy-paste and diffs stay clean)."""
    from rich.text import Text

    for line in console.render_lines(renderable, console.options, pad=False):
        text = Text.assemble(*((seg.text, seg.style) for seg in line if not seg.control))
        text.rstrip()
        console.print(text, soft_wrap=True)


def _blocks(rows: list[Finding], console: Console, verbose: bool) -> None:
    """One finding per block: ``STATUS check on hosts``, then observed and fix indented; a wrapped value keeps
    its indent, so the eye finds the next block at the left edge. Lines break at spaces only."""
    from rich.text import Text

    width = max(40, console.width)
    for f in rows:
        head = _status(f)
        head.append(f" {f.check}", style="bold")
        head.append(" on ")
        console.print(_wrapped(head, f.where, width, 4), soft_wrap=True)
        for label, value in (("observed", f.observed(verbose or f.status != WARN)), ("fix", f.fix)):
            if value:
                console.print(_wrapped(Text(f"  {label}: "), value, width, len(label) + 4), soft_wrap=True)


def print_wrapped(console: Console, head: Text, value: str, indent: int) -> None:
    """``head`` and ``value`` at the console's width, broken at spaces only, continuation lines indented."""
    console.print(_wrapped(head, value, max(40, console.width), indent), soft_wrap=True)


def _wrapped(head: Text, value: str, width: int, indent: int) -> Text:
    """``head`` then ``value`` wrapped at spaces to ``width``, continuation lines indented by ``indent``.
    A word longer than a line gets a line of its own (and only then passes the edge)."""
    lines: list[str] = []
    for word in value.split():
        room = (width - len(head.plain)) if len(lines) <= 1 else width - indent
        if lines and len(lines[-1]) + 1 + len(word) <= room:
            lines[-1] += " " + word
        else:
            lines.append(word)
    text = head.copy()
    text.append(lines[0] if lines else "")
    for line in lines[1:]:
        text.append("\n" + " " * indent + line)
    return text


def from_dict(data: dict) -> Report:
    """A report back from its JSON (:func:`to_dict`): render a saved run again, e.g. at another width.

    >>> from_dict(json.loads(Path("preflight.json").read_text())).exit_code     # doctest: +SKIP
    1
    """
    started = dt.datetime.fromisoformat(data["started"]).timestamp()
    hosts = [HostReport(h["host"], h["address"], list(h["roles"]), h["status"] != "unreachable", h["reason"],
                        [Result(c["id"], c["status"], c["observed"], c["expected"], c["fix"], c["duration"],
                                c["fixed_by"]) for c in h["checks"]], h["duration"])
             for h in data["hosts"]]
    return Report(data["cluster"], data["inventory"], hosts, started, data["duration"])
