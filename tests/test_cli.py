"""The CLI as a user runs it: exit codes, one line per problem, no traceback, private secret files."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import jsonschema
import yaml

from tests.support.cli import REPO, run_cli


def test_validate_good_example():
    result = run_cli("validate", "-i", "inventories/seed-ha.yaml")
    assert result.returncode == 0, result.stderr
    assert "valid - cluster seed: 8 hosts (3 control planes, 3 workers, 2 load balancers" in result.stdout


def test_no_inventory_given_is_one_line_naming_every_way(tmp_path):
    """Without -i, $PROVISIONER_INVENTORY or ./inventory.yaml no command falls back to an example
    (the lab's addresses): validate, render, up and reset --yes stop before reading anything."""
    env = {"PROVISIONER_INVENTORY": "", "PROVISIONER_STATE_DIR": str(tmp_path / "state")}
    for args in (["validate"], ["render", "-o", str(tmp_path / "out")], ["up", "--plan"], ["reset", "--yes"]):
        result = run_cli(*args, cwd=tmp_path, env=env)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert result.stderr.strip().splitlines() == [
            "no inventory: pass -i FILE, set PROVISIONER_INVENTORY, or create ./inventory.yaml here "
            "(`provisioner init` writes one)"], args
    assert not (tmp_path / "state").exists()


def test_inventory_from_the_environment_then_the_current_directory(tmp_path):
    env = {"PROVISIONER_INVENTORY": str(REPO / "inventories/seed-ha.yaml")}
    result = run_cli("validate", cwd=tmp_path, env=env)
    assert result.returncode == 0 and "cluster seed" in result.stdout, result.stderr
    (tmp_path / "inventory.yaml").write_text((REPO / "inventories/seed-ha.yaml").read_text())
    result = run_cli("validate", cwd=tmp_path, env={"PROVISIONER_INVENTORY": ""})
    assert result.returncode == 0 and result.stdout.startswith("inventory.yaml: valid - cluster seed"), result.stderr
    result = run_cli("validate", cwd=tmp_path, env={"PROVISIONER_INVENTORY": "nope.yaml"})
    assert result.returncode == 2 and result.stderr == (
        "PROVISIONER_INVENTORY=nope.yaml: file not found - fix the variable, or pass -i FILE\n")


def test_validate_bad_inventory_exits_2_with_one_line_per_problem(tmp_path):
    data = yaml.safe_load((REPO / "inventories/seed-ha.yaml").read_text())
    data["hosts"][3]["address"] = "10.0.0.101"
    data["hosts"][0]["adress"] = "x"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data, sort_keys=False))
    result = run_cli("validate", "-i", str(bad))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == [line for line in lines if line.startswith(f"{bad}:")]
    assert any("hosts[0].adress: unknown key 'adress' - did you mean 'address'?" in line for line in lines)

    # After fixing the shape error the cluster rule shows up, again as one line.
    del data["hosts"][0]["adress"]
    bad.write_text(yaml.safe_dump(data, sort_keys=False))
    result = run_cli("validate", "-i", str(bad))
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.endswith("hosts[3].address: 10.0.0.101 is also master1's address - give each host its own")


def test_yaml_syntax_error_exits_2(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("hosts: [\n")
    result = run_cli("validate", "-i", str(bad))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"{bad}:") and "YAML syntax error" in result.stderr


def test_missing_inventory_exits_2():
    result = run_cli("validate", "-i", "no/such.yaml")
    assert result.returncode == 2 and "file not found" in result.stderr and "Traceback" not in result.stderr


def test_warnings_pass_unless_strict(tmp_path):
    data = yaml.safe_load((REPO / "inventories/seed-ha.yaml").read_text())
    data["hosts"][7]["roles"] = ["worker"]
    inv = tmp_path / "one-lb.yaml"
    inv.write_text(yaml.safe_dump(data, sort_keys=False))
    relaxed = run_cli("validate", "-i", str(inv))
    assert relaxed.returncode == 0 and "warning: a single lb host gives no failover" in relaxed.stderr
    assert run_cli("validate", "-i", str(inv), "--strict").returncode == 2


