"""The molecule vagrant scenario and the GitHub Actions example: checked as far as possible without a hypervisor.

Real parts: molecule (`molecule syntax`, its own JSON schema), ansible-playbook
(--syntax-check; the create playbook in --check mode up to the step that would
boot VMs; the converge playbook's change accounting, read by molecule's own
idempotence parser), vagrant validate, OpenSSH's config parser, and
check-jsonschema with its vendored copy of SchemaStore's github-workflow
schema. Booting the boxes (molecule test -s vagrant, the workflow) needs KVM
or VirtualBox and is not done here.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from provisioner.validation import load_inventory
from tests.support.cli import REPO, run_cli
from tests.support.skips import skip_or_fail

IN_CI = os.environ.get("CI") == "true"
BIN = Path(sys.executable).parent
SCENARIO = REPO / "molecule/vagrant"
SHARED = REPO / "molecule/shared"
WORKFLOW = REPO / "examples/ci/github-actions.yml"


def _need(tool: str, how: str) -> str:
    path = shutil.which(tool, path=f"{BIN}:{os.environ.get('PATH', '')}")
    if not path:
        if IN_CI:
            pytest.fail(f"{tool} is not installed - {how}")
        skip_or_fail(f"{tool} not installed ({how})")
    return path


def _env(tmp_path: Path, **extra) -> dict:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}", "HOME": str(home),
            "ANSIBLE_HOME": str(home / ".ansible"), "ANSIBLE_NOCOLOR": "1", "NO_COLOR": "1",
            "VAGRANT_HOME": str(home / ".vagrant.d"), **extra}


def _molecule_yml() -> dict:
    return yaml.safe_load((SCENARIO / "molecule.yml").read_text())


# --- the molecule scenario ------------------------------------------------------------

def test_molecule_syntax_passes_without_a_hypervisor(tmp_path):
    _need("molecule", "pip install -e '.[test]'"), _need("vagrant", ".ci/setup installs it")
    result = subprocess.run([str(BIN / "molecule"), "syntax", "-s", "vagrant"], cwd=REPO, env=_env(tmp_path),
                            capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "playbook: " + str(REPO / "molecule/shared/converge.yml") in output  # ansible-playbook --syntax-check ran
    assert re.search(r"vagrant\s*: actions=1\s+successful=1", output), output


def _project_copy(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(REPO / "molecule", project / "molecule")
    return project


@pytest.mark.parametrize("breakage, words", [
    (lambda d: d["scenario"].update(test_sequnce=["verify"]), "test_sequnce"),
    (lambda d: d["driver"].update(name="vagrnt"), "vagrnt"),
])
def test_molecule_rejects_a_broken_scenario(tmp_path, breakage, words):
    """The syntax step is not a rubber stamp: molecule's schema refuses a misspelt key or driver."""
    _need("molecule", "pip install -e '.[test]'"), _need("vagrant", ".ci/setup installs it")
    project = _project_copy(tmp_path)
    data = _molecule_yml()
    breakage(data)
    (project / "molecule/vagrant/molecule.yml").write_text(yaml.safe_dump(data))
    result = subprocess.run([str(BIN / "molecule"), "syntax", "-s", "vagrant"], cwd=project, env=_env(tmp_path),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and words in result.stdout + result.stderr


def test_molecule_rejects_a_broken_converge_playbook(tmp_path):
    _need("molecule", "pip install -e '.[test]'"), _need("vagrant", ".ci/setup installs it")
    project = _project_copy(tmp_path)
    converge = project / "molecule/shared/converge.yml"
    converge.write_text(converge.read_text().replace("  gather_facts: false", "  gather_fact: false", 1))
    result = subprocess.run([str(BIN / "molecule"), "syntax", "-s", "vagrant"], cwd=project, env=_env(tmp_path),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "gather_fact" in result.stdout + result.stderr


def test_molecule_yml_matches_molecules_own_schema():
    import molecule

    schema = json.loads((Path(molecule.__file__).parent / "data/molecule.json").read_text())
    jsonschema.validate(_molecule_yml(), schema)
    bad = _molecule_yml()
    bad["verifier"]["nmae"] = "ansible"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


PLAYBOOKS = sorted([*SCENARIO.glob("*.yml"), *SHARED.glob("*.yml")])


@pytest.mark.parametrize("playbook", [p for p in PLAYBOOKS if p.name != "molecule.yml"],
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_playbook_passes_ansible_syntax_check(tmp_path, playbook):
    _need("ansible-playbook", "pip install -e '.[test]'")
    result = subprocess.run([str(BIN / "ansible-playbook"), "--syntax-check", "-i", "localhost,", str(playbook)],
                            env=_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_configured_playbook_exists_and_the_inventory_is_the_source_of_truth():
    data = _molecule_yml()
    for step, path in data["ansible"]["playbooks"].items():
        assert (SCENARIO / path).is_file(), step
    inv = load_inventory(SCENARIO / "inventory.yaml")
    assert [p["name"] for p in data["platforms"]] == [h.hostname for h in inv.hosts]
    assert [p["box"] for p in data["platforms"]] == ["bento/ubuntu-22.04", "bento/ubuntu-24.04", "bento/rockylinux-9"]
    assert data["driver"]["name"] == "vagrant" and "libvirt" in data["driver"]["provider"]["name"]
    assert data["ansible"]["env"]["PROVISIONER_INVENTORY"] == "${MOLECULE_SCENARIO_DIRECTORY}/inventory.yaml"
    sequence = data["scenario"]["test_sequence"]
    assert sequence.index("converge") < sequence.index("idempotence") < sequence.index("verify")
    assert sequence[-1] == "destroy"


def _run_playbook(tmp_path: Path, playbook: Path, extra_vars: dict, *args: str, **env) -> subprocess.CompletedProcess:
    (tmp_path / "vars.json").write_text(json.dumps(extra_vars))
    return subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook),
                           "-e", f"@{tmp_path / 'vars.json'}", *args], env=_env(tmp_path, **env),
                          capture_output=True, text=True, timeout=300)


def _create_vars(tmp_path: Path, platforms: list[dict] | None = None) -> dict:
    data = _molecule_yml()
    data["driver"]["provider"]["name"] = "libvirt"
    if platforms is not None:
        data["platforms"] = platforms
    return {"molecule_yml": data, "molecule_no_log": False,
            "molecule_instance_config": str(tmp_path / "instance_config.yml"),
            "ansible_python_interpreter": sys.executable}


def test_create_playbook_renders_a_valid_vagrantfile_in_check_mode(tmp_path):
    """The real create playbook with --check: it reads the inventory and renders the Vagrantfile with each
    platform's box; the key and the boot steps do not run. Then vagrant validate accepts the file."""
    _need("ansible-playbook", "pip install -e '.[test]'"), _need("vagrant", ".ci/setup installs it")
    eph = tmp_path / "ephemeral"
    eph.mkdir()
    result = _run_playbook(tmp_path, SCENARIO / "create.yml", _create_vars(tmp_path), "--check",
                           PROVISIONER_INVENTORY=str(SCENARIO / "inventory.yaml"), MOLECULE_EPHEMERAL_DIRECTORY=str(eph))
    assert result.returncode == 0, result.stdout + result.stderr
    vagrantfile = (eph / "Vagrantfile").read_text()
    for name, box in (("cp1", "bento/ubuntu-22.04"), ("cp2", "bento/ubuntu-24.04"), ("cp3", "bento/rockylinux-9")):
        assert re.search(rf"name: '{name}', .*\n.*box: '{re.escape(box)}'", vagrantfile), name
    assert "address: '192.168.57.11'" in vagrantfile
    assert not (tmp_path / "home/.ssh/provisioner_molecule_ed25519").exists(), "check mode creates no key"
    assert re.search(r"TASK \[Boot the machines \(vagrant up\)\] \**\n\s*skipping: \[localhost\]", result.stdout)
    validate = subprocess.run(["vagrant", "validate"], cwd=eph, env=_env(tmp_path, VAGRANT_DEFAULT_PROVIDER="libvirt"),
                              capture_output=True, text=True, timeout=120)
    assert validate.returncode == 0, validate.stdout + validate.stderr


def test_create_playbook_refuses_platforms_that_are_not_the_inventory(tmp_path):
    _need("ansible-playbook", "pip install -e '.[test]'")
    eph = tmp_path / "ephemeral"
    eph.mkdir()
    platforms = [{"name": "cp1", "box": "bento/ubuntu-22.04"}, {"name": "cp9", "box": "bento/ubuntu-22.04"}]
    result = _run_playbook(tmp_path, SCENARIO / "create.yml", _create_vars(tmp_path, platforms), "--check",
                           PROVISIONER_INVENTORY=str(SCENARIO / "inventory.yaml"), MOLECULE_EPHEMERAL_DIRECTORY=str(eph))
    assert result.returncode != 0
    assert "molecule.yml platforms must be the inventory's hostnames: cp1, cp2, cp3" in result.stdout
    assert not (eph / "Vagrantfile").exists()


# Stands in for `provisioner up --json -` ONLY to test the converge playbook's accounting: it prints
# the report's shape ({"changed": N, ...}), some progress on stderr, and exits STANDIN_RC.
STANDIN_UP = """#!/bin/sh
echo "progress on stderr" >&2
printf '{"version": 1, "ok": %s, "changed": %s}\\n' "$STANDIN_OK" "$STANDIN_CHANGED"
exit "$STANDIN_RC"
"""


@pytest.fixture
def standin_up(tmp_path) -> Path:
    script = tmp_path / "standin-up"
    script.write_text(STANDIN_UP)
    script.chmod(0o755)
    return script


def _converge(tmp_path: Path, standin: Path, changed: int, rc: int = 0) -> subprocess.CompletedProcess:
    reports = tmp_path / "ephemeral"
    reports.mkdir(exist_ok=True)
    return _run_playbook(tmp_path, SHARED / "converge.yml", {"provisioner_command": [str(standin)],
                                                             "ansible_python_interpreter": sys.executable},
                         PROVISIONER_INVENTORY=str(SCENARIO / "inventory.yaml"), MOLECULE_EPHEMERAL_DIRECTORY=str(reports),
                         STANDIN_CHANGED=str(changed), STANDIN_RC=str(rc), STANDIN_OK="true" if rc == 0 else "false")


def test_converge_reports_a_change_exactly_when_up_changed_something(tmp_path, standin_up):
    """Molecule's idempotence step reads the play recap: a second `up` with changes must fail it."""
    _need("ansible-playbook", "pip install -e '.[test]'")
    from molecule.command.idempotence import Idempotence

    is_idempotent = Idempotence._is_idempotent
    first = _converge(tmp_path, standin_up, changed=12)
    assert first.returncode == 0, first.stdout + first.stderr
    assert not is_idempotent(None, first.stdout) and "changed=1" in first.stdout
    again = _converge(tmp_path, standin_up, changed=0)
    assert again.returncode == 0, again.stdout + again.stderr
    assert is_idempotent(None, again.stdout), again.stdout
    drift = _converge(tmp_path, standin_up, changed=1)
    assert not is_idempotent(None, drift.stdout)
    assert len(list((tmp_path / "ephemeral").glob("up-*.json"))) == 3, "every run's report is kept"


def test_converge_fails_when_up_fails_and_keeps_its_report(tmp_path, standin_up):
    _need("ansible-playbook", "pip install -e '.[test]'")
    result = _converge(tmp_path, standin_up, changed=3, rc=1)
    assert result.returncode != 0
    assert "provisioner up exited 1: progress on stderr" in result.stdout
    (report,) = (tmp_path / "ephemeral").glob("up-*.json")
    assert json.loads(report.read_text())["ok"] is False


def test_the_playbooks_use_options_the_real_cli_has():
    """The argv the shared playbooks build must exist in the real CLI, and up's JSON report carries "changed"."""
    from provisioner.uptypes import UpResult
    from provisioner.up_report import to_json

    for command, options in {"up": ["--json"], "preflight": ["--accept-new-host-keys", "--format", "-o"],
                             "verify": ["--json"], "vagrantfile": ["-o", "--box", "--cpus", "--memory"]}.items():
        helptext = run_cli(command, "--help").stdout
        for option in options:
            assert re.search(rf"(^|\s|,){re.escape(option)}[\s,]", helptext), (command, option)
    assert json.loads(to_json(UpResult(cluster="c", plan=False)))["changed"] == 0


def test_cluster_facts_writes_an_ssh_config_openssh_reads(tmp_path):
    _need("ssh", "apt-get install openssh-client")
    config = tmp_path / "ssh_config"
    env = {**os.environ, "HOME": str(tmp_path), "PROVISIONER_STATE_DIR": str(tmp_path / "state")}
    result = subprocess.run([sys.executable, str(SHARED / "cluster_facts.py"), str(SCENARIO / "inventory.yaml"),
                             "--ssh-config", str(config)], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)
    assert [h["name"] for h in facts["hosts"]] == ["cp1", "cp2", "cp3"]
    assert facts["keys"] == [f"{tmp_path}/.ssh/provisioner_molecule_ed25519"]
    state = Path(facts["state_dir"])         # the cluster's own directory: <cluster>-<fingerprint>
    assert state.parent == tmp_path / "state" and state.name.startswith("molecule-vagrant-")
    assert facts["known_hosts"] == f"{state}/known_hosts"
    resolved = subprocess.run(["ssh", "-G", "-F", str(config), "cp2"], capture_output=True, text=True, env=env)
    assert resolved.returncode == 0, resolved.stderr
    options = dict(line.split(" ", 1) for line in resolved.stdout.splitlines() if " " in line)
    assert options["hostname"] == "192.168.57.12" and options["user"] == "vagrant" and options["port"] == "22"
    assert options["identityfile"] == f"{tmp_path}/.ssh/provisioner_molecule_ed25519"
    assert options["stricthostkeychecking"] in ("true", "yes")
    assert options["userknownhostsfile"] == facts["known_hosts"]


# --- the GitHub Actions example -------------------------------------------------------

def _workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def test_workflow_matches_the_github_workflow_schema(tmp_path):
    """check-jsonschema ships SchemaStore's github-workflow schema (no network needed)."""
    tool = _need("check-jsonschema", "pip install -e '.[test]'")
    ok = subprocess.run([tool, "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("    runs-on: ubuntu-24.04", "    runs_on: ubuntu-24.04"))
    bad = subprocess.run([tool, "--builtin-schema", "vendor.github-workflows", str(broken)],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "'runs-on' is a required property" in bad.stdout


def _steps() -> list[dict]:
    (job,) = _workflow()["jobs"].values()
    return job["steps"]


def _runs() -> list[str]:
    return [s["run"] for s in _steps() if "run" in s]


def test_workflow_runs_the_sequence_and_always_publishes_and_destroys():
    data = _workflow()
    assert set(data.get("on", data.get(True))) >= {"pull_request", "workflow_dispatch"}  # PyYAML reads `on` as True
    text = "\n".join(_runs())
    order = ["provisioner vagrantfile", "vagrant up --provider=libvirt", "provisioner preflight", "provisioner up",
             "provisioner verify", "vagrant destroy -f"]
    positions = [text.index(step) for step in order]
    assert positions == sorted(positions), order
    assert "--format junit" in text and "--failover" in text and re.search(r"provisioner up .*--json", text)
    steps = _steps()
    uses = {s["uses"].split("@")[0]: s for s in steps if "uses" in s}
    for action in ("actions/upload-artifact", "mikepenz/action-junit-report"):
        assert uses[action].get("if") == "always()", action
    assert steps[-1]["run"].strip() == "vagrant destroy -f" and steps[-1]["if"] == "always()"
    assert "PROVISIONER_STATE_DIR" in data["jobs"]["cluster"]["env"]
    assert uses["actions/upload-artifact"]["with"]["path"] == "reports/", "secrets (the state dir) are never uploaded"


def test_workflow_commands_use_real_options_and_a_valid_inventory():
    env = _workflow()["jobs"]["cluster"]["env"]
    assert load_inventory(REPO / env["INVENTORY"].split()[0])
    for run in _runs():
        for line in run.replace("\\\n", " ").splitlines():
            line = line.split("#")[0].strip()
            if not line.startswith("provisioner "):
                continue
            words = shlex.split(line)
            helptext = run_cli(words[1], "--help").stdout
            for option in (w for w in words[2:] if w.startswith("-")):
                assert re.search(rf"(^|\s|,){re.escape(option)}[\s,]", helptext), (line, option)
