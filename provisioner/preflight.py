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

import re
import shlex
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from provisioner import deferred, shellscope

deferred.defer("invoke")     # testinfra's backend imports paramiko, which imports invoke: see provisioner.deferred
import testinfra.host  # noqa: E402
from testinfra.backend.paramiko import ParamikoBackend  # noqa: E402

from provisioner.checks import NODE_CHECKS  # noqa: E402
from provisioner.checks import cluster as cluster_checks  # noqa: E402
from provisioner.errors import run_exit_code  # noqa: E402
from provisioner.gate import settle  # noqa: E402
from provisioner.checks.base import (FAIL, JOINED, Fact, Facts, Node, Result,  # noqa: E402
                                     unit_file_exists, unit_property, unit_property_of)
from provisioner.inventory import Host, Inventory  # noqa: E402
from provisioner.derived import derived_reads  # noqa: E402
from provisioner.checks.runtime import kube_versions_command  # noqa: E402
from provisioner.probebatch import UNIT_PROPS, package_probe_names, unit_probe_units  # noqa: E402
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


# What could end the gathering shell or change it for the facts after: such a command runs in a subshell.
_UNSAFE = re.compile(r"\b(exit|exec|return|set|shopt|cd|pushd|popd|trap|ulimit|umask|unset|export|readonly|"
                     r"alias|source|eval|wait)\b|(?<![&>])&(?![&>])|\b(PATH|IFS)=\S*\s*(;|&&|\|\||$)")


def isolated(command: str) -> bool:
    """True when ``command`` must run in its own subshell: it may exit, change the shell's state
    (options, directory, traps, exported or special variables) or leave background jobs behind.

    >>> isolated("cat /proc/swaps"), isolated("printf 'x'; exit 3"), isolated("sleep 1 & wait")
    (False, True, True)
    """
    return bool(_UNSAFE.search(command))


def gather_script(commands: dict[str, str], shared: frozenset | set = frozenset(), clock: bool = False,
                  alongside: frozenset | set = frozenset()) -> str:
    """One bash script printing each fact between markers, with its exit code and timing.

    A command runs in its own subshell (an ``exit`` or a failure in one fact cannot end the gathering of
    the others) unless its name is in ``shared`` and :func:`isolated` finds nothing unsafe in it: then it
    runs in the script's own shell, which saves a fork per fact. With ``clock``, the first and the last
    line stamp the host's clock (``@@CLOCK``): :func:`clock_offset` turns them into the offset.

    The commands named in ``alongside`` (``up``'s step probes) run in ``SIDE_LANES`` more processes
    started first (round robin; one after the other within a lane), while the others run: a host's wall
    time is then its longest sequence, not the sum (the probes of a built control plane wait on its
    API server: kubectl, curl). Their output goes through pipes and is copied out at the end, so every
    fact's lines stay together. Within a lane a probe runs as a function with its variables local where
    :func:`~provisioner.shellscope.scoped` can show that isolates it as a subshell would (no fork), else in
    a subshell."""
    functions = iter(range(len(commands)))

    def block(name: str, command: str) -> str:
        if name in shared and not isolated(command):
            body = f"{{ {command}\n}}"
        elif name in alongside and (call := shellscope.scoped(f"_probe{next(functions)}", command)):
            body = call
        else:
            body = f"( {command}\n)"
        return (f"printf '@@FACT %s %s\\n' {shlex.quote(name)} \"$EPOCHREALTIME\"\n"
                f"{body} </dev/null 2>&1\n"
                f"printf '\\n@@RC %s %s\\n' \"$?\" \"$EPOCHREALTIME\"")

    parts = ['printf \'@@CLOCK %s\\n\' "$EPOCHREALTIME"'] if clock else []
    side = [block(name, command) for name, command in commands.items() if name in alongside]
    lanes = [side[i::SIDE_LANES] for i in range(SIDE_LANES) if side[i::SIDE_LANES]]
    for i, lane in enumerate(lanes):
        parts.append(f"exec {{_side{i}}}< <(\n" + "\n".join(lane) + "\n)")
    parts += [block(name, command) for name, command in commands.items() if name not in alongside]
    for i in range(len(lanes)):
        parts.append(f'while IFS= read -r -u "$_side{i}" _line || [ -n "$_line" ]; do printf \'%s\\n\' "$_line"; done')
    if clock:
        parts.append('printf \'@@CLOCK %s\\n\' "$EPOCHREALTIME"')
    return "\n".join(parts) + "\nexit 0\n"


def wrap_privileged(script: str, allow_sudo: bool = True) -> str:
    """Run as root when we can (already root, or sudo -n), else as the user; the first line says which.

    One sudo, not a ``sudo -n true`` test first: ``sudo -n`` exits 1 when it may not run the command (and
    the script itself always ends with ``exit 0``), and only then does the script run as the user."""
    sudo = ('if command -v sudo >/dev/null 2>&1; then sudo -n bash -c "$s" _ 1 2>/dev/null; r=$?; '
            '[ "$r" = 1 ] || exit "$r"; fi; ') if allow_sudo else ""
    whole = 'echo "@@PRIV $1"\n' + script          # $1: 1 run as root, 0 as the user
    return (f"s={shlex.quote(whole)}; if [ \"$(id -u)\" = 0 ]; then exec bash -c \"$s\" _ 1; fi; "
            f"{sudo}exec bash -c \"$s\" _ 0")


