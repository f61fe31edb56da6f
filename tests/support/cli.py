"""Run the real ``provisioner`` CLI in a subprocess, as a user would.

>>> result = run_cli("validate", "-i", "inventories/seed-ha.yaml")   # doctest: +SKIP
>>> result.returncode, result.stdout                                  # doctest: +SKIP
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "provisioner", *args], capture_output=True, text=True,
                          cwd=cwd or REPO, env=full_env, timeout=timeout)


def default_sigint() -> None:
    """``preexec_fn`` for a child a test will send SIGINT: a shell that started the suite in the
    background (``pytest &``) leaves SIGINT *ignored*, every child inherits that, and Python then
    never raises KeyboardInterrupt - the test would pass or fail on how it was launched."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def spawn_cli(*args: str, **popen) -> subprocess.Popen:
    """``provisioner ARGS`` started in the background (text pipes), ready to be signalled."""
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen([sys.executable, "-m", "provisioner", *args], cwd=REPO, text=True,
                            preexec_fn=default_sigint, **popen)
