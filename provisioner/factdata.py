"""What a read on a host answers: one command's output and exit code (:class:`Fact`), and a host's answers
by name (:class:`Facts`). Plain data, shared by preflight's checks, up's probes and the fact types."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Fact:
    output: str
    rc: int


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
