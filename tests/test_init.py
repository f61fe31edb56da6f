"""`provisioner init` from an empty directory (issue 21): a starter that validates as written, its schema
beside it, then validate and render with no -i at all; bad input one line, exit 2, nothing written."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from tests.support.cli import run_cli

NO_ENV = {"PROVISIONER_INVENTORY": ""}


@pytest.mark.parametrize("args, mode, roles", [
    (["--control-planes", "10.0.0.11"], "none", {"cp1": ["control-plane", "worker"]}),
    (["--control-planes", "10.0.0.11,10.0.0.12,10.0.0.13", "--workers", "10.0.0.21", "--vip", "10.0.0.10"],
     "colocated", {"cp1": ["control-plane"], "worker1": ["worker"]}),
    (["--control-planes", "m1=10.0.1.11", "--control-planes", "m2=10.0.1.12,m3=10.0.1.13", "--workers", "10.0.2.21",
      "--load-balancers", "10.0.1.5,10.0.1.6", "--vip", "10.0.1.10", "--cluster-name", "prod"],
     "pair", {"m1": ["control-plane"], "lb2": ["lb"], "worker1": ["worker"]}),
])
def test_init_then_validate_and_render_from_an_empty_directory(tmp_path, args, mode, roles):
    env = {**NO_ENV, "PROVISIONER_STATE_DIR": str(tmp_path / "state")}
    result = run_cli("init", *args, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "inventory.yaml").read_text()
    data = yaml.safe_load(text)
    assert data["load_balancer"]["mode"] == mode and text.startswith("# yaml-language-server: $schema=")
    hosts = {h["hostname"]: h["roles"] for h in data["hosts"]}
    assert all(hosts[name] == r for name, r in roles.items()), hosts
    jsonschema.validate(data, json.loads((tmp_path / "inventory.schema.json").read_text()))
    validate = run_cli("validate", "--strict", cwd=tmp_path, env=env)
    assert validate.returncode == 0 and validate.stdout.startswith("inventory.yaml: valid"), validate.stderr
    render = run_cli("render", cwd=tmp_path, env=env)
    assert render.returncode == 0 and (tmp_path / "out/manifest.json").exists(), render.stderr


@pytest.mark.parametrize("args, words", [
    (["--control-planes", "10.0.0.300"], "--control-planes: '10.0.0.300' is not an IPv4 address"),
    (["--control-planes", "10.0.0.11,10.0.0.12,10.0.0.13"], "--vip: mode colocated needs a virtual IP"),
    (["--control-planes", "10.0.0.11", "--mode", "ring"], "--mode: 'ring' is not one of pair, colocated, none"),
    (["--control-planes", "10.0.0.11,10.0.0.12", "--mode", "none"], "mode none allows exactly one control plane"),
    ([], "--control-planes: give at least one address"),
])
def test_bad_init_input_is_one_line_and_writes_nothing(tmp_path, args, words):
    result = run_cli("init", *args, cwd=tmp_path, env=NO_ENV)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and words in lines[0], result.stderr
    assert list(tmp_path.iterdir()) == []


def test_init_never_replaces_an_inventory_without_force(tmp_path):
    (tmp_path / "inventory.yaml").write_text("mine\n")
    result = run_cli("init", "--control-planes", "10.0.0.11", cwd=tmp_path, env=NO_ENV)
    assert result.returncode == 2 and "exists - pass --force" in result.stderr
    assert (tmp_path / "inventory.yaml").read_text() == "mine\n"
    assert run_cli("init", "--control-planes", "10.0.0.11", "--force", cwd=tmp_path, env=NO_ENV).returncode == 0


def _answer(master: int, prompts: list[tuple[str, str]], proc, timeout: float = 60) -> str:
    """Read the pty until each prompt shows, then type its answer; everything read."""
    import os
    import select
    import time

    seen, deadline = "", time.monotonic() + timeout
    for prompt, answer in prompts:
        while prompt not in seen:
            assert time.monotonic() < deadline and proc.poll() is None, f"no prompt {prompt!r}: {seen!r}"
            if select.select([master], [], [], 0.5)[0]:
                seen += os.read(master, 4096).decode()
        seen = seen.split(prompt, 1)[1]
        os.write(master, (answer + "\n").encode())
    return seen


def test_init_asks_on_a_terminal(tmp_path):
    """No --control-planes on a TTY: init asks for the addresses, then the VIP, and writes a valid starter."""
    import os
    import pty
    import subprocess
    import sys

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "provisioner", "init", "-o", str(tmp_path / "inventory.yaml")],
                            stdin=slave, stdout=slave, stderr=slave, cwd=tmp_path, close_fds=True,
                            env={**os.environ, **NO_ENV})
    os.close(slave)
    try:
        _answer(master, [("Control-plane addresses", "10.0.0.11,10.0.0.12,10.0.0.13"), ("Worker addresses", "10.0.0.21"),
                         ("Load-balancer addresses", ""), ("Virtual IP", "10.0.0.10")], proc)
        assert proc.wait(timeout=60) == 0
    finally:
        os.close(master)
    data = yaml.safe_load((tmp_path / "inventory.yaml").read_text())
    assert data["load_balancer"]["mode"] == "colocated" and data["control_plane_endpoint"]["address"] == "10.0.0.10"
    assert [h["address"] for h in data["hosts"]] == ["10.0.0.11", "10.0.0.12", "10.0.0.13", "10.0.0.21"]