EXTRA = "extra."     # fact-name prefix of a caller's extra commands
SIDE_LANES = 3       # processes running a caller's extra commands alongside the facts


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
    shared = set(commands)                # the checks' own commands may share the script's shell
    commands.update({f"{EXTRA}{i}": command for i, command in enumerate(extra)})
    side = {f"{EXTRA}{i}" for i in range(len(extra))}
    derive = derived_reads(commands, shared, side)        # before the units' join: it may drop probes too
    joins = [join_unit_reads(commands, shared, side), join_package_reads(commands, shared, side)]
    script = wrap_privileged(gather_script(commands, frozenset(shared), clock=True, alongside=frozenset(side)),
                             bool(host.sudo))

    def split(facts: Facts, durations: dict[str, float]) -> None:
        for join in joins:
            join(facts, durations)
        derive(facts.values)
    return script, split


SHARED_UNITS = "shared.units"      # fact name of the one systemctl show that facts and extra commands share


def join_unit_reads(commands: dict[str, str], shared: set, side: set) -> Callable[[Facts, dict[str, float]], None]:
    """Answer the facts' unit properties (:func:`~provisioner.checks.base.unit_property`) and the extra
    commands' service probes (:func:`~provisioner.probebatch.unit_probe_units`) with ONE ``systemctl show`` for
    the union of their units and properties, not one each: on a node that is 100-200 ms of CPU (systemctl
    connects to the manager each time). Changes ``commands`` (and the sets of names) in place; returns
    ``split``, which cuts the joined answer back into what each command prints on its own: its units, its
    properties, in systemd's order; a fact's property only where its unit file is installed.

    >>> from provisioner.steps import ServiceStep
    >>> cmds = {"runtime.cri": unit_property("cri-docker.service", "ExecStart"), "extra.0": "true",
    ...         "extra.1": ServiceStep("chrony").probe()}
    >>> split = join_unit_reads(cmds, {"runtime.cri"}, {"extra.0", "extra.1"})
    >>> sorted(cmds)
    ['extra.0', 'shared.units']
    """
    props = {n: p for n, c in commands.items() if n in shared and (p := unit_property_of(c))}
    probes = {n: u for n, c in commands.items() if n in side and (u := unit_probe_units(c))}
    if not props or not probes:
        return lambda facts, durations: None          # nothing to share: each reads for itself
    units = list(dict.fromkeys([u for us, _ in probes.values() for u in us] + [u for u, _ in props.values()]))
    wanted = list(dict.fromkeys([*UNIT_PROPS, *(p for _, p in props.values())]))
    present = {u: unit_file_exists(u) for u in dict.fromkeys(u for u, _ in props.values())}
    for name in [*props, *probes]:
        del commands[name]
        shared.discard(name)
        side.discard(name)
    # One block per unit, in the order given, a blank line before each but the first (systemd
    # src/systemctl/systemctl-show.c show_one); a property asked for by -p is printed even when empty
    # (src/systemctl/systemctl.c parse_argv: "show it, even if it is empty"), so no block is empty.
    # Which units' files exist is asked with builtins, after.
    commands[SHARED_UNITS] = ("systemctl show " + " ".join(f"-p {p}" for p in wanted) + " -- "
                              + " ".join(shlex.quote(u) for u in units) + " 2>/dev/null; echo @@PRESENT; "
                              + "; ".join(f"{test} && echo {shlex.quote(u)}" for u, test in present.items()) + "; true")
    shared.add(SHARED_UNITS)

    def split(facts: Facts, durations: dict[str, float]) -> None:
        joined = facts.values.pop(SHARED_UNITS, None)
        took = durations.pop(SHARED_UNITS, 0.0)
        if joined is None:
            return
        text, _, found = joined.output.partition("@@PRESENT")
        installed = set(found.split())
        blocks = [block.splitlines() for block in text.strip("\n").split("\n\n")] if text.strip() else []
        by_unit = dict(zip(units, blocks)) if len(blocks) == len(units) else {}

        def only(unit: str, keep: tuple) -> list[str]:
            return [line for line in by_unit[unit] if line.split("=", 1)[0] in keep]

        for name, (unit, prop) in props.items():
            if unit not in installed:
                facts.values[name] = Fact("", 0)          # the fact's own test prints nothing then
            elif unit in by_unit:
                facts.values[name] = Fact("\n".join(line.split("=", 1)[1] for line in only(unit, (prop,))), 0)
            else:                                           # systemctl's answer does not add up: say nothing true
                facts.values[name] = Fact("", 1)
            durations[name] = took
        for name, (us, batched) in probes.items():
            if all(u in by_unit for u in us):               # else no answer: up reads it again itself
                facts.values[name] = Fact(("\n\n" if batched else "\n").join(
                    "\n".join(only(u, UNIT_PROPS)) for u in us), 0)
    return split


