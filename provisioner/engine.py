"""Run the phases of ``up`` over SSH: read the state of every step, change what differs, journal progress.

>>> result = run_up(inv, state_dir, ssh, options, reporter)   # doctest: +SKIP
>>> result.changed, result.ok                             # doctest: +SKIP
(0, True)

Every run reads every host: the journal never skips a step (a re-run that
trusted it would call a drifted host "done"). Reads are made cheap instead:

1. before changing anything, the probes of every step of every phase a host
   takes part in are read: in the same round trip as ``up``'s own preflight
   (the steps built once, by :class:`~provisioner.probes.StepBook`, for the OS
   the host had last run; they run on the host alongside the facts), with the
   session's own first read (OS, machine id, leftovers:
   :data:`~provisioner.session.SESSION_READ`), and in one more round trip per
   host only for what that did not cover (first run, another OS, --plan);
2. per phase, per host (in parallel, or one at a time for serial phases),
   the steps are asked, in order, what differs; the prefetched facts serve
   until the run changes something, after which each (host, phase) is probed
   again right before it runs (one round trip);
3. the steps that differ are applied in order; a service restarts only when
   a file it follows changed; a wait whose condition already holds is not run;
4. the journal records (host, phase) with its inputs hash: it tells *why* a
   host changed (new, inputs changed, drift), not whether to look.

With ``plan`` nothing is applied: the changes (with unified diffs, secrets
masked) are collected instead, from the same probes, so ``up`` right after
makes exactly those. The first failure stops the run after the hosts already
working in that phase finish.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from provisioner import __version__
from provisioner.errors import ProvisionerError, UsageError
from provisioner.factdata import Fact
from provisioner.gate import judge
from provisioner.interrupts import second_interrupt_exits
from provisioner.inventory import Inventory
from provisioner.phases import PHASE_NAMES, PHASES, Phase, UpContext
from provisioner.phases.base import OsInfo
from provisioner.preflight import run_preflight
from provisioner.probes import StepBook, probe_all, read_commands, read_elsewhere, selected_hosts
from provisioner.remote import StepFailed
from provisioner.render import renderable
from provisioner.reporter import Reporter
from provisioner.runlog import RunLog
from provisioner.secrets import SecretStore
from provisioner.session import SESSION_READ, Session, UnreachableHosts
from provisioner.state import ClusterState, JoinMaterial, Journal
from provisioner.probebatch import batch_probes
from provisioner.steps import CommandStep, FileStep, StepContext, WaitStep
from provisioner.transport import HostKeys, Ssh
from provisioner.uptypes import Failure, HostRun, PhaseRun, UpOptions, UpResult
from provisioner.validation import require_known_hosts

__all__ = ["Engine", "Reporter", "UpOptions", "UpResult", "build_context", "inputs_hash", "run_up", "select_phases"]


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


class _Stopped(Exception):
    """Raised between steps once the run is stopping (a failure elsewhere, or Ctrl-C)."""


class Engine:
    """One ``up`` (or ``up --plan``) over an open session."""

    def __init__(self, ctx: UpContext, session: Session, journal: Journal, options: UpOptions,
                 reporter: Reporter, log: RunLog, book: StepBook | None = None):
        self.ctx, self.session, self.journal = ctx, session, journal
        self.book = book or StepBook(ctx)         # each (phase, host)'s steps, built once
        self.options, self.reporter, self.log = options, reporter, log
        self.stop = threading.Event()
        self.interrupted = False
        self.partial: PhaseRun | None = None        # the phase Ctrl-C interrupted, as far as it got
        self.prefetched: dict[str, dict] = {}     # host -> {probe command: fact}, read before any change
        self.dirty = threading.Event()            # set once this run changed any host

    def prefetch(self, phases: list[Phase], carried: dict[str, dict] | None = None) -> None:
        """Read every step of every phase on every host before changing anything: what ``carried`` holds
        (preflight ran those probes in its own round trip) plus, in one more round trip per host and only
        where something is missing, the rest (all hosts in parallel)."""
        wanted = self.book.probes(phases, self.options.limit)
        carried = carried or {}

        def one(name: str) -> None:
            known = {c: f for c, f in carried.get(name, {}).items() if c in wanted[name]}
            missing = [c for c in wanted[name] if c not in known]
            try:
                known.update(read_commands(self.session.remotes[name], missing))
            except Exception as exc:  # noqa: BLE001 - the phase reads this host itself and reports the failure
                self.log.note(name, f"reading every step up front failed ({exc}); each phase reads it again")
                return
            self.prefetched[name] = known

        with ThreadPoolExecutor(max_workers=max(1, min(self.options.parallel, len(wanted) or 1))) as pool:
            list(pool.map(one, wanted))

    def elsewhere_reads(self, phase: Phase, hosts: list) -> dict:
        """The reads the phase's steps need on other hosts, once for the phase: from the prefetch while this run
        has changed nothing, else read now (before any host of the phase changes)."""
        steps = []
        for host in hosts:
            try:
                steps.extend(self.book.steps(phase, host))
            except Exception:  # noqa: BLE001 - run_host builds them again and reports the failure
                continue
        known = {} if self.dirty.is_set() else self.prefetched
        return read_elsewhere(steps, self.session.remotes, known)

    def phase_hosts(self, phase: Phase) -> list:
        return selected_hosts(self.ctx.inv, phase, self.options.limit)

    def redact(self, text: str) -> str:
        return self.session.redactor(text)

    def run_host(self, phase: Phase, host, elsewhere: dict | None = None) -> HostRun:
        run = HostRun(host.hostname, phase.name)
        start = time.monotonic()
        try:
            steps = self.book.steps(phase, host)
            digest = inputs_hash(phase, steps)
            remote = self.session.remotes[host.hostname]
            remote.current_step = "read the host (probes)"
            known = self.prefetched.get(host.hostname)
            probes = {step.name: step.probe() for step in steps if step.probe()}
            if known is not None and not self.dirty.is_set() and all(c in known for c in probes.values()):
                facts = {name: known[command] for name, command in probes.items()}
            else:
                # Something changed since the start (here or on another host): read this host again now.
                facts = probe_all(remote, {phase.name: steps})[phase.name]
            notified: set[str] = set()
            sctx = StepContext(remote, notified, self.redact)
            applied = False
            for step in steps:
                if self.stop.is_set():
                    raise _Stopped
                remote.current_step = step.name
                fact, where = facts.get(step.name), step.elsewhere()
                if where:
                    fact = Fact(fact.output if fact else "", fact.rc if fact else 127,
                                elsewhere=(elsewhere or {}).get(where))
                change = step.change(fact, notified)
                if change is None and isinstance(step, WaitStep) and applied and not self.options.plan:
                    change = step.waiting()      # its probe ran before our changes: wait for them to settle
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
                self.reporter.step_started(phase.name, host.hostname, change.step)
                step.apply(sctx, change)
                applied = True
                if step.counts:
                    self.dirty.set()
                    self.log.note(host.hostname, f"{phase.name}: {change.step}")
                    run.changes.append(change)
                if step.notify:
                    notified.add(step.notify)
            if run.changes and phase.journaled:
                run.reason = self.journal.why_changed(host.hostname, phase.name, digest)
            if not self.options.plan and phase.journaled:
                self.journal.record(host.hostname, phase.name, digest)
            run.status = "planned" if self.options.plan else ("changed" if run.changes else "ok")
        except _Stopped:
            run.status, run.note = "stopped", "stopped: another host failed or Ctrl-C"
        except Exception as exc:  # noqa: BLE001 - every failure on a host becomes its summary, never a traceback
            remote = self.session.remotes.get(host.hostname)
            run.status, run.error = "failed", str(exc)
            run.failure = Failure.of(exc, host.hostname, phase.name, remote.current_step if remote else "")
            if not isinstance(exc, ProvisionerError):
                self.log.note(host.hostname, "internal error:\n" + traceback.format_exc())
        finally:
            run.seconds = time.monotonic() - start
        return run

    def interrupted_now(self) -> None:
        """The first Ctrl-C: stop starting work, say so; from now on a second one ends the process at once.
        Wherever the main thread was when it came (waiting for a host, or handing one to the pool)."""
        if not self.interrupted:
            second_interrupt_exits(self.log)       # first: a second Ctrl-C may come at any moment now
            self.interrupted = True
            self.stop.set()
            self.reporter.note("interrupted: each host finishes the step it is in, then the run stops "
                               "(Ctrl-C again to stop at once)")
            self.log.note("-", "interrupted (SIGINT): finishing the steps in progress")

    def run_phase(self, phase: Phase) -> PhaseRun:
        prun = PhaseRun(phase.name, phase.summary)
        hosts = self.phase_hosts(phase)
        if not hosts:
            return prun
        self.reporter.phase_started(phase, [h.hostname for h in hosts])
        start = time.monotonic()
        elsewhere = self.elsewhere_reads(phase, hosts)

        def work(host) -> HostRun:
            if self.stop.is_set():
                return HostRun(host.hostname, phase.name, "stopped", note="not started: the run is stopping")
            self.reporter.host_started(phase.name, host.hostname)
            run = self.run_host(phase, host, elsewhere)
            prun.hosts.append(run)
            self.reporter.host_done(run)
            if run.status == "failed":
                self.stop.set()      # the rest of the phase finishes what it started, then we stop
            return run

        # Host work always runs in worker threads, serial phases included (one worker): Ctrl-C (a
        # KeyboardInterrupt, delivered to the main thread only) finds the main thread waiting here. Had it
        # reached a thread inside Connection.run, Fabric would re-raise it there and abandon the command
        # (fabric/runners.py Remote.send_interrupt: without a pty it sends nothing and raises), leaving e.g.
        # a kubeadm join running unwatched. Nothing is sent to the host either: the step in progress
        # finishes, nothing new starts, the journal keeps what completed.
        pool = ThreadPoolExecutor(max_workers=1 if phase.serial else max(1, min(self.options.parallel, len(hosts))))
        try:
            if phase.serial:
                for host in hosts:
                    if self.stop.is_set():
                        break
                    pool.submit(work, host).result()
            else:
                for future in [pool.submit(work, h) for h in hosts]:
                    future.result()
        except KeyboardInterrupt:
            self.interrupted_now()
            pool.shutdown(wait=True, cancel_futures=True)      # the hosts finish their step first
            prun.seconds = time.monotonic() - start
            self.partial = prun                                # the report shows the interrupted phase too
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        prun.seconds = time.monotonic() - start
        self.reporter.phase_done(prun)
        return prun


def build_context(inv: Inventory, state_dir: Path) -> UpContext:
    store = SecretStore(state_dir)
    secrets = store.load_or_create(inv.cluster_name)
    renderable(inv)      # the phases take their files from the desired state (UpContext.file), rendered per host
    return UpContext(inv=inv, secrets=secrets, state_dir=state_dir, journal=Journal(state_dir),
                     material=JoinMaterial(secrets, ClusterState.load(state_dir), store, state_dir))


def run_up(inv: Inventory, state_dir: Path, keys: Ssh | HostKeys, options: UpOptions,
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
        values = set(ctx.secrets.values()) | set(ctx.material.secrets.values()) | set(seen_secrets)
        for value in sorted(values, key=len, reverse=True):
            if value:
                text = text.replace(value, "<redacted>")
        return text

    seen_secrets.extend(ctx.secrets.values())
    log = RunLog.create(state_dir, "plan" if options.plan else "up", redactor)
    result = UpResult(inv.cluster_name, options.plan, log_path=str(log.path))
    session = Session(inv, keys, log, redactor, options.timeout, options.parallel, reuse={},
                      command_timeout=options.command_timeout)
    # The steps read the hosts' OS and remotes as the session fills them in.
    ctx = dataclasses.replace(ctx, os=session.os, remotes=session.remotes, say=reporter.note,
                              logins=session.keys.logins())
    try:
        _run_up(inv, options, reporter, phases, ctx, log, result, session)
    except UnreachableHosts as exc:
        first = exc.errors[0]
        result.failure = Failure.of(first, first.host, "connect")
        result.failure.message = str(exc).replace("\n", "; ")
    except Exception as exc:  # noqa: BLE001 - the CLI writes the summary and the --json report from result
        host = getattr(exc, "host", "-")
        result.failure = Failure.of(exc, host, "connect" if isinstance(exc, StepFailed) else "-")
        if not isinstance(exc, ProvisionerError):
            log.note("-", "internal error:\n" + traceback.format_exc())
    finally:
        session.close()
        result.seconds = time.monotonic() - start
        log.note("-", f"finished: {result.changed} changed, ok={result.ok}")
        log.close()
    return result


def _preflight(inv: Inventory, options: UpOptions, reporter: Reporter, phases: list[Phase], book: StepBook,
               journal: Journal, log: RunLog, result: UpResult, session: Session) -> tuple[dict, dict]:
    """Preflight, with the step probes (built for the OS each host had last run) and the session's first
    read in its round trip. Returns what it read for the phases (host -> probe -> fact) and the session's
    first read per host; sets ``result.failure`` when a finding stops the run."""
    reporter.note("preflight: auditing every host (read-only)")
    extra = book.guess({h: OsInfo.parse(line) for h, line in journal.os.items()}, phases, options.limit)
    for host in inv.hosts:         # the session's first read too: one round trip per host before the phases
        if not options.limit or host.hostname in options.limit:
            extra.setdefault(host.hostname, []).append(SESSION_READ)
    batched = {name: batch_probes(commands) for name, commands in extra.items()}   # files, units, packages
    pre = run_preflight(inv, session.keys, hosts=options.limit, parallel=options.parallel,
                        timeout=options.timeout, inventory_path=options.inventory_path,
                        keep_connections=session.reuse, extra={n: b[0] for n, b in batched.items()})
    carried = {h.host: batched[h.host][1](h.probed) for h in pre.hosts if h.probed}
    opened = {name: probed[SESSION_READ].output for name, probed in carried.items()
              if SESSION_READ in probed and probed[SESSION_READ].rc == 0}
    result.preflight, result.failure = judge(pre, {p.name for p in phases})
    log.note("-", f"preflight exit {pre.exit_code}: {result.preflight['failed']}")
    reporter.preflight_will_fix(result.preflight["will_fix"])
    return carried, opened


def _run_up(inv: Inventory, options: UpOptions, reporter: Reporter, phases: list[Phase], ctx: UpContext,
            log: RunLog, result: UpResult, session: Session) -> None:
    """Preflight, then the phases; fills ``result``. Preflight's connections go on to the phases, and so do the
    step probes it ran in its own round trip (a probe that differs once the OS is read is simply read again)."""
    journal = ctx.journal
    book = StepBook(ctx)
    carried: dict[str, dict] = {}
    opened: dict[str, str] = {}
    if not options.skip_preflight and not options.only:
        carried, opened = _preflight(inv, options, reporter, phases, book, journal, log, result, session)
        if result.failure is not None:
            return
    names = sorted({h.hostname for p in phases for h in selected_hosts(inv, p, options.limit)})
    if any(p.name in ("cni", "join-control-planes", "join-workers", "verify") for p in phases):
        names = sorted(set(names) | {inv.first_control_plane.hostname})   # join material, kubectl
    session.open(names, opened)
    journal.remember_os(session.os_lines)
    for name in names:
        replaced = journal.check_identity(name, session.identity.get(name, ""))
        if replaced:
            reporter.note(replaced)
            log.note(name, replaced)
            ctx.replaced.add(name)
    engine = Engine(ctx, session, journal, options, reporter, log, book)
    try:
        engine.prefetch(phases, carried)
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
        if engine.partial is not None:
            result.phases.append(engine.partial)
