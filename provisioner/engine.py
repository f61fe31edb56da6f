"""Run the phases of ``up`` over SSH: read state, change what differs, journal what completed.

>>> result = run_up(inv, options, reporter)              # doctest: +SKIP
>>> result.changed, result.ok                             # doctest: +SKIP
(0, True)

Per phase, per host (in parallel, or one at a time for serial phases):

1. build the host's steps (pure: rendered files, commands);
2. skip the pair when the journal holds it with the same inputs hash
   (``--recheck`` re-reads every host instead);
3. run every step's probe in ONE round trip (read-only);
4. apply, in order, the steps whose probe says the host differs; a service
   restarts only when a file it follows changed;
5. record (host, phase) in the journal.

With ``plan`` nothing is applied: the changes (with unified diffs, secrets
masked) are collected instead. The first failure stops the run after the
hosts already working in that phase finish; the journal keeps what was
completed, so the next run resumes there.
"""

from __future__ import annotations

import hashlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from provisioner import __version__
from provisioner.errors import ProvisionerError, UsageError
from provisioner.inventory import Inventory
from provisioner.phases import PHASE_NAMES, PHASES, Phase, UpContext
from provisioner.phases.base import OsInfo
from provisioner.preflight import gather_script, parse_facts, wrap_privileged
from provisioner.remote import Remote, StepFailed
from provisioner.render import render_cluster
from provisioner.runlog import RunLog
from provisioner.secrets import SecretStore, redact
from provisioner.state import ClusterState, Journal
from provisioner.steps import Change, CommandStep, FileStep, StepContext
from provisioner.transport import HostKeys, SshTarget, Unreachable, open_connection
from provisioner.validation import require_known_hosts


@dataclass
class UpOptions:
    plan: bool = False
    only: str | None = None
    start: str | None = None            # --from
    limit: list[str] | None = None
    recheck: bool = False
    skip_preflight: bool = False
    parallel: int = 32
    timeout: float = 10
    inventory_path: str = ""


@dataclass
class Failure:
    host: str
    phase: str
    command: str
    rc: int | None
    tail: str
    message: str


@dataclass
class HostRun:
    host: str
    phase: str
    status: str = "pending"     # ok | changed | skipped | failed | planned
    changes: list[Change] = field(default_factory=list)
    seconds: float = 0.0
    error: str = ""
    note: str = ""
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


class Reporter:
    """Hooks the CLI uses for progress; the default prints nothing."""

    def phase_started(self, phase: Phase, hosts: list[str]) -> None: ...
    def host_done(self, run: HostRun) -> None: ...
    def phase_done(self, run: PhaseRun) -> None: ...
    def note(self, text: str) -> None: ...


def inputs_hash(phase: Phase, steps: list) -> str:
    h = hashlib.sha256(f"{__version__}\n{phase.name}\n".encode())
    for step in steps:
        h.update(step.identity().encode() + b"\n")
    return h.hexdigest()


def select_phases(options: UpOptions) -> list[Phase]:
    for flag, value in (("--only", options.only), ("--from", options.start)):
        if value and value not in PHASE_NAMES:
            raise UsageError(f"{flag}: unknown phase {value!r} - choose from {', '.join(PHASE_NAMES)}")
    if options.only and options.start:
        raise UsageError("--only and --from: give one of them")
    if options.only:
        return [p for p in PHASES if p.name == options.only]
    if options.start:
        return PHASES[PHASE_NAMES.index(options.start):]
    return list(PHASES)


class Session:
    """The open connections of one run: one verified SSH connection per host.

    ``reuse`` holds connections opened earlier in the run (preflight's), taken over
    instead of logging in again; whatever is not taken is closed with the session.
    """

    def __init__(self, inv: Inventory, keys: HostKeys, log: RunLog, redactor: Callable[[str], str],
                 timeout: float, parallel: int, reuse: dict | None = None):
        self.inv, self.keys, self.log, self.redactor = inv, keys, log, redactor
        self.timeout, self.parallel = timeout, parallel
        self.reuse = reuse if reuse is not None else {}
        self.remotes: dict[str, Remote] = {}
        self.os: dict[str, OsInfo] = {}

    def open(self, names: list[str]) -> None:
        hosts = [self.inv.host(n) for n in names if n not in self.remotes]
        errors: list[Unreachable] = []

        def one(host):
            target = SshTarget.of(host)
            conn = self.reuse.pop(host.hostname, None)
            if conn is None or not conn.is_connected:
                try:
                    conn = open_connection(target, self.keys, self.timeout)
                except Unreachable as exc:
                    errors.append(exc)
                    return
            remote = Remote(target, conn, self.log, self.redactor)
            info = remote.run(OsInfo.PROBE, check=False, quiet=True)
            self.os[host.hostname] = OsInfo.parse(info.stdout)
            self.remotes[host.hostname] = remote

        with ThreadPoolExecutor(max_workers=max(1, min(self.parallel, len(hosts) or 1))) as pool:
            list(pool.map(one, hosts))
        if errors:
            raise UnreachableHosts(errors)
        unsupported = [f"{n} runs {o.distro} {o.version}" for n, o in self.os.items() if o.family != "debian"]
        if unsupported:
            raise ProvisionerError(f"up: {'; '.join(unsupported)} - up supports Debian and Ubuntu hosts so far "
                                   "(preflight audits any); use Debian 12 or Ubuntu 22.04/24.04")

    def close(self) -> None:
        for remote in self.remotes.values():
            remote.close()
        for conn in self.reuse.values():
            conn.close()
        self.reuse.clear()


