"""Small helpers shared by the lab: running commands, polling, logging."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import shlex
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterator, Sequence, TypeVar

log = logging.getLogger("tests.lab")

T = TypeVar("T")


class LabError(RuntimeError):
    """A lab operation failed (boot, teardown, fault injection)."""


def run(cmd: Sequence[str], *, check: bool = True, input: str | bytes | None = None,
        timeout: float | None = 120, env: dict | None = None,
        capture: bool = True, cwd: str | None = None) -> subprocess.CompletedProcess:
    """Run a command (argv list, never a shell string) and return the result.

    Output is captured as text unless ``input`` is bytes. Raises LabError with
    the command's stderr when ``check`` is true and it exits non-zero.
    """
    text = not isinstance(input, bytes)
    full_env = None if env is None else {**os.environ, **env}
    log.debug("run: %s", shlex.join(cmd))
    try:
        proc = subprocess.run(list(cmd), input=input, text=text, timeout=timeout,
                              env=full_env, cwd=cwd, stdout=subprocess.PIPE if capture else None,
                              stderr=subprocess.PIPE if capture else None)
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"timed out after {timeout}s: {shlex.join(cmd)}") from exc
    if check and proc.returncode != 0:
        raise LabError(f"command failed ({proc.returncode}): {shlex.join(cmd)}\n"
                       f"{(proc.stderr or '')!s}".rstrip())
    return proc


def wait_for(condition: Callable[[], T], *, timeout: float, interval: float = 0.1,
             what: str = "condition") -> T:
    """Poll ``condition`` until it returns a truthy value or ``timeout`` passes.

    Exceptions raised by the condition count as "not yet"; the last one is
    chained into the LabError raised at the deadline.
    """
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = condition()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - polling treats errors as "not yet"
            last_exc = exc
        if time.monotonic() >= deadline:
            raise LabError(f"timed out after {timeout:.0f}s waiting for {what}"
                           + (f": {last_exc}" if last_exc else "")) from last_exc
        time.sleep(interval)


def write_file(path: str, content: str | bytes, mode: int = 0o644,
               uid: int | None = None, gid: int | None = None) -> None:
    """Write ``content`` to ``path`` (creating parent dirs) with mode/owner."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    data = content.encode() if isinstance(content, str) else content
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(path, mode)
    if uid is not None:
        os.chown(path, uid, -1 if gid is None else gid)


@contextlib.contextmanager
def building(target: Path, prefix: str, marker: str) -> Iterator[Path]:
    """A temporary directory beside ``target`` to build into; on success it gets ``marker``
    and replaces ``target`` at once (readers never see half a build), on failure it is removed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))
    try:
        yield tmp
        (tmp / marker).touch()
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
