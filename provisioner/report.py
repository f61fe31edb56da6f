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
import xml.etree.ElementTree as ET
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from provisioner.checks.base import FAIL, PASS, SKIP, WARN
from provisioner.preflight import Report

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


def print_table(report: Report, console: Console, verbose: bool = False) -> None:
    """A table grouped by host: failures and warnings always, passes with --verbose."""
    table = Table(title=f"preflight: cluster {report.cluster}", show_lines=False, expand=False)
    for col in ("host", "check", "status", "observed", "fix"):
        table.add_column(col, overflow="fold")
    for h in report.hosts:
        first = True
        for r in h.results:
            if not verbose and r.status in (PASS, SKIP) and h.reachable:
                continue
            status = "unreachable" if not h.reachable else r.status
            table.add_row(h.host if first else "", r.check, Text(status, style=STYLE[status]), r.observed,
                          r.fix if r.status != PASS else "")
            first = False
        if first:
            passed = sum(r.status == PASS for r in h.results)
            table.add_row(h.host, f"{passed} checks", Text("pass", style=STYLE[PASS]), "", "")
        table.add_section()
    console.print(table)
    c = _counts(report)
    console.print(f"{len(report.hosts)} hosts, {c[PASS]} passed, {c[WARN]} warnings, {c[FAIL]} failed, "
                  f"{c[SKIP]} skipped, {c['unreachable_hosts']} unreachable in {report.duration:.2f}s")
