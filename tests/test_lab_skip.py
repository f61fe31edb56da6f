"""Lab tests skip without root/kernel features, but fail under CI=true.
(Plain unit tests: they need neither root nor a booted lab.)"""

from __future__ import annotations

import pytest

from tests.lab import fixtures, requirements


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
