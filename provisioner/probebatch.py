"""Many steps' probes of one kind folded into one command (:func:`batch_probes`), and the reads of
units and packages that preflight's own facts can answer (:func:`unit_probe_units`,
:func:`package_probe_names`)."""

from __future__ import annotations

import re
import shlex
from typing import Callable

from provisioner.checks.base import Fact

q = shlex.quote

_FILE = re.compile(r"^if \[ -e (\S+) \]; then stat -c '%a %U %G' \1; sha256sum < \1; else echo absent; fi$")
_UNIT = re.compile(r"^systemctl show -p UnitFileState -p ActiveState -- (\S+) 2>/dev/null$")
_PKGS = re.compile(r"^dpkg-query -W -f='\$\{Package\} \$\{Version\} \$\{db:Status-Abbrev\}\\n' (.+) 2>/dev/null$")
BATCH = "@@BATCH "


def batch_probes(commands: list[str]) -> tuple[list[str], Callable[[dict[str, Fact]], dict[str, Fact]]]:
    """Fold the probes of FileSteps (non-block), ServiceSteps and PackagesSteps among ``commands`` into ONE
    command for all of them: one ``stat`` and one ``sha256sum`` for every file, one ``systemctl show`` for
    every unit, one ``dpkg-query`` for every package (2 processes per file, 1 per unit and per package
    step before). Returns the commands to run (the others unchanged) and ``expand``, which turns the
    answers (by command) back into each original probe's fact, in the form that probe prints itself.
    A batch whose answer does not add up gives no facts for its probes: the caller reads them one by one.

    >>> from provisioner.steps import FileStep
    >>> cmds, expand = batch_probes([FileStep("/etc/a", "x").probe(), FileStep("/etc/b", "y").probe(), "true"])
    >>> len(cmds), cmds[1]
    (2, 'true')
    """
    files, units, pkgs, rest = {}, {}, {}, []
    for command in dict.fromkeys(commands):
        if m := _FILE.match(command):
            files[command] = shlex.split(m.group(1))[0]
        elif m := _UNIT.match(command):
            units[command] = shlex.split(m.group(1))[0]
        elif m := _PKGS.match(command):
            pkgs[command] = shlex.split(m.group(1))
        else:
            rest.append(command)
    batch = []
    if len(files) > 1:
        paths = " ".join(q(p) for p in dict.fromkeys(files.values()))
        # %n|: the name as given (a file that is absent prints nothing on stdout)
        batch.append(f"echo @@STAT; stat -c '%n|%a %U %G' -- {paths} 2>/dev/null; echo @@SUM; "
                     f"sha256sum -- {paths} 2>/dev/null; true")
    else:
        rest += list(files)
    if len(units) > 1:
        batch.append("systemctl show -p UnitFileState -p ActiveState -- "
                     + " ".join(q(u) for u in units.values()) + " 2>/dev/null; echo")
    else:
        rest += list(units)
    if len(pkgs) > 1:
        names = " ".join(q(p) for p in dict.fromkeys(n for ns in pkgs.values() for n in ns))
        batch.append(f"dpkg-query -W -f='${{Package}} ${{Version}} ${{db:Status-Abbrev}}\\n' {names} 2>/dev/null; true")
    else:
        rest += list(pkgs)
    marked = [f": {BATCH.strip()} {i}; {c}" for i, c in enumerate(batch)]   # distinct from any probe

    def expand(answers: dict[str, Fact]) -> dict[str, Fact]:
        out = {c: f for c, f in answers.items() if c not in marked}
        for command in marked:
            fact = answers.get(command)
            if fact is None:
                continue
            text = fact.output
            if "@@STAT" in text and len(files) > 1:
                stat, _, sums = text.partition("@@SUM")
                meta = dict(line.rsplit("|", 1) for line in stat.splitlines() if "|" in line)
                hashes = {path: digest for digest, _, path in (line.partition("  ") for line in sums.splitlines())
                          if path}
                for probe, path in files.items():
                    out[probe] = (Fact(f"{meta[path]}\n{hashes.get(path, '')}  -", 0) if path in meta
                                  else Fact("absent", 0))
            elif command.split("; ", 1)[1].startswith("systemctl show") and len(units) > 1:
                # one block per unit, in the order given, a blank line before each but the first
                # (systemd src/systemctl/systemctl-show.c show_one: `if (*new_line) printf("\n")`)
                blocks = [b for b in text.strip("\n").split("\n\n")]
                if len(blocks) == len(units):
                    out.update({probe: Fact(block.strip("\n"), 0) for probe, block in zip(units, blocks)})
            elif command.split("; ", 1)[1].startswith("dpkg-query") and len(pkgs) > 1:
                lines = text.splitlines()
                for probe, names in pkgs.items():
                    out[probe] = Fact("\n".join(line for line in lines if line.split()[:1] and
                                                line.split()[0] in names), 0)
        return out

    return marked + rest, expand


UNIT_PROPS = ("UnitFileState", "ActiveState")      # what a ServiceStep's probe asks systemctl show
_UNIT_BATCH = re.compile(r"^: @@BATCH \d+; systemctl show -p UnitFileState -p ActiveState -- (.+) 2>/dev/null; echo$")


def unit_probe_units(command: str) -> tuple[list[str], bool] | None:
    """The units whose :data:`UNIT_PROPS` ``command`` reads, and whether it is :func:`batch_probes`' one command
    for several (its answer: the blocks, a blank line between) rather than one ServiceStep's probe; None for any
    other command. Preflight answers such a read from the ``systemctl show`` its own facts run.

    >>> from provisioner.steps import ServiceStep
    >>> unit_probe_units(ServiceStep("chrony").probe())
    (['chrony'], False)
    """
    if m := _UNIT.match(command):
        return [shlex.split(m.group(1))[0]], False
    if (m := _UNIT_BATCH.match(command)) and all(q(u) == w for u, w in zip(shlex.split(m.group(1)),
                                                                            m.group(1).split())):
        return shlex.split(m.group(1)), True
    return None


_PKGS_BATCH = re.compile(r"^: @@BATCH \d+; dpkg-query -W -f='\$\{Package\} \$\{Version\} \$\{db:Status-Abbrev\}\\n' "
                         r"(.+) 2>/dev/null; true$")


def package_probe_names(command: str) -> tuple[list[str], bool] | None:
    """The packages whose dpkg status ``command`` reads (``${Package} ${Version} ${db:Status-Abbrev}`` lines), and
    whether it is :func:`batch_probes`' one command for several probes (it ends in ``; true``: exit 0 always)
    rather than one PackagesStep's probe (dpkg-query's own exit code); None for any other command. Preflight
    answers such a read from the ``dpkg-query`` its own package fact runs.

    >>> from provisioner.steps import PackagesStep
    >>> package_probe_names(PackagesStep({"kubelet": "1.37.1", "kubeadm": None}).probe())
    (['kubelet', 'kubeadm'], False)
    """
    m = _PKGS.match(command) or _PKGS_BATCH.match(command)
    if not m:
        return None
    names = shlex.split(m.group(1))
    if not names or any(q(n) != w for n, w in zip(names, m.group(1).split())) or len(names) != len(m.group(1).split()):
        return None                     # quoted or odd words: not one of ours, read it as it is
    return names, m.re is _PKGS_BATCH
