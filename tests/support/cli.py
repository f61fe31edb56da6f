"""Run the real ``provisioner`` CLI in a subprocess, as a user would.

>>> result = run_cli("validate", "-i", "inventories/seed-ha.yaml")   # doctest: +SKIP
>>> result.returncode, result.stdout                                  # doctest: +SKIP
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "provisioner", *args], capture_output=True, text=True,
                          cwd=cwd or REPO, env=full_env, timeout=timeout)
