"""Facts as types: a probe is the read-only command it runs AND its own fact kind, which parses its answer.

>>> from provisioner.factdata import Fact
>>> p = UnitProbe("chrony")
>>> p                                   # it is the command (a str): it runs, batches and keys as such
'systemctl show -p UnitFileState -p ActiveState -- chrony 2>/dev/null'
>>> p.parse(Fact("UnitFileState=enabled\\nActiveState=active", 0))
UnitState(file_state='enabled', active='active')

Each kind that many steps ask of one host (files, units, packages) also says how several of them are
read by ONE command (:meth:`Probe.batch`) and how that answer is cut back into what each would have
printed on its own (:meth:`Batch.split`): batching is a group-by over these types
(:func:`provisioner.probebatch.batch_probes`), never a pattern matched against a command's text. Another
package manager (rpm) or init system would be another kind here, with its command, batch and parser.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import ClassVar

from provisioner.factdata import Fact

q = shlex.quote
PACKAGE_FORMAT = "${Package} ${Version} ${db:Status-Abbrev}\\n"      # dpkg-query -W -f: one line per package
UNIT_PROPS = ("UnitFileState", "ActiveState")                        # what a unit probe asks systemctl show


class Probe(str):
    """A read-only shell command (the str itself) that knows what it reads. Plain commands are plain str."""

    batchable: ClassVar[bool] = False

    @classmethod
    def batch(cls, probes: list["Probe"], index: int) -> "Batch":
        raise NotImplementedError


class Batch(str):
    """ONE command answering several probes of one kind (``members``, in order); :meth:`split` gives each
    member's fact back in the form its own command prints."""

    kind: type[Probe]
    members: tuple[Probe, ...]

    def __new__(cls, command: str, kind: type[Probe], members: tuple[Probe, ...]):
        self = super().__new__(cls, command)
        self.kind, self.members = kind, members
        return self

    def split(self, fact: Fact) -> dict[str, Fact]:
        return self.kind.split(self, fact)


def _marked(index: int, command: str) -> str:
    """A batch's command, marked so that it never equals any probe (its answer is keyed by its text)."""
    return f": @@BATCH {index}; {command}"


# --------------------------------------------------------------------------- files

@dataclass(frozen=True)
class FileState:
    mode: str
    owner: str
    group: str
    sha256: str


class _PathProbe(Probe):
    """Mode, owner and group of one file, then what ``READ`` prints of it; ``absent`` when it does not exist."""

    READ: ClassVar[str]
    path: str

    def __new__(cls, path: str):
        p = q(path)
        self = super().__new__(cls, f"if [ -e {p} ]; then stat -c '%a %U %G' {p}; {cls.READ.format(p=p)}; "
                                    "else echo absent; fi")
        self.path = path
        return self


class FileProbe(_PathProbe):
    """Mode, owner, group and SHA-256 of one file (``absent`` when it does not exist)."""

    batchable = True
    READ = "sha256sum < {p}"

    @staticmethod
    def parse(fact: Fact | None) -> FileState | None:
        """None when absent (or not read); else the file's state. ``sha256sum < FILE`` prints ``HASH  -``."""
        text = fact.output if fact else "absent"
        if text.startswith("absent"):
            return None
        first, _, rest = text.partition("\n")
        meta = (first.split() + ["", "", ""])[:3]
        return FileState(meta[0], meta[1], meta[2], (rest.split() or [""])[0])

    @classmethod
    def batch(cls, probes: list[Probe], index: int) -> Batch:
        paths = " ".join(q(p) for p in dict.fromkeys(p.path for p in probes))
        # %n|: the name as given (a file that is absent prints nothing on stdout)
        return Batch(_marked(index, f"echo @@STAT; stat -c '%n|%a %U %G' -- {paths} 2>/dev/null; echo @@SUM; "
                                    f"sha256sum -- {paths} 2>/dev/null; true"), cls, tuple(probes))

    @staticmethod
    def split(batch: Batch, fact: Fact) -> dict[str, Fact]:
        stat, _, sums = fact.output.partition("@@SUM")
        if "@@STAT" not in stat:
            return {}
        meta = dict(line.rsplit("|", 1) for line in stat.splitlines() if "|" in line)
        hashes = {path: digest for digest, _, path in (line.partition("  ") for line in sums.splitlines()) if path}
        return {p: Fact(f"{meta[p.path]}\n{hashes.get(p.path, '')}  -", 0) if p.path in meta else Fact("absent", 0)
                for p in batch.members}


class FileBodyProbe(_PathProbe):
    """Mode, owner and group of one file and its whole content (what a managed block is merged into)."""

    READ = "echo @@CONTENT; cat {p}"

    @staticmethod
    def parse(fact: Fact | None) -> tuple[list[str], str] | None:
        """None when absent (or not read); else ([mode, owner, group], content)."""
        if fact is None or fact.output.startswith("absent"):
            return None
        _, _, body = fact.output.partition("@@CONTENT\n")
        if not body and "@@CONTENT" not in fact.output:
            return None
        return fact.output.partition("\n")[0].split(), body


