"""Run every preflight check on every host, in parallel, over one SSH connection per host.

>>> report = run_preflight(inv, HostKeys(state / "known_hosts"), parallel=16)   # doctest: +SKIP
>>> report.exit_code                                                             # doctest: +SKIP
0

Per host: open a verified connection, run ONE read-only command that gathers
every fact the checks need (timed per fact, via testinfra on that
connection), read the clock in a second tiny round trip, then judge. When all
hosts are done, the cross-node checks compare them. Nothing on a host is
changed: every fact command only reads.
"""

from __future__ import annotations

import shlex
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import testinfra.host
from testinfra.backend.paramiko import ParamikoBackend

from provisioner.checks import NODE_CHECKS
from provisioner.checks import cluster as cluster_checks
from provisioner.checks.base import FAIL, WARN, Fact, Facts, Node, Result
from provisioner.inventory import Host, Inventory
from provisioner.transport import HostKeys, SshTarget, Unreachable, open_connection

ALWAYS = {"kube.joined": "ls /etc/kubernetes/kubelet.conf /etc/kubernetes/admin.conf 2>/dev/null || true"}


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
        if any(not h.reachable for h in self.hosts):
            return 3
        return 1 if any(h.status == "fail" for h in self.hosts) else 0


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


def gather_script(commands: dict[str, str]) -> str:
    """One bash script printing each fact between markers, with its exit code and timing.

    Each command runs in its own subshell: an ``exit`` or a failure in one fact
    cannot end the gathering of the others."""
    parts = []
    for name, command in commands.items():
        parts.append(f"printf '@@FACT %s %s\\n' {shlex.quote(name)} \"$EPOCHREALTIME\"\n"
                     f"( {command}\n) </dev/null 2>&1\n"
                     f"printf '\\n@@RC %s %s\\n' \"$?\" \"$EPOCHREALTIME\"")
    return "\n".join(parts) + "\n"


def wrap_privileged(script: str, allow_sudo: bool = True) -> str:
    """Run as root when we can (already root, or sudo -n), else as the user; the first line says which."""
    sudo = """elif sudo -n true 2>/dev/null; then echo '@@PRIV 1'; exec sudo -n bash -c "$s"; """ if allow_sudo else ""
    return (f"s={shlex.quote(script)}; if [ \"$(id -u)\" = 0 ]; then echo '@@PRIV 1'; exec bash -c \"$s\"; "
            f"{sudo}else echo '@@PRIV 0'; exec bash -c \"$s\"; fi")


EXTRA = "extra."     # fact-name prefix of a caller's extra commands


def gather_facts(th: testinfra.host.Host, inv: Inventory, host: Host,
                 extra: list[str] | tuple = ()) -> tuple[Facts, dict[str, float]]:
    """Run every fact command for ``host`` (and the caller's ``extra`` read-only commands) in one round trip;
    return facts and per-fact seconds."""
    commands = fact_commands(inv, host)
    commands.update({f"{EXTRA}{i}": command for i, command in enumerate(extra)})
    result = th.run(wrap_privileged(gather_script(commands), bool(host.sudo)))
    return parse_facts(result.stdout)


def parse_facts(output: str) -> tuple[Facts, dict[str, float]]:
    facts, durations = Facts(), {}
    name, start, buf = None, 0.0, []
    for line in output.splitlines():
        if line.startswith("@@PRIV "):
            facts.privileged = line.split()[1] == "1"
        elif line.startswith("@@FACT "):
            _, name, stamp = (line.split() + ["", ""])[:3]
            start, buf = _stamp(stamp), []
        elif line.startswith("@@RC ") and name:
            _, rc, stamp = (line.split() + ["", ""])[:3]
            facts.values[name] = Fact("\n".join(buf).strip("\n"), int(rc) if rc.lstrip("-").isdigit() else 1)
            durations[name] = max(0.0, _stamp(stamp) - start)
            name = None
        elif name:
            buf.append(line)
    return facts, durations


def _stamp(text: str) -> float:
    try:
        return float(text.replace(",", "."))
    except ValueError:
        return 0.0


