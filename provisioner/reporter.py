"""The hooks ``up`` calls as it goes (:class:`Reporter`); the default says nothing. The voices that print
live in :mod:`provisioner.up_progress`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from provisioner.phases.base import Phase
    from provisioner.uptypes import HostRun, PhaseRun


class Reporter:
    """Hooks the CLI uses for progress; the default prints nothing."""

    def phase_started(self, phase: Phase, hosts: list[str]) -> None: ...
    def host_started(self, phase: str, host: str) -> None: ...
    def step_started(self, phase: str, host: str, step: str) -> None: ...    # a step is about to change the host
    def host_done(self, run: HostRun) -> None: ...
    def phase_done(self, run: PhaseRun) -> None: ...
    def note(self, text: str) -> None: ...

    def preflight_will_fix(self, will_fix: dict[str, list[str]]) -> None:
        """Preflight findings that a phase of this run repairs, per host (``-v`` prints one line per host)."""
        for host, checks in will_fix.items():
            self.note(f"preflight: {host}: {', '.join(checks)} - will fix")
