"""Many steps' probes of one kind folded into one command (:func:`batch_probes`: a group-by over the fact
types of :mod:`provisioner.facts`), and the unit and package reads that preflight's own facts can answer
(:func:`unit_probe_units`, :func:`package_probe_names`)."""

from __future__ import annotations

from typing import Callable

from provisioner.factdata import Fact
from provisioner.facts import Batch, FileProbe, PackagesProbe, Probe, RpmPackagesProbe, UnitProbe

KINDS: tuple[type[Probe], ...] = (FileProbe, UnitProbe, PackagesProbe, RpmPackagesProbe)     # batched, in this order


def batch_probes(commands: list[str]) -> tuple[list[str], Callable[[dict[str, Fact]], dict[str, Fact]]]:
    """Fold the probes of each batchable kind among ``commands`` (files, units, packages) into ONE command per
    kind: one ``stat`` and one ``sha256sum`` for every file, one ``systemctl show`` for every unit, one
    ``dpkg-query`` for every package. A kind with one probe keeps its own command. Returns the commands to run
    (batches first, then the others in order, then the lone probes of each kind) and ``expand``, which turns the
    answers (by command) back into each original probe's fact, in the form that probe prints itself. A batch
    whose answer does not add up gives no facts for its probes: the caller reads them one by one.

    >>> from provisioner.steps import FileStep
    >>> cmds, expand = batch_probes([FileStep("/etc/a", "x").probe(), FileStep("/etc/b", "y").probe(), "true"])
    >>> len(cmds), cmds[1]
    (2, 'true')
    """
    groups: dict[type[Probe], list[Probe]] = {kind: [] for kind in KINDS}
    rest: list[str] = []
    for command in dict.fromkeys(commands):
        kind = type(command)
        (groups[kind] if kind in groups else rest).append(command)
    batches: list[Batch] = []
    for kind, probes in groups.items():
        if len(probes) > 1:
            batches.append(kind.batch(probes, len(batches)))
        else:
            rest += probes

    def expand(answers: dict[str, Fact]) -> dict[str, Fact]:
        out = {c: f for c, f in answers.items() if c not in batches}
        for batch in batches:
            if (fact := answers.get(batch)) is not None:
                out.update(batch.split(fact))
        return out

    return [*batches, *rest], expand


def unit_probe_units(command: str) -> tuple[list[str], bool] | None:
    """The units whose :data:`~provisioner.facts.UNIT_PROPS` ``command`` reads, and whether it is a batch of
    several (its answer: the blocks, a blank line between) rather than one unit probe; None for any other
    command. Preflight answers such a read from the ``systemctl show`` its own facts run.

    >>> from provisioner.steps import ServiceStep
    >>> unit_probe_units(ServiceStep("chrony").probe())
    (['chrony'], False)
    """
    if isinstance(command, UnitProbe):
        return [command.unit], False
    if isinstance(command, Batch) and command.kind is UnitProbe:
        return [p.unit for p in command.members], True
    return None


def package_probe_names(command: str) -> tuple[list[str], bool] | None:
    """The packages whose dpkg status ``command`` reads, and whether it is a batch of several probes (exit 0
    always) rather than one probe (dpkg-query's own exit code); None for any other command. Preflight answers
    such a read from the ``dpkg-query`` its own package fact runs.

    >>> from provisioner.steps import PackagesStep
    >>> package_probe_names(PackagesStep({"kubelet": "1.37.1", "kubeadm": None}).probe())
    (['kubelet', 'kubeadm'], False)
    """
    if isinstance(command, PackagesProbe):
        return list(command.names), False
    if isinstance(command, Batch) and command.kind is PackagesProbe:
        return list(dict.fromkeys(n for p in command.members for n in p.names)), True
    return None


__all__ = ["batch_probes", "package_probe_names", "unit_probe_units"]