class UnreachableHosts(ProvisionerError):
    exit_code = 3

    def __init__(self, errors: list[Unreachable]):
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


def probe_all(remote: Remote, steps: list) -> dict:
    """Run every step's probe in one round trip; facts by step name."""
    commands = {}
    for i, step in enumerate(steps):
        command = step.probe()
        if command:
            commands[f"s{i}"] = command
    if not commands:
        return {}
    res = remote.run(wrap_privileged(gather_script(commands)), check=False, quiet=True)
    facts, _ = parse_facts(res.stdout)
    return {steps[int(k[1:])].name: v for k, v in facts.values.items()}


class _Stopped(Exception):
    """Raised between steps once the run is stopping (a failure elsewhere, or Ctrl-C)."""


class Engine:
    """One ``up`` (or ``up --plan``) over an open session."""

    def __init__(self, ctx: UpContext, session: Session, journal: Journal, options: UpOptions,
                 reporter: Reporter, log: RunLog):
        self.ctx, self.session, self.journal = ctx, session, journal
        self.options, self.reporter, self.log = options, reporter, log
        self.stop = threading.Event()

    def redact(self, text: str) -> str:
        return self.session.redactor(text)

    def run_host(self, phase: Phase, host) -> HostRun:
        run = HostRun(host.hostname, phase.name)
        start = time.monotonic()
        try:
            steps = phase.steps(self.ctx, host)
            digest = inputs_hash(phase, steps)
            explicit = self.options.only == phase.name
            if (phase.journaled and not self.options.recheck and not explicit and not self.options.plan
                    and self.journal.is_done(host.hostname, phase.name, digest)):
                run.status, run.note = "skipped", "done earlier, inputs unchanged"
                return run
            remote = self.session.remotes[host.hostname]
            facts = probe_all(remote, steps)
            notified: set[str] = set()
            sctx = StepContext(remote, notified, self.redact, facts)
            for step in steps:
                if self.stop.is_set():
                    raise _Stopped
                change = step.change(facts.get(step.name), notified)
                if change is None:
                    continue
                if self.options.plan:
                    if isinstance(step, FileStep):
                        current = remote.read(step.path)
                        change.diff = step.diff(current, facts.get(step.name), self.redact)
                    if step.counts:
                        run.changes.append(change)
                    if step.notify:
                        notified.add(step.notify)
                    continue
                if isinstance(step, CommandStep) and run.changes and not step.still_needed(remote, notified):
                    continue
                step.apply(sctx)
                self.log.note(host.hostname, f"{phase.name}: {change.step}")
                if step.counts:
                    run.changes.append(change)
                if step.notify:
                    notified.add(step.notify)
            if not self.options.plan and phase.journaled:
                self.journal.record(host.hostname, phase.name, digest)
            run.status = "planned" if self.options.plan else ("changed" if run.changes else "ok")
        except _Stopped:
            run.status, run.note = "stopped", "stopped: another host failed or Ctrl-C"
        except StepFailed as exc:
            run.status, run.error = "failed", str(exc)
            run.failure = Failure(host.hostname, phase.name, exc.command, exc.rc, exc.tail, exc.why or str(exc))
        except ProvisionerError as exc:
            run.status, run.error = "failed", str(exc)
            run.failure = Failure(host.hostname, phase.name, "", None, "", str(exc))
        finally:
            run.seconds = time.monotonic() - start
        return run

    def run_phase(self, phase: Phase) -> PhaseRun:
        prun = PhaseRun(phase.name, phase.summary)
        hosts = [h for h in phase.hosts(self.ctx.inv)
                 if not self.options.limit or h.hostname in self.options.limit]
        if not hosts:
            return prun
        self.reporter.phase_started(phase, [h.hostname for h in hosts])
        start = time.monotonic()

        def work(host) -> HostRun:
            if self.stop.is_set():
                return HostRun(host.hostname, phase.name, "stopped", note="not started: the run is stopping")
            run = self.run_host(phase, host)
            prun.hosts.append(run)
            self.reporter.host_done(run)
            if run.status == "failed":
                self.stop.set()      # the rest of the phase finishes what it started, then we stop
            return run

        if phase.serial:
            for host in hosts:
                if self.stop.is_set():
                    break
                work(host)
        else:
            pool = ThreadPoolExecutor(max_workers=max(1, min(self.options.parallel, len(hosts))))
            try:
                for future in [pool.submit(work, h) for h in hosts]:
                    future.result()
            except KeyboardInterrupt:
                # Ctrl-C: hosts finish the step they are in, start nothing new, the journal keeps the rest.
                self.stop.set()
                raise
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
        prun.seconds = time.monotonic() - start
        self.reporter.phase_done(prun)
        return prun


