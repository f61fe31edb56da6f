"""One exception root for the product; every error says where and what to do.

>>> raise InventoryError([Problem("inv.yaml", ("hosts", 0, "address"), "bad", 4)])
Traceback (most recent call last):
...
provisioner.errors.InventoryError: inv.yaml:4: hosts[0].address: bad
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

# Every exit code of the product, decided here only.
OK = 0
FAILED = 1            # a step or a check failed
BAD_INPUT = 2         # the inventory, the command line or the state directory
UNREACHABLE = 3       # a host could not be reached, or was lost
INTERRUPTED = 130     # Ctrl-C (128 + SIGINT)


def run_exit_code(*, failed: bool, unreachable: bool, interrupted: bool = False) -> int:
    """The exit code of a run (``up``, ``preflight``) from what happened, the worst first.

    >>> run_exit_code(failed=True, unreachable=True), run_exit_code(failed=False, unreachable=False)
    (3, 0)
    """
    if interrupted:
        return INTERRUPTED
    if unreachable:
        return UNREACHABLE
    return FAILED if failed else OK


class ProvisionerError(Exception):
    """Root of every error the CLI turns into a one-line message (never a traceback)."""

    exit_code = FAILED


def format_path(path: Sequence[str | int]) -> str:
    """Render ``("hosts", 3, "address")`` as ``hosts[3].address``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            # A key from the file may hold control characters ("\e[2J"): never print them raw.
            text = str(part)
            out += ("." if out else "") + (text if text.isprintable() else repr(text))
    return out or "(top level)"


@dataclass(frozen=True)
class Problem:
    """One finding about an inventory: where it is and what to do about it."""

    file: str
    path: tuple[str | int, ...]
    message: str
    line: int | None = None
    warning: bool = False

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        kind = "warning: " if self.warning else ""
        return f"{where}: {format_path(self.path)}: {kind}{self.message}"


class InventoryError(ProvisionerError):
    """The inventory is not usable; carries every problem found, one per line."""

    exit_code = BAD_INPUT

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class UsageError(ProvisionerError):
    """Bad command-line input (unknown host name, missing file...)."""

    exit_code = BAD_INPUT


class RenderError(ProvisionerError):
    """The inventory is valid but asks for something we cannot render yet."""

    exit_code = BAD_INPUT
