"""What every step is (:class:`Step`: probe, change, apply, identity), what it plans (:class:`Change`) and
what its apply may use (:class:`StepContext`). The steps themselves: :mod:`provisioner.steps`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from provisioner.factdata import Fact
from provisioner.remote import Remote


@dataclass
class Change:
    """What a step will do (plan) or did (run) on one host."""

    step: str
    commands: list[str] = field(default_factory=list)
    diff: str = ""
    # What ``change`` found that ``apply`` acts on (e.g. the packages missing, a node's half-done state):
    # the plan is the value apply consumes, never a second read nor a closure's memory.
    plan: Any = field(default=None, repr=False, compare=False)


@dataclass
class StepContext:
    """What ``apply`` may use besides the remote: the run's notifications and secret masking."""

    remote: Remote
    notified: set[str]
    redact: Callable[[str], str]


class Step:
    """Base: subclasses set ``name`` and implement probe/change/apply."""

    name: str = ""
    notify: str | None = None       # tag raised when this step changes something
    counts: bool = True             # False for waits and checks: never reported as a change
    writes: tuple[str, ...] = ()    # the files (of the desired state) this step writes

    def probe(self) -> str | None:
        return None

    def elsewhere(self) -> tuple[str, str] | None:
        """(hostname, read-only command): a read on another host that this step's decision needs too. The engine
        makes each distinct one once per phase, for every host's steps, and gives its answer with the step's
        own fact (``fact.elsewhere``): a phase of 96 workers asks the API for its node list once."""
        return None

    def identity(self) -> str:
        return self.name

    def change(self, fact: Fact | None, notified: set[str]) -> Change | None:
        raise NotImplementedError

    def apply(self, ctx: StepContext, change: Change) -> None:
        """Do ``change`` (what :meth:`change` returned for this host, just now)."""
        raise NotImplementedError