# --------------------------------------------------------------------------- systemd units

@dataclass(frozen=True)
class UnitState:
    file_state: str      # enabled, static, disabled, ... ("" when systemd does not know the unit)
    active: str          # active, inactive, failed, ...


class UnitProbe(Probe):
    """A unit's UnitFileState and ActiveState: one ``systemctl show`` (one process, not is-enabled + is-active)."""

    batchable = True
    unit: str

    def __new__(cls, unit: str):
        self = super().__new__(cls, f"systemctl show -p UnitFileState -p ActiveState -- {q(unit)} 2>/dev/null")
        self.unit = unit
        return self

    @staticmethod
    def parse(fact: Fact | None) -> UnitState:
        props = dict(line.split("=", 1) for line in (fact.output if fact else "").splitlines() if "=" in line)
        return UnitState(props.get("UnitFileState", ""), props.get("ActiveState", ""))

    @classmethod
    def batch(cls, probes: list[Probe], index: int) -> Batch:
        return Batch(_marked(index, "systemctl show -p UnitFileState -p ActiveState -- "
                                    + " ".join(q(p.unit) for p in probes) + " 2>/dev/null; echo"), cls, tuple(probes))

    @staticmethod
    def split(batch: Batch, fact: Fact) -> dict[str, Fact]:
        # one block per unit, in the order given, a blank line before each but the first
        # (systemd src/systemctl/systemctl-show.c show_one: `if (*new_line) printf("\n")`)
        blocks = fact.output.strip("\n").split("\n\n")
        if len(blocks) != len(batch.members):
            return {}
        return {p: Fact(block.strip("\n"), 0) for p, block in zip(batch.members, blocks)}


# --------------------------------------------------------------------------- Debian packages

@dataclass(frozen=True)
class PackageState:
    version: str
    status: str          # dpkg's db:Status-Abbrev: desired action (i, h hold, ...), state (i installed), error

    @property
    def installed(self) -> bool:
        return self.status[1:2] == "i"

    @property
    def held(self) -> bool:
        return self.status[:1] == "h"


class _PackageQuery(Probe):
    """A package manager's query for some packages (``QUERY`` NAME...): one answer line per package it knows.
    Several are one query for the union of their names; each member keeps the lines of its own packages."""

    batchable = True
    QUERY: ClassVar[str]
    names: tuple[str, ...]

    def __new__(cls, names):
        names = tuple(names)
        self = super().__new__(cls, f"{cls.QUERY} {' '.join(q(n) for n in names)} 2>/dev/null")
        self.names = names
        return self

    @staticmethod
    def answers(parts: list[str]) -> bool:
        """Whether a line (split in words) is the answer for one package (its name first)."""
        return bool(parts)

    @classmethod
    def batch(cls, probes: list[Probe], index: int) -> Batch:
        names = " ".join(q(n) for n in dict.fromkeys(n for p in probes for n in p.names))
        return Batch(_marked(index, f"{cls.QUERY} {names} 2>/dev/null; true"), cls, tuple(probes))

    @classmethod
    def split(cls, batch: Batch, fact: Fact) -> dict[str, Fact]:
        lines = [line for line in fact.output.splitlines() if cls.answers(line.split())]
        return {p: Fact("\n".join(line for line in lines if line.split()[0] in p.names), 0) for p in batch.members}


class PackagesProbe(_PackageQuery):
    """dpkg's version and status of some packages (one line each that dpkg knows)."""

    QUERY = f"dpkg-query -W -f='{PACKAGE_FORMAT}'"

    @staticmethod
    def parse(fact: Fact | None) -> dict[str, PackageState]:
        out = {}
        for line in (fact.output if fact else "").splitlines():
            parts = line.split()
            if len(parts) >= 3:
                out[parts[0]] = PackageState(parts[1], parts[2])
        return out


# --------------------------------------------------------------------------- RPM packages

RPM_FORMAT = "%{NAME} %{VERSION}-%{RELEASE}\\n"      # rpm -q --qf: one line per installed package


class RpmPackagesProbe(_PackageQuery):
    """rpm's installed version of some packages: ``NAME VERSION-RELEASE`` for each installed one; for one that is
    not, rpm prints ``package NAME is not installed`` (on stdout, exit = how many; rpm lib/query.c
    rpmcliArgIter), which is no answer. On EL the pin is the repository's ``exclude=`` line, not a hold."""

    QUERY = f"rpm -q --qf '{RPM_FORMAT}'"

    @staticmethod
    def answers(parts: list[str]) -> bool:
        return len(parts) == 2

    @classmethod
    def parse(cls, fact: Fact | None) -> dict[str, str]:
        """Installed package -> its VERSION-RELEASE."""
        return {parts[0]: parts[1] for line in (fact.output if fact else "").splitlines()
                if cls.answers(parts := line.split())}


__all__ = ["Batch", "FileBodyProbe", "FileProbe", "FileState", "PACKAGE_FORMAT", "PackageState", "PackagesProbe",
           "Probe", "RPM_FORMAT", "RpmPackagesProbe", "UNIT_PROPS", "UnitProbe", "UnitState"]