def read_clock_offset(th: testinfra.host.Host) -> float | None:
    """Remote clock minus local clock, from one short round trip (midpoint estimate)."""
    before = time.time()
    result = th.run("date +%s.%N")
    after = time.time()
    try:
        return float(result.stdout.strip()) - (before + after) / 2
    except ValueError:
        return None


def settle(check, verdict: Result, node: Node, strict: bool) -> Result:
    """A failure that `up` repairs is a warning on a host not yet in a cluster (unless strict, or the
    check says a wrong answer is never harmless, like an /etc/hosts line sending a cluster name
    elsewhere): the operator learns it. On a joined host it stays a failure: that is drift breaking
    a running node. (`up` itself goes on past failures that one of its phases fixes.)"""
    if (verdict.status == FAIL and verdict.fixed_by and not strict and not node.joined
            and getattr(check, "soft_before_join", True)):
        verdict.status = WARN
        verdict.fix = f"{verdict.fix}; `provisioner up` ({verdict.fixed_by} phase) fixes this"
    return verdict


def audit_host(inv: Inventory, host: Host, keys: HostKeys, timeout: float,
               strict: bool = False, keep: dict | None = None, extra: list[str] | tuple = ()
               ) -> tuple[HostReport, Node | None]:
    """Connect, gather, judge one host. Never raises for the host's own problems.

    With ``keep`` (a dict), a connection that worked is left open in ``keep[hostname]``
    for the caller (``up`` reuses it) instead of being closed.
    """
    start = time.perf_counter()
    report = HostReport(host.hostname, str(host.address), list(host.roles))
    target = SshTarget.of(host)
    try:
        conn = open_connection(target, keys, timeout)
    except Unreachable as exc:
        report.reachable, report.reason = False, exc.reason
        report.results.append(Result("ssh.connect", FAIL, exc.reason, f"SSH to {target.user}@{target.address}:{target.port}",
                                     "see the reason; preflight needs SSH to every host"))
        report.duration = time.perf_counter() - start
        return report, None
    try:
        th = testinfra_host(conn)
        facts, durations = gather_facts(th, inv, host, extra)
        if facts.privileged:
            report.probed = {command: facts.values.pop(f"{EXTRA}{i}") for i, command in enumerate(extra)
                             if f"{EXTRA}{i}" in facts.values}
        for name in [n for n in facts.values if n.startswith(EXTRA)]:
            del facts.values[name]
        node = Node(host, inv, facts, clock_offset=read_clock_offset(th))
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


def run_preflight(inv: Inventory, keys: HostKeys, hosts: list[str] | None = None, parallel: int = 32,
                  timeout: float = 10, inventory_path: str = "", on_host_done=None, strict: bool = False,
                  keep_connections: dict | None = None, extra: dict[str, list[str]] | None = None) -> Report:
    """Audit the selected hosts (all by default) with at most ``parallel`` at once, then compare them.

    ``keep_connections``: a dict that receives each reachable host's open connection
    (hostname -> fabric.Connection); the caller closes them. ``up`` passes one so its
    phases ride on the connections preflight already verified.
    ``extra``: hostname -> read-only commands to run in the same round trip as the facts
    (``up``'s step probes); their outputs come back in ``HostReport.probed``.
    """
    selected = [h for h in inv.hosts if not hosts or h.hostname in hosts]
    started, t0 = time.time(), time.perf_counter()
    reports: dict[str, HostReport] = {}
    nodes: list[Node] = []
    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(selected)))) as pool:
        futures = {pool.submit(audit_host, inv, h, keys, timeout, strict, keep_connections,
                               (extra or {}).get(h.hostname, ())): h for h in selected}
        for future in futures:
            report, node = future.result()
            reports[report.host] = report
            if node:
                nodes.append(node)
            if on_host_done:
                on_host_done(report)
    nodes.sort(key=lambda n: [h.hostname for h in selected].index(n.name))
    for check, concerned in cluster_checks.CLUSTER_CHECKS:
        for node, verdict in zip(concerned(nodes), check(nodes)):
            reports[node.name].results.append(verdict)
    ordered = [reports[h.hostname] for h in selected]
    return Report(inv.cluster_name, inventory_path, ordered, started, time.perf_counter() - t0)
