"""pytest plugin for the lab (registered from tests/conftest.py).

Fixtures:
- ``lab`` (session): the inventory (env LAB_INVENTORY, default
  inventories/lab.yaml) booted once; torn down at the end of the session,
  also on failure, Ctrl-C, SIGTERM/SIGHUP (atexit as a last resort).
  LAB_KEEP=1 leaves it running (``python -m tests.lab down`` removes it);
  LAB_REUSE=1 uses a lab already booted by ``python -m tests.lab up``
  (and leaves it running).
- ``faults`` (function): a ``Faults`` whose faults are undone after the test.
- ``lab_factory`` (function): boot extra labs (other name/bridge/nodes) that
  are destroyed after the test.
- ``lab_ssh`` (function): ``lab_ssh(node, user="ops")`` -> connected SSH,
  closed after the test.
- ``bastion_labs`` (module): boots the bastion topologies of tests/lab/bastion.py on demand,
  one at a time (``bastion_labs.get(1)`` / ``.get(2)``), down at the end of the module;
  ``one_hop_lab`` / ``two_hop_lab`` (function) are those two, reused while the module runs.

Two sessions on one machine take turns for the lab (a lock in /run/lock).
Without root or kernel features the lab tests skip with the reason, except
under CI=true where that is a failure: CI must really run them.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import signal
import threading
from pathlib import Path

import pytest

from .bastion import bastion_lab
from .faults import Faults
from .lab import Lab, state_dir_for
from .requirements import missing_requirements
from tests.support import skips


def skip_or_fail(reason: str) -> None:
    """Skip the test, or fail it when CI=true (CI must run lab tests): tests.support.skips' rule."""
    skips.skip_or_fail(f"lab: {reason}")


def require_lab() -> None:
    reasons = missing_requirements()
    if reasons:
        skip_or_fail("; ".join(reasons))


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config):
    """SIGTERM/SIGHUP unwind like Ctrl-C, so lab teardown runs."""
    for s in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(s) is signal.SIG_DFL:
            signal.signal(s, _raise_interrupt)


@pytest.fixture(scope="session")
def lab():
    """The lab inventory booted once for the whole session."""
    require_lab()
    if os.environ.get("LAB_REUSE") == "1" and (state_dir_for("lab") / "state.json").exists():
        yield Lab.attach()
        return
    the_lab = Lab(os.environ.get("LAB_INVENTORY") or None)
    keep = os.environ.get("LAB_KEEP") == "1"
    with session_lock(the_lab.name):
        if not keep:
            atexit.register(the_lab.down)
        try:
            the_lab.up()
            yield the_lab
        finally:
            if not keep:
                the_lab.down()
                atexit.unregister(the_lab.down)


LOCK_PATH = Path("/run/lock" if os.path.isdir("/run/lock") else "/tmp") / "provisioner-lab.lock"
# Per lock file (a test may point LOCK_PATH elsewhere while the session holds the real one):
# path -> [open file, how many holders in this process].
_held: dict[Path, list] = {}
_held_lock = threading.Lock()


@contextlib.contextmanager
def session_lock(name: str):
    """One lab user at a time on this machine (all labs share one subnet): a
    second session, or a benchmark, waits here instead of tearing down the
    first one's lab. Re-entrant within a process: the session's ``lab`` and a
    module's bastion labs hold it together (flock would block on itself: each
    open() is its own lock owner)."""
    path = Path(LOCK_PATH)
    with _held_lock:
        if path not in _held:
            f = open(path, "w")
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                print(f"lab {name}: another test session holds {path}; waiting for it")
                fcntl.flock(f, fcntl.LOCK_EX)
            _held[path] = [f, 0]
        _held[path][1] += 1
    try:
        yield
    finally:
        with _held_lock:
            _held[path][1] -= 1
            if _held[path][1] == 0:
                f = _held.pop(path)[0]
                fcntl.flock(f, fcntl.LOCK_UN)
                f.close()


@pytest.fixture(scope="module")
def pristine_lab(lab):
    """The session lab rebooted from the image before a module that changes nodes for good
    (``provisioner up``), and again after it, so no other test sees what it did."""
    lab.up()
    try:
        yield lab
    finally:
        lab.up()


@pytest.fixture
def faults(lab):
    """Inject faults in a test; each is undone when the test ends."""
    f = Faults(lab)
    try:
        yield f
    finally:
        f.undo_all()


@pytest.fixture
def lab_ssh(lab):
    """Factory of SSH sessions to lab nodes, closed after the test."""
    sessions = []

    def connect(node, user: str = "ops", **kw):
        s = lab.ssh(node, user, **kw)
        sessions.append(s)
        return s
    yield connect
    for s in sessions:
        s.close()


@pytest.fixture
def lab_factory():
    """Boot extra labs: ``lab_factory(nodes=..., name=..., bridge_cidr=...)``.
    Every lab booted here is destroyed after the test."""
    require_lab()
    labs: list[Lab] = []

    def make(*args, **kw) -> Lab:
        extra = Lab(*args, **kw)
        labs.append(extra)
        atexit.register(extra.down)
        return extra.up()
    try:
        yield make
    finally:
        for extra in labs:
            extra.down()
            atexit.unregister(extra.down)


class BastionLabs:
    """The bastion topologies of a module, booted on demand and one at a time (both use the
    outer segment 172.31.250.176/28): ``get(1)`` reuses a booted one-hop lab, or takes down the
    two-hop one and boots it fresh."""

    def __init__(self, stack: contextlib.ExitStack):
        self.stack, self.current, self.locked = stack, None, False

    def get(self, hops: int) -> Lab:
        if self.current is not None and self.current.hops == hops:
            return self.current
        self.down()
        if not self.locked:          # first boot: hold the lab lock until the module ends
            self.stack.enter_context(session_lock(f"bastion-{hops}"))
            self.stack.callback(self.down)
            self.locked = True
        lab = bastion_lab(hops=hops)
        lab.hops = hops
        atexit.register(lab.down)
        self.current = lab
        return lab.up()

    def down(self) -> None:
        if self.current is not None:
            self.current.down()
            atexit.unregister(self.current.down)
            self.current = None


@pytest.fixture(scope="module")
def bastion_labs():
    """Bastion topologies (tests/lab/bastion.py) for one module; all down at its end."""
    require_lab()
    with contextlib.ExitStack() as stack:
        yield BastionLabs(stack)


@pytest.fixture
def one_hop_lab(bastion_labs):
    """inventories/bastion.yaml's nodes behind one bastion (host -> bastion -> nodes)."""
    return bastion_labs.get(1)


@pytest.fixture
def two_hop_lab(bastion_labs):
    """The same nodes behind two bastions (host -> bastion -> inner-bastion -> nodes)."""
    return bastion_labs.get(2)