def test_render_writes_trees_manifest_and_private_secrets(tmp_path):
    out, state = tmp_path / "out", tmp_path / "state"
    result = run_cli("render", "-i", "inventories/seed-ha.yaml", "-o", str(out), "--state-dir", str(state))
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["version"] == 1 and manifest["cluster"] == "seed"
    by_target = {(e["host"], e["path"]): e for e in manifest["files"]}
    entry = by_target[("ha1", "/etc/haproxy/haproxy.cfg")]
    assert (entry["owner"], entry["group"], entry["mode"], entry["secret"]) == ("root", "root", "0600", True)
    assert by_target[("ha1", "/etc/keepalived/check_haproxy.sh")]["mode"] == "0755"
    assert by_target[("master1", "/etc/hosts")]["merge"] == "block"
    for e in manifest["files"]:
        path = out / e["source"]
        assert path.is_file(), e
        assert f"{stat.S_IMODE(path.stat().st_mode):04o}" == e["mode"]
    assert stat.S_IMODE((state / "secrets.yaml").stat().st_mode) == 0o600
    assert {e["host"] for e in manifest["files"]} == {"master1", "master2", "master3", "node1", "node2", "node3", "ha1", "ha2"}


def test_render_one_host_and_unknown_host(tmp_path):
    out = tmp_path / "out"
    ok = run_cli("render", "-i", "inventories/seed-ha.yaml", "-o", str(out), "--host", "ha2",
                 "--state-dir", str(tmp_path / "s"))
    assert ok.returncode == 0
    assert sorted(p.name for p in out.iterdir()) == ["ha2", "manifest.json"]
    bad = run_cli("render", "-i", "inventories/seed-ha.yaml", "-o", str(out), "--host", "ha9",
                  "--state-dir", str(tmp_path / "s"))
    assert bad.returncode == 2 and "unknown host ha9" in bad.stderr and "Traceback" not in bad.stderr


