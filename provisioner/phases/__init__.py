"""The phases of ``up``, in the runbook's order, as data: name, hosts, serial or parallel, steps.

>>> [p.name for p in PHASES]
['prep', 'lb', 'runtime', 'kube-packages', 'init', 'cni', 'join-control-planes', 'join-workers', 'verify']

Each phase lives in its own small module and only *describes* work: a
function from (context, host) to a list of :mod:`provisioner.steps`. The
engine (:mod:`provisioner.engine`) runs them.
"""

from __future__ import annotations

from provisioner.phases import cni, init, join, kube_packages, lb, prep, runtime, verify
from provisioner.phases.base import Phase, UpContext

PHASES: list[Phase] = [
    prep.PHASE, lb.PHASE, runtime.PHASE, kube_packages.PHASE, init.PHASE, cni.PHASE,
    join.CONTROL_PLANES, join.WORKERS, verify.PHASE,
]
PHASE_NAMES = [p.name for p in PHASES]


def phase(name: str) -> Phase:
    return PHASES[PHASE_NAMES.index(name)]


__all__ = ["PHASES", "PHASE_NAMES", "Phase", "UpContext", "phase"]
