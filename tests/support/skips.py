"""The one rule for a test that cannot run here: it skips on a developer's machine, and FAILS under
``CI=true`` - CI has every tool, root and the lab, so a skip there would hide a test that never ran.
The one exception is a test too slow for CI's budget that a variable switches on (``opt_in``): it
skips everywhere until asked for, and says which variable asks for it.

>>> skip_or_fail("curl not installed")          # doctest: +SKIP
>>> opt_in("LAB_VAGRANT", "7.5 minutes of TCG")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil

import pytest


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def skip_or_fail(reason: str) -> None:
    """Skip the calling test, or fail it under CI=true."""
    if under_ci():
        pytest.fail(f"cannot run under CI: {reason}", pytrace=False)
    pytest.skip(reason)


def need_tool(tool: str, how: str) -> str:
    """The path of ``tool``; else skip (or fail under CI) naming ``how`` to install it."""
    path = shutil.which(tool)
    if path is None:
        skip_or_fail(f"{tool} not installed ({how})")
    return path


def need_root(why: str) -> None:
    if os.geteuid() != 0:
        skip_or_fail(f"needs root ({why})")


def opt_in(variable: str, why: str) -> None:
    """Skip the calling test unless ``variable`` is 1 - under CI too: it is left out on purpose (``why``),
    and the skip line names the variable that runs it."""
    if os.environ.get(variable) != "1":
        pytest.skip(f"opt-in: {variable}=1 runs it ({why})")
