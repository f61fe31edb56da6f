"""up's step probes run in preflight's script as functions with their variables local where that isolates them as
a subshell would (provisioner/shellscope.py) - one fork less each. Proven here on every probe ``up`` sends to the
lab inventory's hosts: run as a function in a shell whose variables are all set to something else, each probe
answers exactly what it answers in a clean subshell, and leaves every variable as it found it.
"""

from __future__ import annotations

import dataclasses

import re
import subprocess
import tempfile
from pathlib import Path

import pytest

from provisioner import gather, preflight, sharedreads
from provisioner.shellscope import local_names, scoped

ROOT = Path(__file__).resolve().parents[1]
# Probes that talk to the network: not run here (their scoping is decided by the same rules, checked below).
NETWORK = re.compile(r"\b(curl|kubectl|timeout)\b|/dev/tcp/")


def _up_probes() -> list[str]:
    import provisioner.engine as E
    from provisioner.phases.base import OsInfo
    from provisioner.probes import StepBook
    from provisioner.session import SESSION_READ
    from provisioner.probebatch import batch_probes
    from provisioner.validation import load_inventory

    inv = load_inventory(ROOT / "inventories/lab.yaml")
    ctx = E.build_context(inv, Path(tempfile.mkdtemp()))
    ctx = dataclasses.replace(ctx, os={h.hostname: OsInfo("debian", "12", "bookworm", "", "amd64") for h in inv.hosts})
    out: dict[str, None] = {}
    for commands in StepBook(ctx).probes(E.select_phases(E.UpOptions()), None).values():
        out.update(dict.fromkeys(batch_probes(commands + [SESSION_READ])[0]))
    return list(out)


PROBES = _up_probes()
# Every lower-case word of every probe set to something else: what a leaking probe would find in its shell.
POISON = "; ".join(f"{w}=poison" for w in sorted({w for p in PROBES for w in re.findall(r"\b[a-z_][a-z0-9_]*\b", p)}
                                                 - {"_"}))


def test_most_of_ups_probes_run_without_a_subshell():
    scoped_count = sum(local_names(p) is not None for p in PROBES)
    assert scoped_count >= len(PROBES) * 2 // 3, [p[:80] for p in PROBES if local_names(p) is None]
    # what sets a variable by a name it computes, or the shell itself, keeps its subshell
    assert local_names(sharedreads.SHARED_UNITS) is not None
    for command in ("cmd || exit 1", "{ cd /tmp; }", ". /etc/os-release", "sleep 1 & x", "FOO=1 cmd",
                    "read -r X", "read -ra FOO", "printf -v x %s 1", "mapfile -t a < f", "n=$((n+1))",
                    "declare x=1", "eval x=1", "echo ${FOO:=1}", "f() { :; }; f", "command cd /", "set -e"):
        assert local_names(command) is None, command


@pytest.mark.parametrize("probe", [p for p in PROBES if local_names(p) is not None and not NETWORK.search(p)],
                         ids=lambda p: p[:60])
def test_scoped_probe_answers_as_its_subshell_and_sets_nothing(probe):
    poison = POISON
    snapshot = "declare -p | grep -Ev '^declare -\\S+ (_|BASH\\w*|PIPESTATUS|EPOCH\\w+|RANDOM|SECONDS|LINENO|" \
               "FUNCNAME|SRANDOM|OLDPWD|PWD|before|rc)='"
    script = (f"{poison}\nbefore=$({snapshot})\n{scoped('_probe0', probe)} </dev/null >/tmp/.scoped.$$ 2>&1\n"
              f"rc=$?\nafter=$({snapshot})\n"
              "[ \"$before\" = \"$after\" ] || { diff <(echo \"$before\") <(echo \"$after\") >&2; exit 99; }\n"
              "cat /tmp/.scoped.$$; rm -f /tmp/.scoped.$$; exit $rc")
    alone = subprocess.run(["bash", "-c", f"( {probe}\n) </dev/null 2>&1"], capture_output=True, text=True, timeout=60)
    got = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert got.returncode != 99, f"the probe changed the caller's variables:\n{got.stderr}"
    # bash's own error lines name where the command was read: "bash: line 1:" in a subshell of `bash -c`,
    # "environment: line 3:" in a function defined there (no step reads those prefixes)
    where = re.compile(r"^(bash|environment): line \d+: ", re.M)
    assert (got.returncode, where.sub("", got.stdout)) == (alone.returncode, where.sub("", alone.stdout))


def test_gather_script_runs_scoped_probes_as_functions_isolated_from_each_other(monkeypatch):
    """Probes one after the other in ONE lane: the first sets v, the next must not see it (as with subshells); one
    that changes the shell (cd) still gets its subshell."""
    monkeypatch.setattr(gather, "SIDE_LANES", 1)
    commands = {"extra.0": "v=leaked; echo set", "extra.1": "echo \"[${v:-}]\"", "extra.2": "cd /; pwd",
                "extra.3": "pwd"}
    script = preflight.gather_script(commands, alongside=frozenset(commands))
    assert "_probe0() {" in script and "( cd /; pwd" in script
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, cwd="/tmp").stdout
    facts, _ = preflight.parse_facts(out)
    assert [facts.values[f"extra.{i}"].output for i in range(4)] == ["set", "[]", "/", "/tmp"]