KUBE_VERSIONS = "kube.versions"        # the fact whose dpkg-query up's package probes share


def join_package_reads(commands: dict[str, str], shared: set, side: set
                       ) -> Callable[[Facts, dict[str, float]], None]:
    """Answer the extra commands' package probes (:func:`~provisioner.probebatch.package_probe_names`: a PackagesStep's
    ``dpkg-query`` or the batch of them) from the ONE ``dpkg-query`` of the kube.versions fact, which then asks
    for their packages too (:func:`~provisioner.checks.runtime.kube_versions_command`) - not a second process.
    Changes ``commands`` (and the sets of names) in place; returns ``split``, which cuts dpkg-query's own lines
    off the fact's answer and gives each probe what its own command prints: the lines of its packages, in
    dpkg-query's order, and its exit code (a batch: always 0; one probe: 1 when a package has no line, as
    dpkg-query says "no packages found matching" then). A dpkg-query that failed otherwise (exit > 1) answers no
    probe: ``up`` reads them itself. Where there is no kube.versions fact (load balancers), nothing is shared.

    >>> from provisioner.steps import PackagesStep
    >>> from provisioner.checks.runtime import kube_versions_command
    >>> cmds = {KUBE_VERSIONS: kube_versions_command(), "extra.0": PackagesStep({"chrony": None}).probe()}
    >>> split = join_package_reads(cmds, {KUBE_VERSIONS}, {"extra.0"})
    >>> sorted(cmds), cmds[KUBE_VERSIONS].count("dpkg-query")
    (['kube.versions'], 1)
    """
    probes = {n: found for n, c in commands.items() if n in side and (found := package_probe_names(c))}
    if KUBE_VERSIONS not in shared or commands.get(KUBE_VERSIONS) != kube_versions_command() or not probes:
        return lambda facts, durations: None
    commands[KUBE_VERSIONS] = kube_versions_command([p for names, _ in probes.values() for p in names])
    for name in probes:
        del commands[name]
        side.discard(name)

    def split(facts: Facts, durations: dict[str, float]) -> None:
        fact = facts.values.get(KUBE_VERSIONS)
        if fact is None:
            return
        lines = fact.output.split("\n")
        mark = next((i for i, line in enumerate(lines) if line.startswith("@@PKGS ")), None)
        if mark is None:                  # the answer does not add up: the fact says nothing true, no probe answered
            facts.values[KUBE_VERSIONS] = Fact("", 1)
            return
        facts.values[KUBE_VERSIONS] = Fact("\n".join(lines[mark + 1:]), fact.rc)
        rc = lines[mark].split()[1:2]
        if rc not in (["0"], ["1"]):
            return
        raw = [line for line in lines[:mark] if line.strip()]
        for name, (names, batched) in probes.items():
            mine = [line for line in raw if line.split()[0] in names]
            found = {line.split()[0] for line in mine}
            facts.values[name] = Fact("\n".join(mine), 0 if batched or found >= set(names) else 1)
            durations[name] = durations.get(KUBE_VERSIONS, 0.0)
    return split


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


def clock_offset(output: str, sent: float, received: float) -> float | None:
    """Remote clock minus local clock from the script's ``@@CLOCK`` stamps (its first and last line) and
    the local times the command was sent and its answer read.

    The script ran, on the remote clock, from the first stamp to the last; locally it ran somewhere
    between ``sent`` and ``received``. Matching the middles leaves an error of half the difference between
    the time before the first stamp (channel, sudo, bash start) and after the last (exit, the answer's
    way back): a few ms, far below the skew that matters (0.5 s)::

    >>> clock_offset("@@CLOCK 1000.100\\n@@FACT a 1\\n@@CLOCK 1000.300\\n", 990.0, 990.4)
    10.0
    >>> clock_offset("no stamps", 990.0, 990.4) is None
    True
    """
    stamps = [_stamp(line.split()[1]) for line in output.splitlines()
              if line.startswith("@@CLOCK ") and len(line.split()) == 2]
    stamps = [s for s in stamps if s > 0]
    if not stamps:
        return None
    return round((stamps[0] + stamps[-1]) / 2 - (sent + received) / 2, 6)


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
        # up keeps the connection to run its steps through Fabric; preflight alone reads over a bare session
        conn = ssh.open(target, timeout) if keep is not None else ssh.session(target, timeout)
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
        node = Node(host, inv, facts, clock_offset=offset)
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
    ssh = Ssh.of(keys).bind(inv)      # one resolution and one jump pool for every host of the run
    if ssh is not keys and keep_connections is None:
        try:
            return run_preflight(inv, ssh, hosts, parallel, timeout, inventory_path, on_host_done, strict,
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
            if on_host_done:
                on_host_done(report)
    nodes.sort(key=lambda n: [h.hostname for h in selected].index(n.name))
    for check, concerned in cluster_checks.CLUSTER_CHECKS:
        for node, verdict in zip(concerned(nodes), check(nodes)):
            reports[node.name].results.append(verdict)
    ordered = [reports[h.hostname] for h in selected]
    return Report(inv.cluster_name, inventory_path, ordered, started, time.perf_counter() - t0)
