"""Snapshot (golden file) checks of rendered output: a layout regression shows as a diff.

>>> assert_snapshot("preflight-faults-80-plain", text)       # doctest: +SKIP

The files live in tests/snapshots/NAME.txt. After an intended change of the output, write them again
and review the diff like code:

    UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/test_output_snapshots.py      # no lab
    UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/test_up_lab.py \\
        tests/test_preflight_lab.py::test_table_groups_findings_fits_80_columns          # the lab ones

Lab snapshots also write the JSON report they rendered (tests/snapshots/*.json): the no-lab tests
render those again at other widths, on a terminal and off it (so update the lab ones first). A snapshot
that differs (or is missing) also leaves what the run printed in tests/snapshots/new/ (untracked) for review.

What changes from run to run is normalised before comparing: durations (``12.3s``, ``2m05.0s``,
``0.42s``), milliseconds, the run log's path, temporary directories and UUIDs (output rendered from a saved
report keeps its durations: they are fixed there, and they size the table's columns). Secrets are not
normalised: tests/test_up_lab.py asserts they are absent (a mask would hide a leak).
"""

from __future__ import annotations

import difflib
import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from tests.support.cli import REPO

SNAPSHOTS = Path(__file__).resolve().parents[1] / "snapshots"
UPDATE = os.environ.get("UPDATE_SNAPSHOTS") == "1"

_RULES = [
    (re.compile(r"(?<![\w.])(\d+m)?\d+\.\d+s\b"), "<t>"),                     # 12.3s, 2m05.0s, 0.42s
    (re.compile(r"-?\d+(\.\d+)? ms\b"), "<n> ms"),
    (re.compile(r"\(log: [^)]*\)"), "(log: <log>)"),
    (re.compile(r"/tmp/[\w./-]+"), "<tmp>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "<uuid>"),   # a node's, per boot
]
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def normalise(text: str, stable: bool = False) -> str:
    """``text`` with what differs between runs replaced by placeholders; trailing blanks dropped.
    ``stable``: rendered from a saved report (durations are fixed there and keep the columns' widths)."""
    for rule, value in _RULES[2:3] if stable else _RULES:
        text = rule.sub(value, text)
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def assert_snapshot(name: str, text: str, stable: bool = False) -> None:
    """``text`` (normalised) equals tests/snapshots/NAME.txt; with UPDATE_SNAPSHOTS=1 it becomes it."""
    path = SNAPSHOTS / f"{name}.txt"
    text = normalise(text, stable)
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    want = path.read_text(encoding="utf-8") if path.exists() else None
    if text != want:
        # What it printed now, for review (tests/snapshots/new/ is not tracked).
        (SNAPSHOTS / "new").mkdir(exist_ok=True)
        (SNAPSHOTS / "new" / f"{name}.txt").write_text(text, encoding="utf-8")
    assert want is not None, f"{path}: no snapshot yet - run with UPDATE_SNAPSHOTS=1 and review it"
    if text != want:
        diff = "".join(difflib.unified_diff(want.splitlines(True), text.splitlines(True), f"{name} (snapshot)",
                                            f"{name} (now)"))
        raise AssertionError(f"output differs from {path} (UPDATE_SNAPSHOTS=1 rewrites it):\n{diff}")


def save_report(name: str, data: dict | str) -> None:
    """With UPDATE_SNAPSHOTS=1: keep a lab run's JSON report for the no-lab snapshot tests."""
    if UPDATE:
        SNAPSHOTS.mkdir(parents=True, exist_ok=True)
        text = data if isinstance(data, str) else json.dumps(data, indent=2) + "\n"
        (SNAPSHOTS / f"{name}.json").write_text(text, encoding="utf-8")


def load_report(name: str) -> dict:
    return json.loads((SNAPSHOTS / f"{name}.json").read_text(encoding="utf-8"))


def screen(raw: str) -> str:
    """The text a terminal shows after ``raw``: \\r, \\n, ESC[nA (up), ESC[2K (erase line); colours ignored."""
    lines, row, col = [""], 0, 0
    for token in re.split(r"(\x1b\[[0-9;?]*[A-Za-z]|\r|\n)", raw):
        if not token:
            continue
        if token == "\n":
            row, col = row + 1, 0
            if row == len(lines):
                lines.append("")
        elif token == "\r":
            col = 0
        elif token.startswith("\x1b["):
            if token.endswith("A"):
                row = max(0, row - int(token[2:-1] or 1))
            elif token == "\x1b[2K":
                lines[row] = ""
        else:
            line = lines[row].ljust(col)
            lines[row] = line[:col] + token + line[col + len(token):]
            col += len(token)
    return "\n".join(line.rstrip() for line in lines).rstrip("\n") + "\n"


def pty_run(args: list[str], columns: int, timeout: float = 120) -> tuple[int, str]:
    """``provisioner ARGS`` on a pseudo-terminal COLUMNS wide; (exit code, the screen it leaves)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = {**os.environ, "COLUMNS": str(columns), "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([sys.executable, "-m", "provisioner", *args], cwd=REPO, stdin=slave, stdout=slave,
                            stderr=slave, env=env, close_fds=True)
    os.close(slave)
    chunks, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:      # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    code = proc.wait(timeout=30)
    return code, screen(b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n"))
