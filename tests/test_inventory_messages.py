"""What a newcomer's typical mistakes get (issue 21): one message each, in their own words, sorted by line,
at most 100 of any kind; YAML numbers read as meant; a cluster nothing can run on is said so."""

from __future__ import annotations

import yaml

from provisioner.validation import check_inventory
from provisioner.versions import LATEST_PATCH
from tests.support.cli import REPO, run_cli

SEED = (REPO / "inventories/seed-ha.yaml").read_text()


def _write(tmp_path, text: str, name: str = "inv.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _lines(result) -> list[str]:
    assert "Traceback" not in result.stderr
    return result.stderr.strip().splitlines()


def test_a_tab_an_empty_file_and_a_directory_get_their_own_words(tmp_path):
    tab = _write(tmp_path, SEED.replace("hosts:\n  - {hostname", "hosts:\n\t- {hostname", 1), "tab.yaml")
    (line,) = _lines(run_cli("validate", "-i", str(tab)))
    assert "YAML indents with spaces, not tabs" in line
    empty = _write(tmp_path, "\n  \n", "empty.yaml")
    (line,) = _lines(run_cli("validate", "-i", str(empty)))
    assert line == f"{empty}: (top level): the file is empty - write the inventory into it (`provisioner init` writes a starter one)"
    (line,) = _lines(run_cli("validate", "-i", str(tmp_path)))
    assert "is a directory, not an inventory file" in line and "permissions" not in line


def test_a_version_written_as_a_yaml_number(tmp_path):
    """1.37 (a float) is the newest known 1.37 patch, with a warning; 1.30 is shown as written, in one message."""
    inv, problems = check_inventory(_write(tmp_path, SEED.replace("kubernetes_version: 1.37.1", "kubernetes_version: 1.37")))
    assert inv is not None and inv.kubernetes_version == "1.37.1"
    (p,) = problems
    assert p.warning and p.line == 7 and "1.37 is a YAML number: read as 1.37.1" in p.message
    inv, problems = check_inventory(_write(tmp_path, SEED.replace("kubernetes_version: 1.37.1", "kubernetes_version: 1.30")))
    assert inv is None and len(problems) == 1, problems
    assert problems[0].message.startswith("1.30 is read by YAML as a number") and '"1.37.1"' in problems[0].message
    inv, problems = check_inventory(_write(tmp_path, SEED.replace("kubernetes_version: 1.37.1", 'kubernetes_version: "1.36"')))
    assert f"write 1.36.{LATEST_PATCH[36]} (the newest 1.36 patch" in problems[0].message


def test_problems_are_sorted_by_line_and_missing_keys_have_one(tmp_path):
    data = yaml.safe_load(SEED)
    data["hosts"][5]["nic"] = "a nic with spaces"
    data["hosts"][1]["roles"] = ["wizard"]
    del data["cluster_name"]
    text = yaml.safe_dump(data, sort_keys=False)
    _, problems = check_inventory(_write(tmp_path, text))
    lines = [p.line for p in problems]
    assert None not in lines and lines == sorted(lines), problems
    _, problems = check_inventory(_write(tmp_path, "cluster_name: x\n"))
    missing = [p for p in problems if "required" in p.message]
    assert missing and all(p.line == 1 for p in missing), missing


def test_every_kind_of_problem_is_capped_at_a_hundred(tmp_path):
    """500 hosts sharing one address: 499 cluster-rule errors print as 100 lines and a count."""
    data = yaml.safe_load(SEED)
    base = data["hosts"][0]
    data["hosts"] = [{**base, "hostname": f"n{i}", "roles": ["worker"] if i else ["control-plane"]} for i in range(500)]
    data["load_balancer"] = {"mode": "none"}
    data.pop("control_plane_endpoint", None)
    result = run_cli("validate", "-i", str(_write(tmp_path, yaml.safe_dump(data, sort_keys=False))))
    lines = _lines(result)
    assert result.returncode == 2 and len(lines) == 101, lines[-3:]
    assert lines[-1].endswith("more problems not shown - fix the ones above and validate again")


def test_a_cluster_where_nothing_can_run_workloads_is_warned(tmp_path):
    single = (REPO / "inventories/single.yaml").read_text()
    data = yaml.safe_load(single)
    data["hosts"] = [h for h in data["hosts"] if "control-plane" in h["roles"]][:1]
    data["hosts"][0]["roles"] = ["control-plane"]
    result = run_cli("validate", "-i", str(_write(tmp_path, yaml.safe_dump(data, sort_keys=False))))
    assert result.returncode == 0, result.stderr
    assert "no node can run workloads" in result.stderr and "roles: [control-plane, worker]" in result.stderr
    data["hosts"][0]["roles"] = ["control-plane", "worker"]
    result = run_cli("validate", "-i", str(_write(tmp_path, yaml.safe_dump(data, sort_keys=False))))
    assert result.returncode == 0 and "workloads" not in result.stderr
