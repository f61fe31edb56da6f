"""Lab tests skip without root/kernel features, but fail under CI=true.
(Plain unit tests: they need neither root nor a booted lab.)"""

from __future__ import annotations

import pytest

from tests.lab import fixtures, requirements
from tests.support import skips


def test_not_root_is_a_clear_reason(monkeypatch):
    monkeypatch.setattr(requirements.os, "geteuid", lambda: 1000)
    reasons = requirements.missing_requirements()
    assert reasons and "root" in reasons[0]


def test_would_be_skip_skips_outside_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="lab: no netns here"):
        fixtures.skip_or_fail("no netns here")


def test_would_be_skip_fails_under_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no netns here"):
        fixtures.skip_or_fail("no netns here")


def test_missing_tool_is_named(monkeypatch):
    monkeypatch.setattr(requirements.shutil, "which",
                        lambda tool: None if tool == "systemd-nspawn" else "/bin/true")
    reasons = requirements.missing_requirements()
    assert any("systemd-container" in r for r in reasons), reasons


def test_every_conditional_skip_follows_the_one_rule(monkeypatch):
    """A missing tool skips a unit test on a developer's machine and fails it under CI=true (tests.support.skips)."""
    monkeypatch.setattr(skips.shutil, "which", lambda tool: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="curl not installed"):
        skips.need_tool("curl", "apt-get install curl")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="cannot run under CI: curl not installed"):
        skips.need_tool("curl", "apt-get install curl")


def test_no_test_skips_outside_the_rule():
    """No bare pytest.skip / skipif / importorskip in the tests: each goes through tests.support.skips."""
    import re
    from pathlib import Path

    root = Path(__file__).parent
    bare = re.compile(r"pytest\.(skip\(|mark\.skipif|importorskip)")
    offenders = [f"{p.relative_to(root)}:{n}" for p in root.rglob("*.py") if "standins" not in p.parts
                 and p.name != "skips.py" and p != Path(__file__)
                 for n, line in enumerate(p.read_text().splitlines(), 1) if bare.search(line)]
    assert offenders == []


def test_an_opt_in_test_skips_even_under_ci_and_names_its_variable(monkeypatch):
    """The exception (tests.support.skips.opt_in): left out of CI on purpose, so it skips there too."""
    monkeypatch.setenv("CI", "true")
    monkeypatch.delenv("LAB_SLOW", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"opt-in: LAB_SLOW=1 runs it \(too slow\)"):
        skips.opt_in("LAB_SLOW", "too slow")
    monkeypatch.setenv("LAB_SLOW", "1")
    skips.opt_in("LAB_SLOW", "too slow")
