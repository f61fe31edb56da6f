"""What a CLI start loads: `validate` and `preflight --format json` must not import what they never use.

Issue 13 counts interpreter start and imports in the preflight CLI's time (bench/compare
`preflight-cli`). These tests pin the cheap parts: each runs the real entry point in a fresh
interpreter and lists the top-level packages it imported. No timing is asserted; a module
that comes back (e.g. `from rich.table import Table` at the top of provisioner/report.py,
or a `Console()` made for one plain line) fails here by name.

No lab: `preflight` runs against hosts on loopback port 1 (connection refused at once), so
it walks the whole CLI path (inventory, ssh_config, known_hosts, run_preflight, the JSON report).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Runs provisioner's entry point like the console script, then prints the top-level packages loaded
# (a stand-in of provisioner.deferred, imported only on first use, does not count).
PROBE = """
import json, sys
from provisioner.cli import main
sys.argv = ["provisioner", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
sys.stdout.flush()
print("\\nMODULES " + json.dumps({"exit": code, "modules": sorted({n.split(".")[0] for n, m in list(sys.modules.items())
                                                     if type(m).__name__ != "_Deferred"})}))
"""


def loaded(*args: str) -> tuple[int, set[str], str]:
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    head, _, tail = proc.stdout.rpartition("\nMODULES ")
    assert tail, proc.stdout + proc.stderr
    data = json.loads(tail)
    return data["exit"], set(data["modules"]), head + proc.stderr


def test_validate_loads_no_ssh_no_templates_no_rich():
    code, modules, output = loaded("validate", "-i", str(ROOT / "inventories/lab.yaml"))
    assert code == 0, output
    assert "valid" in output
    # validate needs the model (pydantic) and YAML; a table printer, SSH and templates it never uses
    unwanted = {"rich", "fabric", "invoke", "paramiko", "testinfra", "jinja2", "cryptography"}
    assert not modules & unwanted, f"validate imported {sorted(modules & unwanted)}"


def test_preflight_json_loads_no_rich_no_templates(tmp_path):
    inv = (ROOT / "inventories/lab.yaml").read_text()
    inv = inv.replace("172.31.250.0/24", "127.0.0.0/24").replace("172.31.250.1", "127.0.0.1").replace(
        "port: 22\n", "port: 1\n")    # every host on loopback port 1: refused at once, no traffic leaves the machine
    assert "172.31.250." not in inv
    (tmp_path / "inv.yaml").write_text(inv)
    (tmp_path / "ssh_config").write_text("")
    code, modules, output = loaded("preflight", "-i", str(tmp_path / "inv.yaml"), "--format", "json",
                                   "--state-dir", str(tmp_path / "state"), "--ssh-config", str(tmp_path / "ssh_config"),
                                   "--timeout", "5")
    assert code == 3, output                       # every host unreachable: the whole path ran
    report = json.loads(output[:output.rindex("}") + 1])
    assert {h["status"] for h in report["hosts"]} == {"unreachable"}, report
    # JSON needs no table printer (rich), no XML; preflight renders no templates (jinja2) and runs
    # no Fabric commands (fabric, invoke: paramiko's config imports invoke unless deferred)
    unwanted = {"rich", "jinja2", "xml", "fabric", "invoke"}
    assert not modules & unwanted, f"preflight --format json imported {sorted(modules & unwanted)}"


DEFERRED = """
import sys
from provisioner import deferred
deferred.defer("invoke")
import paramiko
assert not deferred.is_loaded("invoke"), "paramiko imported invoke"
# paramiko/config.py runs `Match exec` lines through invoke.run: the stand-in hands over to the real module
config = paramiko.SSHConfig.from_text("Match exec true\\n  User from-exec\\nHost *\\n  User other\\n")
assert config.lookup("node1")["user"] == "from-exec", config.lookup("node1")
assert deferred.is_loaded("invoke")
import fabric      # Fabric's `from invoke import ...` gets the real names
assert fabric.Connection and sys.modules["invoke"].Context is fabric.connection.Context
print("ok")
"""


def test_deferred_invoke_still_serves_paramiko_match_exec_and_fabric():
    """provisioner.deferred keeps paramiko from importing invoke at start; nothing that uses invoke changes."""
    proc = subprocess.run([sys.executable, "-c", DEFERRED], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout + proc.stderr


JUDGE = """
import sys
from provisioner.checks import NODE_CHECKS
from provisioner.checks.base import Fact, Facts, Node
from provisioner.validation import load_inventory
inv = load_inventory("inventories/lab.yaml")
node = Node(inv.host("node1"), inv, Facts({"runtime.docker": Fact("cgroupfs", 0), "runtime.cri": Fact("", 0)}, True))
check = next(c for c in NODE_CHECKS if c.id == "runtime.docker")
verdict = check.evaluate(node.facts, node)
assert verdict.status == "fail" and "cri-dockerd.sock" in verdict.expected, verdict
print(sorted({"jinja2", "markupsafe"} & set(sys.modules)))
"""


def test_a_failing_runtime_check_renders_nothing():
    """Judging a host (here: docker's cgroup driver wrong, the fix names cri-dockerd's socket) imports no
    template engine: a bare node in bench/compare failed this check and the CLI paid ~16 ms for jinja2."""
    proc = subprocess.run([sys.executable, "-c", JUDGE], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == "[]", f"judging a check imported {proc.stdout.strip()}"
