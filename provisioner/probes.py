"""What ``up`` reads before it changes anything: the steps of every (phase, host), built once
(:class:`StepBook`), and their probes read in one round trip per host (:func:`read_commands`).

>>> book = StepBook(ctx)                                   # doctest: +SKIP
>>> wanted = book.probes(phases, limit=None)              # doctest: +SKIP
>>> facts = read_commands(remote, wanted["node1"])        # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses

from provisioner.factdata import Fact
from provisioner.inventory import Inventory
from provisioner.phases.base import OsInfo, Phase, UpContext
from provisioner.preflight import gather_script, parse_facts, wrap_privileged
from provisioner.remote import Remote
from provisioner.probebatch import batch_probes
from provisioner.steps import Step


def selected_hosts(inv: Inventory, phase: Phase, limit: list[str] | None) -> list:
    """The hosts ``phase`` works on, narrowed to ``--limit`` when given."""
    return [h for h in phase.hosts(inv) if not limit or h.hostname in limit]


class StepBook:
    """The steps of every (phase, host) of one run, each built once for the OS the host runs.

    Before the session has read the hosts, :meth:`guess` builds them for the OS each host ran last time
    (its probes ride in preflight's round trip); :meth:`steps` builds them again only for a host whose OS
    turned out to be another one. A phase that needs the OS (``Phase.needs_os``) is not guessed for a
    host never seen before.
    """

    def __init__(self, ctx: UpContext):
        self.ctx = ctx
        self._built: dict[tuple[str, str], tuple[OsInfo | None, list[Step]]] = {}

    def guess(self, os: dict[str, OsInfo], phases: list[Phase], limit: list[str] | None) -> dict[str, list[str]]:
        """Build the steps for the OS ``os`` says each host runs; return their probes per host."""
        guessed = dataclasses.replace(self.ctx, os=os)
        for phase in phases:
            for host in selected_hosts(self.ctx.inv, phase, limit):
                if not phase.needs_os or host.hostname in os:
                    self._built[phase.name, host.hostname] = (os.get(host.hostname), phase.steps(guessed, host))
        return self._probes(phases, limit, build=False)

    def steps(self, phase: Phase, host) -> list[Step]:
        """``phase``'s steps for ``host`` and the OS the session read there."""
        os = getattr(self.ctx, "os", {}).get(host.hostname)
        built = self._built.get((phase.name, host.hostname))
        if built is None or built[0] != os:
            built = self._built[phase.name, host.hostname] = (os, phase.steps(self.ctx, host))
        return built[1]

    def probes(self, phases: list[Phase], limit: list[str] | None) -> dict[str, list[str]]:
        """Every distinct probe of every step of every phase, per host: what ``up`` reads before it changes
        anything."""
        return self._probes(phases, limit, build=True)

    def _probes(self, phases: list[Phase], limit: list[str] | None, build: bool) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for phase in phases:
            for host in selected_hosts(self.ctx.inv, phase, limit):
                if build:
                    built = self.steps(phase, host)
                elif (phase.name, host.hostname) in self._built:
                    built = self._built[phase.name, host.hostname][1]
                else:
                    continue            # not guessed: the OS it needs is not known yet
                commands = out.setdefault(host.hostname, [])
                commands.extend(c for c in (step.probe() for step in built) if c and c not in commands)
                for where, command in filter(None, (step.elsewhere() for step in built)):
                    there = out.setdefault(where, [])     # read up front on that host, with its own probes
                    if command not in there:
                        there.append(command)
        return out


def read_elsewhere(steps: list[Step], remotes: dict[str, Remote], known: dict[str, dict[str, Fact]]
                   ) -> dict[tuple[str, str], Fact]:
    """Each distinct read the ``steps`` need on another host (:meth:`Step.elsewhere`), made once: from ``known``
    (host -> command -> fact, read before this run changed anything) where it is there, else in one round trip
    per host now. A host without a session, or a round trip that fails, answers nothing (no entry): the steps
    then decide without it."""
    wanted: dict[str, list[str]] = {}
    for where, command in dict.fromkeys(filter(None, (step.elsewhere() for step in steps))):
        wanted.setdefault(where, []).append(command)
    out: dict[tuple[str, str], Fact] = {}
    for where, commands in wanted.items():
        got = {c: f for c, f in known.get(where, {}).items() if c in commands}
        missing = [c for c in commands if c not in got]
        if missing and where in remotes:
            try:
                got.update(read_commands(remotes[where], missing))
            except Exception:  # noqa: BLE001 - a read that could not be made is "no answer", decided by the step
                pass
        out.update({(where, c): f for c, f in got.items()})
    return out


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
