"""The steps a phase is made of: each reads the host's state, then changes only what differs.

>>> steps = [FileStep(rendered_haproxy_cfg, validate="haproxy -c -f %s", notify="haproxy"),
...          ServiceStep("haproxy", restart_on="haproxy")]            # doctest: +SKIP

Every step has a ``probe``: one read-only shell command whose output (and
exit code) tells whether the step has work to do. The engine runs all the
probes of a phase on a host in one round trip, then asks each step, in
order, ``change(fact, notified)``: ``None`` when the host already matches,
else a :class:`Change` saying what would be done (with a diff for files).
``apply`` does it. ``identity`` is what the journal hashes: change it and
the phase runs again on that host.
"""

from __future__ import annotations

import shlex
from typing import Callable

from provisioner.factdata import Fact
from provisioner.filestep import FileStep
from provisioner.packagestep import DnfPackagesStep, PackagesStep, ServiceStep, version_matches
from provisioner.remote import Remote, StepFailed
from provisioner.stepbase import Change, Step, StepContext

q = shlex.quote


class AbsentStep(Step):
    """A path that must not exist (e.g. a join config holding a token, after the join)."""

    def __init__(self, path: str, notify: str | None = None):
        self.path, self.notify = path, notify
        self.name = f"remove {path}"

    def probe(self) -> str:
        return f"[ ! -e {q(self.path)} ]"

    def change(self, fact, notified):
        return None if fact and fact.rc == 0 else Change(self.name, [f"rm -f {self.path}"])

    def apply(self, ctx, change):
        ctx.remote.run(f"rm -f {q(self.path)}")


# --------------------------------------------------------------------------- commands

class CommandStep(Step):
    """Run ``command`` unless ``check`` (a read-only command) exits 0; or when notified."""

    def __init__(self, name: str, check: str | None, command: str, *, notify: str | None = None,
                 when_notified: str | None = None, why: str = "", timeout: float | None = None,
                 writes: tuple[str, ...] = ()):
        self.name, self.check, self.command, self.writes = name, check, command, tuple(writes)
        self.notify, self.when_notified, self.why, self.timeout = notify, when_notified, why, timeout

    def identity(self) -> str:
        return f"cmd {self.check} => {self.command} @{self.when_notified}"

    def probe(self) -> str | None:
        return self.check

    def change(self, fact, notified):
        if self.when_notified and self.when_notified in notified:
            return Change(self.name, [self.command])
        if self.check is None:
            return None if self.when_notified else Change(self.name, [self.command])
        if fact is not None and fact.rc == 0:
            return None
        return Change(self.name, [self.command])

    def still_needed(self, remote: Remote, notified: set[str]) -> bool:
        """Re-check right before running: an earlier step may have done the work."""
        if self.when_notified and self.when_notified in notified:
            return True
        if self.check is None:
            return True
        return not remote.run(self.check, check=False, quiet=True).ok

    def apply(self, ctx, change):
        ctx.remote.run(self.command, why=self.why or self.name, timeout=self.timeout)


class WaitStep(Step):
    """Poll a read-only command until it succeeds, with a deadline. Never a change."""

    counts = False

    def __init__(self, name: str, command: str, timeout: float = 60, interval: float = 0.5, *,
                 only_after_change: bool = False):
        self.name, self.command, self.timeout, self.interval = name, command, timeout, interval
        # only_after_change: the step before this wait already reads the same condition in its probe (e.g. a
        # worker's join is "done" only when its Node exists): when the run changed nothing on the host, that
        # read proved it, and reading it twice would only cost the host another process.
        self.only_after_change = only_after_change

    def identity(self) -> str:
        return f"wait {self.command}"

    def probe(self) -> str | None:
        # One try in the probe round trip: a settled host needs no wait.
        return None if self.only_after_change else self.command

    def change(self, fact, notified):
        if self.only_after_change or (fact is not None and fact.rc == 0):
            return None          # (the engine still waits when an earlier step of the host changed something)
        return self.waiting()

    def waiting(self) -> Change:
        return Change(self.name, [f"until {self.command}; do sleep {self.interval}; done (max {self.timeout:g}s)"])

    def apply(self, ctx, change):
        # One remote loop, not one SSH round trip per poll.
        loop = (f"end=$(( $(date +%s) + {int(self.timeout)} )); "
                f"until {self.command}; do [ $(date +%s) -ge $end ] && exit 124; sleep {self.interval}; done")
        ctx.remote.run(loop, why=f"timed out after {self.timeout:g}s: {self.name}", quiet=False,
                       timeout=self.timeout + 30)


class FuncStep(Step):
    """A step whose decision and action need Python (kubeadm init/join, fetching files)."""

    def __init__(self, name: str, probe: str | None, needed: Callable[[Fact | None], Change | None],
                 action: Callable[[StepContext, Change], None], *, identity: str = "", notify: str | None = None,
                 writes: tuple[str, ...] = (), elsewhere: tuple[str, str] | None = None):
        self.name, self._probe, self._needed, self._action = name, probe, needed, action
        self.writes = tuple(writes)
        self._identity, self.notify, self._elsewhere = identity or name, notify, elsewhere

    def elsewhere(self):
        return self._elsewhere

    def identity(self) -> str:
        return self._identity

    def probe(self):
        return self._probe

    def change(self, fact, notified):
        return self._needed(fact)

    def apply(self, ctx, change):
        self._action(ctx, change)


__all__ = ["AbsentStep", "Change", "CommandStep", "DnfPackagesStep", "FileStep", "FuncStep", "PackagesStep", "ServiceStep",
           "Step", "StepContext", "StepFailed", "WaitStep", "version_matches"]
