"""Modules imported on first use instead of at ``import`` time.

paramiko's config module does ``import invoke`` at import time (paramiko/config.py, for
``Match exec`` only), and importing invoke costs ~30 ms (its task machinery pulls in
unittest.mock and asyncio). Preflight never needs invoke; ``up`` does (Fabric runs commands
through it). :func:`defer` puts a stand-in in ``sys.modules`` that imports the real module at
its first attribute access - Fabric's ``from invoke import Context``, or paramiko evaluating a
``Match exec`` line - so nothing behaves differently, it only happens later or never.

>>> defer("invoke")             # before the first ``import paramiko``
>>> import paramiko             # doctest: +SKIP  (invoke is not imported yet)
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types

_lock = threading.RLock()      # one thread imports the real module; the others wait for it


class _Deferred(types.ModuleType):
    """Stands in for a module until an attribute is read, then hands over to the real one."""

    def __getattr__(self, attr: str):
        if attr.startswith("__") and attr not in ("__path__", "__file__", "__version__", "__all__"):
            raise AttributeError(attr)      # introspection (copy, pickle, inspect) must not import it
        return getattr(_load(self.__name__, self), attr)


def _load(name: str, stand_in: types.ModuleType) -> types.ModuleType:
    with _lock:
        if sys.modules.get(name) is stand_in:
            del sys.modules[name]
            try:
                return importlib.import_module(name)
            except BaseException:
                sys.modules.setdefault(name, stand_in)    # leave things as they were; the error surfaces here
                raise
        return importlib.import_module(name)


def defer(name: str) -> None:
    """Import ``name`` at its first use instead of by whoever imports it next (no-op once imported,
    or when it is not installed: then ``import name`` keeps raising ImportError as before)."""
    with _lock:
        if name in sys.modules or importlib.util.find_spec(name) is None:
            return
        stand_in = _Deferred(name)
        stand_in.__spec__ = None
        sys.modules[name] = stand_in


def is_loaded(name: str) -> bool:
    """Whether the real module ``name`` is imported (a deferred stand-in does not count)."""
    return name in sys.modules and not isinstance(sys.modules[name], _Deferred)
