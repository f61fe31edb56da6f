"""Preflight's verdicts as policy, in one place: when a failed check is only a warning
(:func:`settle`), and which findings stop ``up`` (:func:`judge`).

A failure that a phase of this run repairs never stops ``up``: it is said (``will_fix``) and the run
goes on. Anything else stops it before a host is changed; an unreachable host makes it exit 3, like
``provisioner preflight``.
"""

from __future__ import annotations

from provisioner.checks.base import FAIL, WARN, Node, Result
from provisioner.uptypes import Failure


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


def judge(pre, running: set[str]) -> tuple[dict, Failure | None]:
    """What ``up`` makes of preflight's report ``pre`` (a :class:`provisioner.preflight.Report`) when the phases ``running`` follow: the summary kept in the
    result (exit code, failed, will_fix, blocking checks per host) and the failure that stops the run, if any."""
    failed = {h.host: [r.check for r in h.results if not r.ok] for h in pre.hosts if h.status != "pass"}
    will_fix = {h.host: [f"{r.check} ({r.fixed_by})" for r in h.results if not r.ok and r.fixed_by in running]
                for h in pre.hosts if h.reachable}
    will_fix = {h: checks for h, checks in will_fix.items() if checks}
    blocking = {h.host: [r.check for r in h.results if not r.ok and r.fixed_by not in running]
                for h in pre.hosts if h.status != "pass"}
    blocking = {h: checks for h, checks in blocking.items() if checks}
    summary = {"exit_code": pre.exit_code, "failed": failed, "will_fix": will_fix, "blocking": blocking}
    if not blocking:
        return summary, None
    reasons = "; ".join(f"{h}: {', '.join(c) or 'unreachable'}" for h, c in blocking.items())
    lost = [h for h in pre.hosts if not h.reachable]
    if lost:     # exit 3, like `provisioner preflight`: name each host and why
        return summary, Failure(", ".join(h.host for h in lost), "preflight", "", None, "",
                                "unreachable: " + "; ".join(f"{h.host}: {h.reason}" for h in lost),
                                hint="check that the host is up and reachable over SSH, then re-run",
                                kind="unreachable")
    # the first blocking finding's own fix, so that the common case needs no second command
    host, first = next((h.host, r) for h in pre.hosts for r in h.results
                       if not r.ok and r.fixed_by not in running and h.host in blocking)
    return summary, Failure("-", "preflight", "", pre.exit_code, "",
                            f"preflight failed ({reasons}) - {host} {first.check}: {first.fix}; run `provisioner "
                            "preflight` for details, fix, and re-run (or --skip-preflight)")
