"""Reads that preflight's facts and ``up``'s step probes share in one process: the units' properties
(one ``systemctl show``, :func:`join_unit_reads`) and the packages' status (one ``dpkg-query``,
:func:`join_package_reads`). Each joins the commands before the script is built and returns the
``split`` that gives every command back what it would have printed on its own, with the new plan.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable

from provisioner.checks.base import unit_file_exists, unit_property_of
from provisioner.factdata import Fact, Facts, ReadPlan
from provisioner.checks.runtime import kube_versions_command
from provisioner.facts import UNIT_PROPS
from provisioner.probebatch import package_probe_names, unit_probe_units


SHARED_UNITS = "shared.units"      # fact name of the one systemctl show that facts and extra commands share


Split = Callable[[Facts, dict[str, float]], None]


def _unchanged(facts: Facts, durations: dict[str, float]) -> None:
    """The split of a join that found nothing to share: each command read for itself."""


def join_unit_reads(plan: ReadPlan) -> tuple[ReadPlan, Split]:
    """Answer the facts' unit properties (:func:`~provisioner.checks.base.unit_property`) and the extra
    commands' service probes (:func:`~provisioner.probebatch.unit_probe_units`) with ONE ``systemctl show`` for
    the union of their units and properties, not one each: on a node that is 100-200 ms of CPU (systemctl
    connects to the manager each time). Returns the plan with the joined read in their place, and
    ``split``, which cuts the joined answer back into what each command prints on its own: its units, its
    properties, in systemd's order; a fact's property only where its unit file is installed.

    >>> from provisioner.checks.base import unit_property
    >>> from provisioner.steps import ServiceStep
    >>> cmds = {"runtime.cri": unit_property("cri-docker.service", "ExecStart"), "extra.0": "true",
    ...         "extra.1": ServiceStep("chrony").probe()}
    >>> plan, split = join_unit_reads(ReadPlan.of(cmds, {"runtime.cri"}, {"extra.0", "extra.1"}))
    >>> sorted(plan.commands)
    ['extra.0', 'shared.units']
    """
    props = {n: p for n, c in plan.commands.items() if n in plan.shared and (p := unit_property_of(c))}
    probes = {n: u for n, c in plan.commands.items() if n in plan.side and (u := unit_probe_units(c))}
    if not props or not probes:
        return plan, _unchanged
    units = list(dict.fromkeys([u for us, _ in probes.values() for u in us] + [u for u, _ in props.values()]))
    wanted = list(dict.fromkeys([*UNIT_PROPS, *(p for _, p in props.values())]))
    present = {u: unit_file_exists(u) for u in dict.fromkeys(u for u, _ in props.values())}
    # One block per unit, in the order given, a blank line before each but the first (systemd
    # src/systemctl/systemctl-show.c show_one); a property asked for by -p is printed even when empty
    # (src/systemctl/systemctl.c parse_argv: "show it, even if it is empty"), so no block is empty.
    # Which units' files exist is asked with builtins, after.
    one_read = ("systemctl show " + " ".join(f"-p {p}" for p in wanted) + " -- "
                + " ".join(shlex.quote(u) for u in units) + " 2>/dev/null; echo @@PRESENT; "
                + "; ".join(f"{test} && echo {shlex.quote(u)}" for u, test in present.items()) + "; true")

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
    return plan.replacing([*props, *probes], {SHARED_UNITS: one_read}), split


KUBE_VERSIONS = "kube.versions"        # the fact whose dpkg-query up's package probes share


def join_package_reads(plan: ReadPlan) -> tuple[ReadPlan, Split]:
    """Answer the extra commands' package probes (:func:`~provisioner.probebatch.package_probe_names`: a PackagesStep's
    ``dpkg-query`` or the batch of them) from the ONE ``dpkg-query`` of the kube.versions fact, which then asks
    for their packages too (:func:`~provisioner.checks.runtime.kube_versions_command`) - not a second process.
    Returns the plan with that fact's command asking for them, and ``split``, which cuts dpkg-query's own lines
    off the fact's answer and gives each probe what its own command prints: the lines of its packages, in
    dpkg-query's order, and its exit code (a batch: always 0; one probe: 1 when a package has no line, as
    dpkg-query says "no packages found matching" then). A dpkg-query that failed otherwise (exit > 1) answers no
    probe: ``up`` reads them itself. Where there is no kube.versions fact (load balancers), nothing is shared.

    >>> from provisioner.steps import PackagesStep
    >>> from provisioner.checks.runtime import kube_versions_command
    >>> cmds = {KUBE_VERSIONS: kube_versions_command(), "extra.0": PackagesStep({"chrony": None}).probe()}
    >>> plan, split = join_package_reads(ReadPlan.of(cmds, {KUBE_VERSIONS}, {"extra.0"}))
    >>> sorted(plan.commands), plan.commands[KUBE_VERSIONS].count("dpkg-query")
    (['kube.versions'], 1)
    """
    probes = {n: found for n, c in plan.commands.items() if n in plan.side and (found := package_probe_names(c))}
    if (KUBE_VERSIONS not in plan.shared or plan.commands.get(KUBE_VERSIONS) != kube_versions_command()
            or not probes):
        return plan, _unchanged
    asking = kube_versions_command([p for names, _ in probes.values() for p in names])

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
    return plan.replacing([KUBE_VERSIONS, *probes], {KUBE_VERSIONS: asking}), split
