"""Run the phases of ``up`` over SSH: read the state of every step, change what differs, journal progress.

>>> result = run_up(inv, options, reporter)              # doctest: +SKIP
>>> result.changed, result.ok                             # doctest: +SKIP
(0, True)

Every run reads every host: the journal never skips a step (a re-run that
trusted it would call a drifted host "done"). Reads are made cheap instead:

1. before changing anything, the probes of every step of every phase a host
   takes part in are read: in the same round trip as ``up``'s own preflight
   (built for the OS the host had last run; they run on the host alongside
   the facts), with the session's own first read (OS, machine id, leftovers:
   :data:`SESSION_READ`), and in one more round trip per host only for what
   that did not cover (first run, another OS, --plan);
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from provisioner import __version__
from provisioner.errors import ProvisionerError, UsageError
from provisioner.inventory import Inventory
from provisioner.phases import PHASE_NAMES, PHASES, Phase, UpContext
from provisioner.phases.base import OsInfo
from provisioner.checks.base import Fact
from provisioner.preflight import gather_script, parse_facts, wrap_privileged
from provisioner.remote import PREFIX, Remote, StepFailed
from provisioner.render import renderable
from provisioner.runlog import RunLog
from provisioner.secrets import SecretStore
from provisioner.state import ClusterState, Journal
from provisioner.steps import Change, CommandStep, FileStep, StepContext, WaitStep, batch_probes
from provisioner.transport import HostKeys, Ssh, Unreachable
from provisioner.validation import require_known_hosts


@dataclass
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
        if self.interrupted:
            return 130
        if self.failure is None:
            return 0
        return 3 if self.failure.kind == "unreachable" else 1


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

    def __init__(self, inv: Inventory, keys: Ssh | HostKeys, log: RunLog, redactor: Callable[[str], str],
                 timeout: float, parallel: int, reuse: dict | None = None, command_timeout: float | None = None):
        self.inv, self.log, self.redactor = inv, log, redactor
        self.keys = Ssh.of(keys).bind(inv)      # the run's SSH: resolution, host keys, shared jump hosts
        self._own_ssh = self.keys is not keys   # made here from bare HostKeys: its jump hosts close with us
        self.timeout, self.parallel, self.command_timeout = timeout, parallel, command_timeout
        self.reuse = reuse if reuse is not None else {}
        self.remotes: dict[str, Remote] = {}
        self.os: dict[str, OsInfo] = {}
        self.identity: dict[str, str] = {}     # hostname -> machine-id (a reinstalled host has another)
        self.os_lines: dict[str, str] = {}     # hostname -> the OS probe's answer (remembered for the next run)

    def open(self, names: list[str], known: dict[str, str] | None = None) -> None:
        """Take over (or open) each host's connection and read its OS and machine id.

        ``known``: hostname -> the output of :data:`SESSION_READ`, read read-only in preflight's round trip
        on the connection taken over here: such a host needs no first command of its own - unless
        leftovers of an earlier run are there to remove (:meth:`Remote.start` does that)."""
        hosts = [self.inv.host(n) for n in names if n not in self.remotes]
        known = known or {}
        errors: list[Unreachable] = []
        failed: list[StepFailed] = []

        def one(host):
            target = self.keys.target(host)
            conn = self.reuse.pop(host.hostname, None)
            read = known.get(host.hostname) if conn is not None and conn.is_connected else None
            if conn is None or not conn.is_connected:
                try:
                    conn = self.keys.open(target, self.timeout)
                except Unreachable as exc:
                    errors.append(exc)
                    return
            remote = Remote(target, conn, self.log, self.redactor, self.command_timeout)
            remote.current_step = "open the session (leftovers, OS release, machine id)"
            if read is not None and LEFTOVERS_SEEN not in read.splitlines():
                lines = read.splitlines() + ["", ""]       # preflight's round trip read it: no command here
            else:
                try:
                    # start(): also removes this user's temp dirs left by runs that no longer exist.
                    info = remote.start(SESSION_PROBE)
                except (Unreachable, StepFailed) as exc:
                    (errors if isinstance(exc, Unreachable) else failed).append(exc)
                    remote.close()
                    return
                lines = info.stdout.splitlines() + ["", ""]
            self.os_lines[host.hostname] = lines[0].strip()
            self.os[host.hostname] = OsInfo.parse(lines[0])
            self.identity[host.hostname] = lines[1].strip()
            self.remotes[host.hostname] = remote

        with ThreadPoolExecutor(max_workers=max(1, min(self.parallel, len(hosts) or 1))) as pool:
            list(pool.map(one, hosts))
        if errors:
            raise UnreachableHosts(errors)
        if failed:
            raise failed[0]
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
        if self._own_ssh:
            self.keys.close()


# What a session reads first on a host: its OS (which commands the steps use) and its machine id.
# The machine id read by bash itself (`cat /etc/machine-id 2>/dev/null`, without a process): its one line.
SESSION_PROBE = (f"{OsInfo.PROBE}; _m=; {{ IFS= read -r _m < /etc/machine-id; }} 2>/dev/null; "
                 "[ -z \"$_m\" ] || printf '%s\\n' \"$_m\"")
# The same, read-only, to ride in preflight's round trip, plus whether a run's temp dir is there (a
# builtin glob): only then does the session's first command have work to do (Remote.start removes
# those of dead runs).
LEFTOVERS_SEEN = "leftovers"
SESSION_READ = f"{SESSION_PROBE}; compgen -G '{PREFIX}*' >/dev/null && echo {LEFTOVERS_SEEN}; true"


class UnreachableHosts(ProvisionerError):
    exit_code = 3

    def __init__(self, errors: list[Unreachable]):
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


def read_commands(remote: Remote, commands: list[str]) -> dict[str, Fact]:
    """Run read-only ``commands`` on the host in ONE round trip, each distinct command once; facts by command."""
    wanted = list(dict.fromkeys(c for c in commands if c))
    if not wanted:
        return {}
    distinct, expand = batch_probes(wanted)        # files, units, packages: one command per kind
    res = remote.run(wrap_privileged(gather_script({f"p{i}": c for i, c in enumerate(distinct)})),
                     check=False, quiet=True)
    facts, _ = parse_facts(res.stdout)
    read = expand({distinct[int(key[1:])]: fact for key, fact in facts.values.items()})
    short = [c for c in wanted if c not in read]
    if short and len(short) < len(wanted) and any(c not in distinct for c in short):
        # a batch that did not add up (e.g. systemctl printed fewer blocks): those probes one by one
        res = remote.run(wrap_privileged(gather_script({f"p{i}": c for i, c in enumerate(short)})),
                         check=False, quiet=True)
        again, _ = parse_facts(res.stdout)
        read.update({short[int(key[1:])]: fact for key, fact in again.values.items()})
    return {c: f for c, f in read.items() if c in wanted}


def probe_all(remote: Remote, groups: dict[str, list]) -> dict[str, dict]:
    """Run the probes of every step of every group (a phase's steps) in ONE round trip.

    Returns the facts by group, then by step name. The same read twice in one round trip (e.g. "the API
    answers through the VIP" in init and in verify) gives the same answer: it runs once.
    """
    read = read_commands(remote, [step.probe() for steps in groups.values() for step in steps])
    return {group: {step.name: read[step.probe()] for step in steps if step.probe() in read}
            for group, steps in groups.items()}


def selected_hosts(inv: Inventory, phase: Phase, limit: list[str] | None) -> list:
    """The hosts ``phase`` works on, narrowed to ``--limit`` when given."""
    return [h for h in phase.hosts(inv) if not limit or h.hostname in limit]


def probe_commands(ctx: UpContext, phases: list[Phase], limit: list[str] | None) -> dict[str, list[str]]:
    """Every distinct probe of every step of every phase, per host: what ``up`` will read before it changes
    anything. A phase whose steps cannot be built yet (no OS known for the host) is left out: it reads the
    host itself when it runs."""
    out: dict[str, list[str]] = {}
    for phase in phases:
        for host in selected_hosts(ctx.inv, phase, limit):
            try:
                steps = phase.steps(ctx, host)
            except Exception:  # noqa: BLE001 - e.g. KeyError: the runtime phase needs the host's OS
                continue
            commands = out.setdefault(host.hostname, [])
            commands.extend(c for c in (step.probe() for step in steps) if c and c not in commands)
    return out


def _second_interrupt_exits(log: RunLog) -> None:
    """From now on SIGINT ends the process at once (exit 130), without waiting for the hosts."""
    import os
    import signal
    import sys

    def now(signum, frame):
        sys.stderr.write("interrupted again: stopping at once - a step in progress may be left half-done; "
                         "the next `provisioner up` reads every host and completes it\n")
        try:
            log.note("-", "interrupted again (SIGINT): exiting at once")
            log.close()
        except Exception:  # noqa: BLE001 - exiting anyway
            pass
        os._exit(130)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, now)


class _Stopped(Exception):
    """Raised between steps once the run is stopping (a failure elsewhere, or Ctrl-C)."""


class Engine:
    """One ``up`` (or ``up --plan``) over an open session."""

    def __init__(self, ctx: UpContext, session: Session, journal: Journal, options: UpOptions,
                 reporter: Reporter, log: RunLog):
        self.ctx, self.session, self.journal = ctx, session, journal
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
        wanted = probe_commands(self.ctx, phases, self.options.limit)
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

    def phase_hosts(self, phase: Phase) -> list:
        return selected_hosts(self.ctx.inv, phase, self.options.limit)

    def redact(self, text: str) -> str:
        return self.session.redactor(text)

    def run_host(self, phase: Phase, host) -> HostRun:
        run = HostRun(host.hostname, phase.name)
        start = time.monotonic()
        try:
            steps = phase.steps(self.ctx, host)
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
            sctx = StepContext(remote, notified, self.redact, facts)
            applied = False
            for step in steps:
                if self.stop.is_set():
                    raise _Stopped
                remote.current_step = step.name
                change = step.change(facts.get(step.name), notified)
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
                step.apply(sctx)
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

    def wait_for(self, future):
        """Wait in the main thread for a host's work; the first Ctrl-C stops the run (re-raised once the
        hosts finished their current step), a second one ends the process at once."""
        try:
            return future.result()
        except KeyboardInterrupt:
            if not self.interrupted:
                _second_interrupt_exits(self.log)       # first: a second Ctrl-C may come at any moment now
                self.interrupted = True
                self.stop.set()
                self.reporter.note("interrupted: each host finishes the step it is in, then the run stops "
                                   "(Ctrl-C again to stop at once)")
                self.log.note("-", "interrupted (SIGINT): finishing the steps in progress")
            raise

    def run_phase(self, phase: Phase) -> PhaseRun:
        prun = PhaseRun(phase.name, phase.summary)
        hosts = self.phase_hosts(phase)
        if not hosts:
            return prun
        self.reporter.phase_started(phase, [h.hostname for h in hosts])
        start = time.monotonic()

        def work(host) -> HostRun:
            if self.stop.is_set():
                return HostRun(host.hostname, phase.name, "stopped", note="not started: the run is stopping")
            self.reporter.host_started(phase.name, host.hostname)
            run = self.run_host(phase, host)
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
                    self.wait_for(pool.submit(work, host))
            else:
                for future in [pool.submit(work, h) for h in hosts]:
                    self.wait_for(future)
        except KeyboardInterrupt:
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
    return UpContext(inv=inv, secrets=secrets, store=store, state=ClusterState.load(state_dir), state_dir=state_dir)


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
        values = set(ctx.secrets.values()) | set(seen_secrets)
        for value in sorted(values, key=len, reverse=True):
            if value:
                text = text.replace(value, "<redacted>")
        return text

    seen_secrets.extend(ctx.secrets.values())
    log = RunLog.create(state_dir, "plan" if options.plan else "up", redactor)
    result = UpResult(inv.cluster_name, options.plan, log_path=str(log.path))
    session = Session(inv, keys, log, redactor, options.timeout, options.parallel, reuse={},
                      command_timeout=options.command_timeout)
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


def _run_up(inv: Inventory, options: UpOptions, reporter: Reporter, phases: list[Phase], ctx: UpContext,
            log: RunLog, result: UpResult, session: Session) -> None:
    """Preflight, then the phases; fills ``result``. Preflight's connections go on to the phases, and so do the
    step probes it ran in its own round trip (built for the OS each host had last run: a probe that differs
    now is simply read again)."""
    journal = Journal(ctx.state_dir)
    carried: dict[str, dict] = {}
    opened: dict[str, str] = {}
    if not options.skip_preflight and not options.only:
        from provisioner.preflight import run_preflight
        reporter.note("preflight: auditing every host (read-only)")
        guess = dataclasses.replace(ctx, os={h: OsInfo.parse(line) for h, line in journal.os.items()})
        extra = probe_commands(guess, phases, options.limit)
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
        failed = {h.host: [r.check for r in h.results if not r.ok] for h in pre.hosts if h.status != "pass"}
        # What one of the phases of this run repairs does not stop it: say so and go on.
        running = {p.name for p in phases}
        will_fix = {h.host: [f"{r.check} ({r.fixed_by})" for r in h.results if not r.ok and r.fixed_by in running]
                    for h in pre.hosts if h.reachable}
        will_fix = {h: checks for h, checks in will_fix.items() if checks}
        blocking = {h.host: [r.check for r in h.results if not r.ok and r.fixed_by not in running]
                    for h in pre.hosts if h.status != "pass"}
        blocking = {h: checks for h, checks in blocking.items() if checks}
        result.preflight = {"exit_code": pre.exit_code, "failed": failed, "will_fix": will_fix,
                            "blocking": blocking}
        log.note("-", f"preflight exit {pre.exit_code}: {failed}")
        reporter.preflight_will_fix(will_fix)
        if blocking:
            failed = blocking
            reasons = "; ".join(f"{h}: {', '.join(c) or 'unreachable'}" for h, c in failed.items())
            result.failure = Failure("-", "preflight", "", pre.exit_code, "",
                                     f"preflight failed ({reasons}) - run `provisioner preflight` for details, "
                                     "fix, and re-run (or --skip-preflight)")
            lost = [h for h in pre.hosts if not h.reachable]
            if lost:     # exit 3, like `provisioner preflight`: name each host and why
                result.failure.host = ", ".join(h.host for h in lost)
                result.failure.kind, result.failure.rc = "unreachable", None
                result.failure.message = "unreachable: " + "; ".join(f"{h.host}: {h.reason}" for h in lost)
                result.failure.hint = "check that the host is up and reachable over SSH, then re-run"
            return
    names = sorted({h.hostname for p in phases for h in selected_hosts(inv, p, options.limit)})
    if any(p.name in ("cni", "join-control-planes", "join-workers", "verify") for p in phases):
        names = sorted(set(names) | {inv.first_control_plane.hostname})   # join material, kubectl
    session.open(names, opened)
    ctx.os, ctx.remotes = session.os, session.remotes
    ctx.say = reporter.note
    journal.remember_os(session.os_lines)
    for name in names:
        replaced = journal.check_identity(name, session.identity.get(name, ""))
        if replaced:
            reporter.note(replaced)
            log.note(name, replaced)
            ctx.replaced.add(name)
    engine = Engine(ctx, session, journal, options, reporter, log)
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
