"""What a read on a host answers: one command's output and exit code (:class:`Fact`), and a host's answers
by name (:class:`Facts`); what one round trip asks (:class:`ReadPlan`). Plain data, shared by preflight's
checks, up's probes and the fact types."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass
class Fact:
    output: str
    rc: int
    # What the step's read on another host answered (Step.elsewhere), given with its own; None: it has none
    # or that read could not be made.
    elsewhere: Fact | None = None


@dataclass
class Facts:
    """The outputs of one host's fact commands, by name."""

    values: dict[str, Fact] = field(default_factory=dict)
    privileged: bool = True

    def text(self, name: str) -> str:
        fact = self.values.get(name)
        return fact.output.strip() if fact else ""

    def rc(self, name: str) -> int:
        fact = self.values.get(name)
        return fact.rc if fact else 127

    def lines(self, name: str) -> list[str]:
        return [line for line in self.text(name).splitlines() if line.strip()]


@dataclass(frozen=True)
class ReadPlan:
    """One round trip's commands by fact name: those in ``shared`` may share the script's shell (the checks'
    own facts), those in ``side`` run alongside (a caller's extra commands). Joining reads makes a new plan.

    >>> ReadPlan.of({"a": "true"}, {"a"}).replacing(["a"], {"b": "false"}).commands
    {'b': 'false'}
    """

    commands: Mapping[str, str]
    shared: frozenset = frozenset()
    side: frozenset = frozenset()

    @classmethod
    def of(cls, commands: Mapping[str, str], shared: Iterable[str] = (), side: Iterable[str] = ()) -> "ReadPlan":
        return cls(dict(commands), frozenset(shared), frozenset(side))

    def replacing(self, dropped: Iterable[str], added: Mapping[str, str] | None = None) -> "ReadPlan":
        """This plan without the commands ``dropped``, with ``added`` (shared: the checks' own kind)."""
        dropped, added = set(dropped), dict(added or {})
        commands = {n: c for n, c in self.commands.items() if n not in dropped}
        commands.update(added)
        return ReadPlan(commands, frozenset((self.shared - dropped) | set(added)), frozenset(self.side - dropped))
