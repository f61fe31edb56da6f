"""Where commands read and write on the admin machine: the inventory they use, output files and
directories checked before anything is written (exit 2, one line), files replaced atomically."""

import os
import sys
import tempfile
from pathlib import Path

from provisioner.errors import UsageError

INVENTORY_ENV = "PROVISIONER_INVENTORY"
LOCAL_INVENTORY = Path("inventory.yaml")


def inventory_path(given: Path | None) -> Path:
    """``-i`` (typer already falls back to $PROVISIONER_INVENTORY), else ./inventory.yaml, else stop.
    Never a built-in example: a command without an inventory must not reach anybody's hosts."""
    if given is not None:
        return given
    if LOCAL_INVENTORY.is_file():
        return LOCAL_INVENTORY
    raise UsageError(f"no inventory: pass -i FILE, set {INVENTORY_ENV}, or create ./inventory.yaml here "
                     "(`provisioner init` writes one)")


def check_output_file(path: Path, option: str) -> Path:
    """Stop (exit 2) before any work when ``path`` cannot become a file."""
    where = f"{option} {path}"
    if path.is_dir():
        raise UsageError(f"{where}: is a directory - give a file name")
    parent = path.parent
    if not parent.is_dir():
        raise UsageError(f"{where}: directory {parent} does not exist - create it first or choose another path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{where}: cannot write in {parent} (permission denied) - choose another path")
    return path


def check_output_dir(path: Path, option: str) -> Path:
    """Stop (exit 2) before any work when ``path`` cannot become (or be) a directory we write into."""
    where = f"{option} {path}"
    if path.exists() and not path.is_dir():
        raise UsageError(f"{where}: is a file - give a directory")
    parent = path.resolve().parent
    if not parent.is_dir():
        raise UsageError(f"{where}: directory {parent} does not exist - create it first or choose another path")
    if not os.access(path if path.exists() else parent, os.W_OK | os.X_OK):
        raise UsageError(f"{where}: cannot write there (permission denied) - choose another directory")
    return path


def cannot_write(path: Path, option: str, exc: OSError) -> UsageError:
    return UsageError(f"{option} {path}: cannot write there ({exc.strerror or exc}) - choose another path")


def write_output(path: Path | None, text: str, option: str, mode: int = 0o644) -> None:
    """``text`` to stdout (no path, or '-'), else to ``path`` via a temp file and a rename."""
    if path is None or path == Path("-"):
        sys.stdout.write(text)
        return
    check_output_file(path, option)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            os.fchmod(fd, mode)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise cannot_write(path, option, exc) from None
