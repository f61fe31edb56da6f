"""The CLI as a user runs it: exit codes, one line per problem, no traceback, no secret in any output."""

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


def test_validate_default_is_the_embedded_lab_example():
    result = run_cli("validate")
    assert result.returncode == 0 and "cluster lab" in result.stdout


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
    result = run_cli("render", "-o", str(out), "--state-dir", str(tmp_path / "s"))
    assert result.returncode == 2 and "is not a provisioner render" in result.stderr
    assert (out / "notes.txt").read_text() == "keep me"


def test_no_secret_in_any_output_or_log(tmp_path):
    """Run every command; the generated secrets appear only in 0600 files, never in output."""
    state = tmp_path / "state"
    outputs = []
    for args in (["validate", "-i", "inventories/seed-ha.yaml"],
                 ["render", "-i", "inventories/seed-ha.yaml", "-o", str(tmp_path / "o"), "--state-dir", str(state)],
                 ["render", "-i", "inventories/seed-ha.yaml", "-o", str(tmp_path / "o"), "--state-dir", str(state),
                  "--host", "nope"],
                 ["inventory", "schema"], ["--help"], ["render", "--help"]):
        result = run_cli(*args)
        outputs.append(result.stdout + result.stderr)
    secrets = yaml.safe_load((state / "secrets.yaml").read_text())
    values = [v for k, v in secrets.items() if k != "ca_cert_pem"]
    values.append(secrets["bootstrap_token"].split(".")[1])
    assert len(values) >= 5
    for text in outputs:
        for value in values:
            assert value not in text
    # Files holding a secret are private, and only they hold one.
    for path in (tmp_path / "o").rglob("*"):
        if path.is_file() and path.name != "manifest.json":
            body = path.read_text()
            if any(v in body for v in values):
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    manifest = (tmp_path / "o/manifest.json").read_text()
    assert not any(v in manifest for v in values)


def test_secrets_never_reach_argv_of_a_checker_or_the_environment():
    """Secrets live in files only: the CLI takes no secret option."""
    for command in ("validate", "render"):
        help_text = run_cli(command, "--help").stdout.lower()
        assert "password" not in help_text and "token" not in help_text


def test_schema_is_committed_and_current():
    result = run_cli("inventory", "schema")
    assert result.returncode == 0
    committed = (REPO / "inventories/inventory.schema.json").read_text()
    assert result.stdout == committed, "run: provisioner inventory schema -o inventories/inventory.schema.json"


def test_schema_accepts_examples_and_rejects_unknown_keys():
    schema = json.loads((REPO / "inventories/inventory.schema.json").read_text())
    for name in ("seed-ha", "colocated", "single", "lab", "vagrant"):
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
