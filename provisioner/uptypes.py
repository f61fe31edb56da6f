"""What ``up`` is asked (:class:`UpOptions`) and what it answers (:class:`UpResult` with its phases, hosts
and :class:`Failure`): plain data, shared by the runner, the reporters and the JSON report."""

from __future__ import annotations

from dataclasses import dataclass, field

from provisioner.errors import ProvisionerError, run_exit_code
from provisioner.remote import StepFailed
from provisioner.steps import Change
from provisioner.transport import Unreachable


@dataclass(frozen=True)
class UpOptions:
    plan: bool = False
    only: str | None = None
    start: str | None = None            # --from
    limit: list[str] | None = None
    skip_preflight: bool = False
    parallel: int = 32
    timeout: float = 10
    command_timeout: float | None = None    # when set, the bound of every remote command (else per step)
    inventory_path: str = ""


@dataclass
class Failure:
    host: str
    phase: str
    command: str
    rc: int | None
    tail: str
    message: str
    step: str = ""
    signal: str = ""             # what ended the command: SIGTERM (our timeout), SIGKILL, ...
    hint: str = ""
    kind: str = "step"           # step (exit 1) | unreachable (exit 3: a host could not be reached or was lost)

    @classmethod
    def of(cls, exc: BaseException, host: str, phase: str, step: str = "") -> "Failure":
        """The failure for an exception raised while working on ``host`` (never re-raised)."""
        if isinstance(exc, StepFailed):
            return cls(host, phase, exc.command, exc.rc, exc.tail, exc.why or str(exc), exc.step or step,
                       exc.signal, exc.hint)
        if isinstance(exc, Unreachable):
            return cls(exc.host if exc.host != "-" else host, phase, "", None, "", str(exc), step,
                       hint="check that the host is up and reachable over SSH, then re-run", kind="unreachable")
        if isinstance(exc, ProvisionerError):
            return cls(host, phase, "", None, "", str(exc), step)
        return cls(host, phase, "", None, "", f"internal error: {type(exc).__name__}: {exc}", step,
                   hint="this is a bug in provisioner: the run log has the details; please report it")


@dataclass
class HostRun:
    host: str
    phase: str
    status: str = "pending"     # ok | changed | skipped | failed | planned
    changes: list[Change] = field(default_factory=list)
    seconds: float = 0.0
    error: str = ""
    note: str = ""
    reason: str = ""            # why it changed: new | inputs changed | drift
    failure: Failure | None = None

    @property
    def changed(self) -> int:
        return len(self.changes)


@dataclass
class PhaseRun:
    name: str
    summary: str
    hosts: list[HostRun] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def changed(self) -> int:
        return sum(h.changed for h in self.hosts)


@dataclass
class UpResult:
    cluster: str
    plan: bool
    phases: list[PhaseRun] = field(default_factory=list)
    failure: Failure | None = None
    preflight: dict | None = None
    seconds: float = 0.0
    log_path: str = ""
    interrupted: bool = False

    @property
    def changed(self) -> int:
        return sum(p.changed for p in self.phases)

    @property
    def ok(self) -> bool:
        return self.failure is None and not self.interrupted

    @property
    def exit_code(self) -> int:
        """0 done, 1 a step (or preflight check) failed, 3 a host unreachable, 130 interrupted."""
        return run_exit_code(failed=self.failure is not None, interrupted=self.interrupted,
                             unreachable=self.failure is not None and self.failure.kind == "unreachable")
