"""Read-only probes whose answer follows from a fact preflight reads anyway, so ``up`` does not run them twice.

``up`` sends its step probes in the round trip of its own preflight. Where a probe asks what one of
preflight's facts already prints - the same program, the same host, the same moment - the probe is not
run: its answer is computed from the fact's output, exactly as the probe's own shell would have
computed it. Both sides are named here, so neither can drift from the other:

>>> from provisioner.checks.base import Fact
>>> source, answer = DERIVED[CHRONY_SYNCED]
>>> source == CHRONY_TRACKING, answer(Fact("Reference ID    : 0A000001\\nLeap status     : Normal", 0)).rc
(True, 0)
>>> answer(Fact("506 Cannot talk to daemon", 0)).rc
1
"""

from __future__ import annotations

import re
from collections.abc import Callable

from provisioner.factdata import Fact, ReadPlan
from provisioner.checks.network import CHRONY_TRACKING      # what preflight's time.sync check reads
# What verify waits for: chronyc's "Leap status : Normal" line (chrony client.c process_cmd_tracking prints
# "Leap status     : %L"; Normal once the clock is synchronised). Its exit code is grep's.
CHRONY_SYNCED = "chronyc -n tracking 2>/dev/null | grep -Eq '^Leap status[[:space:]]*: Normal'"
# grep -E's [[:space:]] within one line (grep matches line by line: no newline in a line).
_LEAP_NORMAL = re.compile(r"^Leap status[ \t\v\f\r]*: Normal", re.M)


def _leap_normal(tracking: Fact) -> Fact:
    # The probe's stdout is empty (grep -q); chronyc's stderr, merged into the fact, never starts a line
    # with "Leap status", so reading the merged text gives grep's answer.
    return Fact("", 0 if _LEAP_NORMAL.search(tracking.output) else 1)


# probe -> (the fact command that answers it, how)
DERIVED: dict[str, tuple[str, Callable[[Fact], Fact]]] = {
    CHRONY_SYNCED: (CHRONY_TRACKING, _leap_normal),
}


def derived_reads(plan: ReadPlan) -> tuple[ReadPlan, Callable[[dict[str, Fact]], None]]:
    """The plan without each ``side`` command that a ``shared`` fact answers (:data:`DERIVED`), and ``fill``,
    which puts their answers back into the parsed facts (by name) from the fact's output. A fact that did not
    come back leaves its probes without an answer: the caller reads those itself.

    >>> cmds = {"time.chrony": CHRONY_TRACKING, "extra.0": CHRONY_SYNCED, "extra.1": "true"}
    >>> plan, fill = derived_reads(ReadPlan.of(cmds, {"time.chrony"}, {"extra.0", "extra.1"}))
    >>> sorted(plan.commands)
    ['extra.1', 'time.chrony']
    >>> got = {"time.chrony": Fact("Leap status     : Normal", 0)}
    >>> fill(got); got["extra.0"].rc
    0
    """
    by_command = {plan.commands[name]: name for name in plan.shared if name in plan.commands}
    answered: dict[str, tuple[str, Callable[[Fact], Fact]]] = {}
    for name in [n for n in plan.side if n in plan.commands]:
        source, answer = DERIVED.get(plan.commands[name], (None, None))
        if source in by_command:
            answered[name] = (by_command[source], answer)

    def fill(values: dict[str, Fact]) -> None:
        for name, (fact, answer) in answered.items():
            if fact in values:
                values[name] = answer(values[fact])
    return plan.replacing(answered), fill
