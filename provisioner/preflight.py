"""Run every preflight check on every host, in parallel, over one SSH connection per host.

>>> report = run_preflight(inv, HostKeys(state / "known_hosts"), parallel=16)   # doctest: +SKIP
>>> report.exit_code                                                             # doctest: +SKIP
0

Per host: open a verified connection, run ONE read-only command that gathers
every fact the checks need (timed per fact, via testinfra on that
connection) and stamps the host's clock at its start and end (the clock
offset comes from the same round trip), then judge. When all hosts are done,
the cross-node checks compare them. Nothing on a host is changed: every fact
command only reads.

The gathering is one bash process tree per host: the checks' own fact
commands run in the script's shell (``{ ...; }``, no subshell each) unless
they do something that could end or change that shell (see :func:`isolated`);
a caller's extra commands (``up``'s step probes) always run in a subshell.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from provisioner import deferred

deferred.defer("invoke")     # testinfra's backend imports paramiko, which imports invoke: see provisioner.deferred
import testinfra.host  # noqa: E402
from testinfra.backend.paramiko import ParamikoBackend  # noqa: E402

from provisioner.checks import NODE_CHECKS  # noqa: E402
from provisioner.checks import cluster as cluster_checks  # noqa: E402
from provisioner.errors import run_exit_code  # noqa: E402
from provisioner.gate import settle  # noqa: E402
from provisioner.checks.base import FAIL, JOINED, Fact, Facts, Node, Result  # noqa: E402
from provisioner.factdata import ReadPlan  # noqa: E402
from provisioner.gather import clock_offset, gather_script, parse_facts, wrap_privileged  # noqa: E402
from provisioner.sharedreads import join_package_reads, join_unit_reads  # noqa: E402
from provisioner.inventory import Host, Inventory  # noqa: E402
from provisioner.derived import derived_reads  # noqa: E402
from provisioner.transport import HostKeys, Ssh, Unreachable  # noqa: E402

ALWAYS = {"kube.joined": JOINED}


@dataclass
class HostReport:
    host: str
    address: str
    roles: list[str]
    reachable: bool = True
    reason: str = ""
    results: list[Result] = field(default_factory=list)
    duration: float = 0.0
    # The outputs of the caller's extra read-only commands (``up``'s step probes), by command, read in the
    # same round trip as the facts; empty when they did not run as root.
    probed: dict[str, Fact] = field(default_factory=dict, repr=False)

    @property
    def status(self) -> str:
        if not self.reachable:
            return "unreachable"
        return "fail" if any(r.status == FAIL for r in self.results) else "pass"


@dataclass
class Report:
    cluster: str
    inventory: str
    hosts: list[HostReport]
    started: float
    duration: float

    @property
    def exit_code(self) -> int:
        """0 all pass (warnings allowed), 1 a check failed, 3 a host was unreachable."""
        return run_exit_code(failed=any(h.status == "fail" for h in self.hosts),
                             unreachable=any(not h.reachable for h in self.hosts))


def testinfra_host(conn) -> testinfra.host.Host:
    """A testinfra Host riding on our verified paramiko connection (no second login, no key policy of its own)."""
    backend = ParamikoBackend(f"paramiko://{conn.user}@{conn.host}:{conn.port}")
    backend.__dict__["client"] = conn.client   # testinfra caches its client here; reuse ours
    return testinfra.host.Host(backend)


def fact_commands(inv: Inventory, host: Host) -> dict[str, str]:
    """Every read-only command needed on ``host``, deduplicated by fact name."""
    node = Node(host, inv, Facts())
    commands = dict(ALWAYS)
    for check in NODE_CHECKS:
        if check.applies(node):
            commands.update(check.fact_commands(inv, host))
    commands.update(cluster_checks.fact_commands(host, inv))
    return commands


EXTRA = "extra."     # fact-name prefix of a caller's extra commands


def gather_facts(th: testinfra.host.Host, inv: Inventory, host: Host,
                 extra: list[str] | tuple = ()) -> tuple[Facts, dict[str, float]]:
    """Run every fact command for ``host`` (and the caller's ``extra`` read-only commands) in one round trip;
    return facts and per-fact seconds."""
    facts, durations, _ = gather_host(th, inv, host, extra)
    return facts, durations


def host_script(inv: Inventory, host: Host, extra: list[str] | tuple = ()) -> str:
    """The one command preflight runs on ``host``: every fact, the extra commands, two clock stamps."""
    return host_plan(inv, host, extra)[0]


def host_plan(inv: Inventory, host: Host, extra: list[str] | tuple = ()
              ) -> tuple[str, Callable[[Facts, dict[str, float]], None]]:
    """:func:`host_script` and ``split``, which turns the parsed answer (facts, durations; in place) into one
    fact per command asked for: the units' reads it joined (:func:`join_unit_reads`) are cut apart again, and
    the extra commands a fact answers (:func:`~provisioner.derived.derived_reads`) get their answers from it."""
    commands = fact_commands(inv, host)
    # the checks' own commands may share the script's shell; the extra ones run alongside
    plan = ReadPlan.of({**commands, **{f"{EXTRA}{i}": command for i, command in enumerate(extra)}},
                       commands, (f"{EXTRA}{i}" for i in range(len(extra))))
    plan, derive = derived_reads(plan)        # before the units' join: it may drop probes too
    plan, units = join_unit_reads(plan)
    plan, packages = join_package_reads(plan)
    joins = (units, packages)
    script = wrap_privileged(gather_script(dict(plan.commands), plan.shared, clock=True, alongside=plan.side),
                             bool(host.sudo))

    def split(facts: Facts, durations: dict[str, float]) -> None:
        for join in joins:
            join(facts, durations)
        derive(facts.values)
    return script, split


def gather_host(th: testinfra.host.Host, inv: Inventory, host: Host, extra: list[str] | tuple = ()
                ) -> tuple[Facts, dict[str, float], float | None]:
    """:func:`gather_facts` plus the host's clock offset (remote minus local, seconds), read in the SAME
    round trip: no second command just for the clock."""
    sent = time.time()
    script, split = host_plan(inv, host, extra)
    result = th.run(script)
    received = time.time()
    facts, durations = parse_facts(result.stdout)
    split(facts, durations)
    return facts, durations, clock_offset(result.stdout, sent, received)


def audit_host(inv: Inventory, host: Host, keys: Ssh | HostKeys, timeout: float,
               strict: bool = False, keep: dict | None = None, extra: list[str] | tuple = ()
               ) -> tuple[HostReport, Node | None]:
    """Connect, gather, judge one host. Never raises for the host's own problems.

    With ``keep`` (a dict), a connection that worked is left open in ``keep[hostname]``
    for the caller (``up`` reuses it) instead of being closed.
    """
    start = time.perf_counter()
    report = HostReport(host.hostname, str(host.address), list(host.roles))
    ssh = Ssh.of(keys)
    target = ssh.target(host)
    try:
        conn = ssh.open(target, timeout)
    except Unreachable as exc:
        report.reachable, report.reason = False, exc.reason
        report.results.append(Result("ssh.connect", FAIL, exc.reason, f"SSH to {target.user}@{target.address}:{target.port}",
                                     "see the reason; preflight needs SSH to every host"))
        report.duration = time.perf_counter() - start
        return report, None
    try:
        th = testinfra_host(conn)
        facts, durations, offset = gather_host(th, inv, host, extra)
        if facts.privileged:
            report.probed = {command: facts.values.pop(f"{EXTRA}{i}") for i, command in enumerate(extra)
                             if f"{EXTRA}{i}" in facts.values}
        for name in [n for n in facts.values if n.startswith(EXTRA)]:
            del facts.values[name]
        node = Node(host, inv, facts, clock_offset=offset, login=target.user)
    except Exception as exc:  # noqa: BLE001 - a broken session is this host's problem, not the run's
        conn.close()
        report.reachable, report.reason = False, f"session failed: {type(exc).__name__}: {exc}"
        report.results.append(Result("ssh.connect", FAIL, report.reason, "a working SSH session", "check sshd on the host"))
        report.duration = time.perf_counter() - start
        return report, None
    except BaseException:
        conn.close()
        raise
    if keep is None:
        conn.close()
    else:
        keep[host.hostname] = conn
    for check in NODE_CHECKS:
        if not check.applies(node):
            continue
        t0 = time.perf_counter()
        verdict = settle(check, check.evaluate(facts, node), node, strict)
        verdict.duration = sum(durations.get(n, 0.0) for n in check.fact_commands(inv, host)) + (time.perf_counter() - t0)
        report.results.append(verdict)
    report.duration = time.perf_counter() - start
    return report, node


def run_preflight(inv: Inventory, keys: Ssh | HostKeys, hosts: list[str] | None = None, parallel: int = 32,
                  timeout: float = 10, inventory_path: str = "", strict: bool = False,
                  keep_connections: dict | None = None, extra: dict[str, list[str]] | None = None) -> Report:
    """Audit the selected hosts (all by default) with at most ``parallel`` at once, then compare them.

    ``keep_connections``: a dict that receives each reachable host's open connection
    (hostname -> fabric.Connection); the caller closes them. ``up`` passes one so its
    phases ride on the connections preflight already verified.
    ``extra``: hostname -> read-only commands to run in the same round trip as the facts
    (``up``'s step probes); their outputs come back in ``HostReport.probed``.
    """
    selected = [h for h in inv.hosts if not hosts or h.hostname in hosts]
    ssh = Ssh.of(keys).bind(inv)      # one resolution and one jump pool for every host of the run
    if ssh is not keys and keep_connections is None:
        try:
            return run_preflight(inv, ssh, hosts, parallel, timeout, inventory_path, strict,
                                 keep_connections, extra)
        finally:
            ssh.close()
    started, t0 = time.time(), time.perf_counter()
    reports: dict[str, HostReport] = {}
    nodes: list[Node] = []
    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(selected)))) as pool:
        futures = {pool.submit(audit_host, inv, h, ssh, timeout, strict, keep_connections,
                               (extra or {}).get(h.hostname, ())): h for h in selected}
        for future in futures:
            report, node = future.result()
            reports[report.host] = report
            if node:
                nodes.append(node)
    nodes.sort(key=lambda n: [h.hostname for h in selected].index(n.name))
    for check, concerned in cluster_checks.CLUSTER_CHECKS:
        for node, verdict in zip(concerned(nodes), check(nodes)):
            reports[node.name].results.append(verdict)
    ordered = [reports[h.hostname] for h in selected]
    return Report(inv.cluster_name, inventory_path, ordered, started, time.perf_counter() - t0)
