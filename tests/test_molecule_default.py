"""molecule/default: its configuration, and the lab-lock holder its create/destroy rely on.

The scenario itself (`molecule test -s default`: boots the namespace lab, runs
provisioner up twice, the testinfra suite and verify) runs in .ci/run after
pytest, not here: it needs the machine-wide lab lock for about two minutes,
which this session's own lab fixture may hold.
The lock-holder tests use a private lock file (MOLECULE_LAB_LOCK_PATH), never
the machine's.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest
import yaml

from provisioner.validation import load_inventory
from tests.lab import config as lab_config
from tests.support.cli import REPO, run_cli
from tests.support.skips import skip_or_fail

SCENARIO = REPO / "molecule/default"
LAB_PY = SCENARIO / "lab.py"
BIN = Path(sys.executable).parent
IN_CI = os.environ.get("CI") == "true"


def _need(tool: str) -> None:
    if not shutil.which(tool, path=f"{BIN}:{os.environ.get('PATH', '')}"):
        if IN_CI:
            pytest.fail(f"{tool} is not installed - pip install -e '.[test]'")
        skip_or_fail(f"{tool} not installed (pip install -e '.[test]')")


def _env(tmp_path: Path, **extra) -> dict:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}", "HOME": str(home),
            "ANSIBLE_HOME": str(home / ".ansible"), "ANSIBLE_NOCOLOR": "1", "NO_COLOR": "1", **extra}


def _molecule_yml() -> dict:
    return yaml.safe_load((SCENARIO / "molecule.yml").read_text())


# --- configuration --------------------------------------------------------------------

def test_scenario_passes_molecule_syntax(tmp_path):
    _need("molecule")
    result = subprocess.run([str(BIN / "molecule"), "syntax", "-s", "default"], cwd=REPO, env=_env(tmp_path),
                            capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "playbook: " + str(REPO / "molecule/shared/converge.yml") in output


def test_molecule_yml_matches_molecules_own_schema():
    import molecule

    schema = json.loads((Path(molecule.__file__).parent / "data/molecule.json").read_text())
    data = _molecule_yml()
    jsonschema.validate(data, schema)
    assert data["driver"]["name"] == "default"       # molecule's delegated driver
    assert data["scenario"]["test_sequence"].index("idempotence") > data["scenario"]["test_sequence"].index("converge")
    assert data["ansible"]["playbooks"]["converge"] == "../shared/converge.yml"


@pytest.mark.parametrize("playbook", ["create.yml", "destroy.yml", "side_effect.yml", "verify.yml"])
def test_own_playbooks_pass_ansible_syntax_check(tmp_path, playbook):
    _need("ansible-playbook")
    result = subprocess.run([str(BIN / "ansible-playbook"), "--syntax-check", "-i", "localhost,",
                             str(SCENARIO / playbook)], env=_env(tmp_path), capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_inventory_is_valid_fits_the_lab_and_names_the_platforms():
    path = SCENARIO / "inventory.yaml"
    r = run_cli("validate", "-i", str(path), "--strict")
    assert r.returncode == 0, r.stdout + r.stderr
    inv = load_inventory(path)
    lab = lab_config.read_inventory(path)               # addresses inside the lab's /24
    assert [n.hostname for n in lab.nodes] == [h.hostname for h in inv.hosts]
    assert sorted(p["name"] for p in _molecule_yml()["platforms"]) == sorted(h.hostname for h in inv.hosts)
    # the lab's own mirrors and NTP: lab nodes have no route out
    assert all(str(getattr(inv.package_mirrors, k)).startswith("http://172.31.250.1:8080/")
               for k in ("apt", "kubernetes", "docker"))


# --- the lock holder ------------------------------------------------------------------

def _status(workdir: Path) -> str:
    path = workdir / "lab.lock-status"
    return path.read_text().strip() if path.exists() else ""


def _poll(condition, timeout: float = 15, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def _lock_is_free(lock: Path) -> bool:
    with open(lock, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(f, fcntl.LOCK_UN)
        return True


@pytest.fixture
def holder(tmp_path):
    """Start `lab.py hold` on a private lock file; yields (start, workdir, lock); stops what it started."""
    workdir, lock = tmp_path / "ephemeral", tmp_path / "lab.lock"
    workdir.mkdir()
    procs: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, str(LAB_PY), "hold", "--name", "moltest", "--workdir", str(workdir)],
                                env={**os.environ, "MOLECULE_LAB_LOCK_PATH": str(lock)},
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        procs.append(proc)
        return proc
    yield start, workdir, lock
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def test_holder_waits_for_the_lock_holds_it_while_the_lab_is_up_and_releases_it(holder):
    start, workdir, lock = holder
    (workdir / "lab.lease").write_text(f"booting {os.getpid()}\n")
    with open(lock, "w") as other:                    # another session has a lab up
        fcntl.flock(other, fcntl.LOCK_EX)
        proc = start()
        _poll(lambda: _status(workdir) == "waiting", what="the holder to wait")
        assert proc.poll() is None
        fcntl.flock(other, fcntl.LOCK_UN)
    _poll(lambda: _status(workdir) == "held", what="the holder to take the lock")
    assert not _lock_is_free(lock)
    (workdir / "lab.lease").write_text("up\n")        # create finished; destroy not yet
    time.sleep(1.2)                                   # two of the holder's polls: it must keep the lock
    assert proc.poll() is None and not _lock_is_free(lock)
    (workdir / "lab.lease").unlink()                  # destroy
    assert proc.wait(timeout=10) == 0
    assert _status(workdir) == "released" and _lock_is_free(lock)


def test_holder_lets_go_when_create_died_before_the_lab_was_up(holder):
    start, workdir, lock = holder
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (workdir / "lab.lease").write_text(f"booting {dead.stdout.strip()}\n")
    proc = start()
    assert proc.wait(timeout=10) == 0
    assert _lock_is_free(lock)


def test_holder_lets_go_when_the_lab_is_removed_behind_its_back(holder, monkeypatch):
    """`python -m tests.lab down --name NAME` removes the lab's state dir: the lock must not outlive it."""
    from tests.lab.lab import state_dir_for

    start, workdir, lock = holder
    state = state_dir_for("moltest")
    if os.geteuid() != 0 or state.exists():
        skip_or_fail("needs root to create a stand-in lab state dir (and no real lab named moltest)")
    state.mkdir(parents=True)
    try:
        (state / "state.json").write_text("{}")
        (workdir / "lab.lease").write_text("up\n")
        proc = start()
        _poll(lambda: _status(workdir) == "held", what="the holder to take the lock")
        time.sleep(0.7)                               # it has seen the lab up
        assert proc.poll() is None
        shutil.rmtree(state)
        assert proc.wait(timeout=10) == 0
        assert _lock_is_free(lock)
    finally:
        shutil.rmtree(state, ignore_errors=True)
