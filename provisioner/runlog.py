"""The log file of one run: every command, exit code and output, secrets redacted, mode 0600.

>>> log = RunLog.create(state_dir, "up", redactor)      # STATE/logs/up-20261123-101500.log  # doctest: +SKIP
>>> log.command("master1", "kubeadm init --config ...", result, redactor)   # doctest: +SKIP
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Callable

KEEP = 20   # newest log files kept per state directory


class RunLog:
    def __init__(self, path: Path, redactor: Callable[[str], str]):
        self.path = path
        self.redactor = redactor
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._fh = os.fdopen(fd, "a", encoding="utf-8")

    @classmethod
    def create(cls, state_dir: Path, kind: str, redactor: Callable[[str], str]) -> "RunLog":
        logs = Path(state_dir) / "logs"
        stamp = time.strftime("%Y%m%d-%H%M%S")
        log = cls(logs / f"{kind}-{stamp}-{os.getpid()}.log", redactor)
        old = sorted(logs.glob("*.log"), key=lambda p: p.stat().st_mtime)[:-KEEP]
        for p in old:
            p.unlink(missing_ok=True)
        return log

    def _write(self, text: str) -> None:
        with self._lock:
            if not self._fh.closed:
                self._fh.write(self.redactor(text))
                self._fh.flush()

    def note(self, host: str, text: str) -> None:
        self._write(f"{time.strftime('%H:%M:%S')} {host}: {text}\n")

    def command(self, host: str, command: str, result, redactor: Callable[[str], str] | None = None) -> None:
        body = f"{time.strftime('%H:%M:%S')} {host}: $ {command}\n  -> exit {result.rc} in {result.seconds:.2f}s\n"
        for name, text in (("stdout", result.stdout), ("stderr", result.stderr)):
            if text.strip():
                body += "".join(f"  {name}| {line}\n" for line in text.rstrip("\n").splitlines())
        self._write(body)

    def close(self) -> None:
        with self._lock:
            self._fh.close()