def build_context(inv: Inventory, state_dir: Path) -> UpContext:
    store = SecretStore(state_dir)
    secrets = store.load_or_create(inv.cluster_name)
    files: dict[str, dict] = {}
    for f in render_cluster(inv, secrets):
        files.setdefault(f.host, {})[f.path] = f
    return UpContext(inv=inv, secrets=secrets, store=store, state=ClusterState.load(state_dir),
                     state_dir=state_dir, files=files)


def run_up(inv: Inventory, state_dir: Path, keys: HostKeys, options: UpOptions,
           reporter: Reporter | None = None) -> UpResult:
    """The whole of ``up``: preflight, then the selected phases in order. Never raises for a step
    failure: the result carries it (``result.failure``)."""
    reporter = reporter or Reporter()
    phases = select_phases(options)
    require_known_hosts(inv, options.limit, "--limit")
    start = time.monotonic()
    ctx = build_context(inv, state_dir)
    seen_secrets: list[str] = []

    def redactor(text: str) -> str:
        values = set(ctx.secrets.values()) | set(seen_secrets)
        for value in sorted(values, key=len, reverse=True):
            if value:
                text = text.replace(value, "<redacted>")
        return text

    seen_secrets.extend(ctx.secrets.values())
    log = RunLog.create(state_dir, "plan" if options.plan else "up", redactor)
    result = UpResult(inv.cluster_name, options.plan, log_path=str(log.path))
    session = Session(inv, keys, log, redactor, options.timeout, options.parallel, reuse={})
    try:
        _run_up(inv, options, reporter, phases, ctx, log, result, session)
    finally:
        session.close()
        result.seconds = time.monotonic() - start
        log.note("-", f"finished: {result.changed} changed, ok={result.ok}")
        log.close()
    return result


def _run_up(inv: Inventory, options: UpOptions, reporter: Reporter, phases: list[Phase], ctx: UpContext,
            log: RunLog, result: UpResult, session: Session) -> None:
    """Preflight, then the phases; fills ``result``. Preflight's connections go on to the phases."""
    if not options.skip_preflight and not options.only:
        from provisioner.preflight import run_preflight
        reporter.note("preflight: auditing every host (read-only)")
        pre = run_preflight(inv, session.keys, hosts=options.limit, parallel=options.parallel,
                            timeout=options.timeout, inventory_path=options.inventory_path,
                            keep_connections=session.reuse)
        failed = {h.host: [r.check for r in h.results if not r.ok] for h in pre.hosts if h.status != "pass"}
        result.preflight = {"exit_code": pre.exit_code, "failed": failed}
        log.note("-", f"preflight exit {pre.exit_code}: {failed}")
        if pre.exit_code != 0:
            reasons = "; ".join(f"{h}: {', '.join(c) or 'unreachable'}" for h, c in failed.items())
            result.failure = Failure("-", "preflight", "", pre.exit_code, "",
                                     f"preflight failed ({reasons}) - run `provisioner preflight` for details, "
                                     "fix, and re-run (or --skip-preflight)")
            return
    names = sorted({h.hostname for p in phases for h in p.hosts(inv)
                    if not options.limit or h.hostname in options.limit})
    if any(p.name in ("cni", "join-control-planes", "join-workers", "verify") for p in phases):
        names = sorted(set(names) | {inv.first_control_plane.hostname})   # join material, kubectl
    session.open(names)
    ctx.os, ctx.remotes = session.os, session.remotes
    engine = Engine(ctx, session, Journal(ctx.state_dir), options, reporter, log)
    try:
        for phase in phases:
            prun = engine.run_phase(phase)
            result.phases.append(prun)
            failed = [h for h in prun.hosts if h.status == "failed"]
            if failed:
                result.failure = failed[0].failure
                break
    except KeyboardInterrupt:
        engine.stop.set()
        result.interrupted = True