def test_render_refuses_a_directory_it_did_not_make(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    result = run_cli("render", "-i", "inventories/seed-ha.yaml", "-o", str(out), "--state-dir", str(tmp_path / "s"))
    assert result.returncode == 2 and "is not a provisioner render" in result.stderr
    assert (out / "notes.txt").read_text() == "keep me"


def test_rendered_files_holding_a_secret_are_private(tmp_path):
    """Only 0600 files hold a generated secret; the manifest names them without their content.
    (No secret in any output, log, report or argv: tests/test_up_lab.py runs every command on the lab.)"""
    state = tmp_path / "state"
    result = run_cli("render", "-i", "inventories/seed-ha.yaml", "-o", str(tmp_path / "o"), "--state-dir", str(state))
    assert result.returncode == 0, result.stderr
    secrets = yaml.safe_load((state / "secrets.yaml").read_text())
    values = [v for k, v in secrets.items() if k != "ca_cert_pem"]
    values.append(secrets["bootstrap_token"].split(".")[1])
    holders = 0
    for path in (tmp_path / "o").rglob("*"):
        if path.is_file() and path.name != "manifest.json":
            body = path.read_text()
            if any(v in body for v in values):
                holders += 1
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert holders >= 3           # keepalived.conf, haproxy.cfg, the kubeadm init config, ...
    manifest = (tmp_path / "o/manifest.json").read_text()
    assert not any(v in manifest for v in values)


def test_schema_is_committed_and_current():
    result = run_cli("inventory", "schema")
    assert result.returncode == 0
    committed = (REPO / "inventories/inventory.schema.json").read_text()
    assert result.stdout == committed, "run: provisioner inventory schema -o inventories/inventory.schema.json"


def test_schema_accepts_examples_and_rejects_unknown_keys():
    schema = json.loads((REPO / "inventories/inventory.schema.json").read_text())
    for name in ("seed-ha", "colocated", "single", "lab", "vagrant", "bastion"):
        jsonschema.validate(yaml.safe_load((REPO / f"inventories/{name}.yaml").read_text()), schema)
    bad = yaml.safe_load((REPO / "inventories/seed-ha.yaml").read_text())
    bad["hosts"][0]["adress"] = "x"
    try:
        jsonschema.validate(bad, schema)
    except jsonschema.ValidationError:
        pass
    else:
        raise AssertionError("schema accepted an unknown key")


def test_every_command_has_help_with_an_example():
    for args in (["validate"], ["render"], ["inventory", "schema"]):
        result = run_cli(*args, "--help")
        assert result.returncode == 0 and "Example: provisioner" in result.stdout, args


def test_unknown_limit_host_is_one_line_exit_2(tmp_path):
    """up and reset check --limit before touching any host (nothing is reachable here)."""
    for args in (["up", "--limit", "ha1,ha9"], ["reset", "--limit", "ha9", "--yes"]):
        bad = run_cli(*args, "-i", "inventories/seed-ha.yaml", "--state-dir", str(tmp_path))
        lines = bad.stderr.strip().splitlines()
        assert bad.returncode == 2 and lines == [lines[0]], bad.stderr
        assert lines[0].startswith("--limit: unknown host ha9 - choose from master1") and "Traceback" not in bad.stderr


def _loopback_inventory(tmp_path) -> Path:
    """The lab inventory moved to loopback addresses with a closed SSH port: every host refuses."""
    text = (REPO / "inventories/lab.yaml").read_text()
    text = (text.replace("172.31.250.0/24", "127.0.0.0/8").replace("172.31.250.", "127.0.0.")
            .replace("    port: 22\n", "    port: 9\n"))
    path = tmp_path / "loopback.yaml"
    path.write_text(text)
    return path


def test_up_with_unreachable_hosts_exits_3_and_writes_the_report(tmp_path):
    """up's own preflight finds every host unreachable: exit 3 (not 1), one summary, the --json report."""
    inv = _loopback_inventory(tmp_path)
    report = tmp_path / "up.json"
    result = run_cli("up", "-i", str(inv), "--state-dir", str(tmp_path / "s"), "--timeout", "2",
                     "--json", str(report))
    assert result.returncode == 3, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "UNREACHABLE in phase preflight on master[1-3], node[1-3], ha[1-2]: " in result.stdout
    assert "ha2: connection refused on 127.0.0.108:9" in result.stdout
    data = json.loads(report.read_text())
    assert data["ok"] is False and data["exit_code"] == 3
    assert data["failure"]["kind"] == "unreachable" and "master1" in data["failure"]["host"]
    # The same with --only (no preflight): the session cannot open, still 3 and a report.
    result = run_cli("up", "-i", str(inv), "--state-dir", str(tmp_path / "s"), "--timeout", "2", "--only", "prep",
                     "--json", "-")
    assert result.returncode == 3, result.stderr
    data = json.loads(result.stdout)
    assert data["exit_code"] == 3 and data["failure"]["kind"] == "unreachable"


def test_a_second_run_on_a_busy_state_dir_exits_2_naming_the_holder(tmp_path):
    """Two processes, one state directory: the second up/reset/render/verify stops at once (exit 2),
    one line naming the PID that holds the directory; nothing of the first run is touched."""
    import subprocess
    import sys

    state = tmp_path / "state"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from pathlib import Path; from provisioner.state import StateLock\n"
         f"with StateLock(Path({str(state)!r}), 'up'):\n    print('held', flush=True); sys.stdin.read()"],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        inv = _loopback_inventory(tmp_path)
        for args in (["up", "-i", str(inv)], ["reset", "-i", str(inv), "--yes"], ["verify", "-i", str(inv)],
                     ["render", "-i", str(inv), "-o", str(tmp_path / "out")]):
            # timeout: "at once" - a run that waited for the holder would never end
            result = run_cli(*args, "--state-dir", str(state), timeout=30)
            lines = result.stderr.strip().splitlines()
            assert result.returncode == 2, (args, result.stdout, result.stderr)
            assert len(lines) == 1 and f"in use by PID {holder.pid} (provisioner up)" in lines[0], (args, lines)
            assert str(state) in lines[0] and "Traceback" not in result.stderr
        assert not (state / "secrets.yaml").exists() and not (tmp_path / "out").exists()
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)
    # Released when the holder ends: the next run goes ahead.
    ok = run_cli("render", "-i", str(_loopback_inventory(tmp_path)), "-o", str(tmp_path / "out"),
                 "--state-dir", str(state))
    assert ok.returncode == 0, ok.stderr


def test_bad_input_to_up_still_writes_the_json_report(tmp_path):
    report = tmp_path / "up.json"
    result = run_cli("up", "-i", "inventories/seed-ha.yaml", "--state-dir", str(tmp_path / "s"),
                     "--only", "nope", "--json", str(report))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    data = json.loads(report.read_text())
    assert data["exit_code"] == 2 and "--only: unknown phase 'nope'" in data["failure"]["message"]


def test_a_command_closes_its_ssh_when_it_ends(tmp_path, monkeypatch):
    """The SSH a command opens (jump hosts shared by every target) is closed when the command ends:
    _keys registers Ssh.close on the running command's context - typer's own (typer vendors click
    as typer._click since 0.2x, so click.get_current_context() finds no context there)."""
    from provisioner import cli
    from provisioner.transport import Ssh

    closed = []
    monkeypatch.setattr(Ssh, "close", lambda self: closed.append(self))
    try:
        cli.app(["preflight", "-i", str(_loopback_inventory(tmp_path)), "--state-dir", str(tmp_path / "s"),
                 "--format", "json", "--timeout", "2"], standalone_mode=False)
    except SystemExit:
        pass
    assert len(closed) == 1, "the command's Ssh was never closed"
