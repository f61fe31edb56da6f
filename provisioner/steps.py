"""The steps a phase is made of: each reads the host's state, then changes only what differs.

>>> steps = [FileStep(rendered_haproxy_cfg, validate="haproxy -c -f %s", notify="haproxy"),
...          ServiceStep("haproxy", restart_on="haproxy")]            # doctest: +SKIP

Every step has a ``probe``: one read-only shell command whose output (and
exit code) tells whether the step has work to do. The engine runs all the
probes of a phase on a host in one round trip, then asks each step, in
order, ``change(fact, notified)``: ``None`` when the host already matches,
else a :class:`Change` saying what would be done (with a diff for files).
``apply`` does it. ``identity`` is what the journal hashes: change it and
the phase runs again on that host.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import shlex
from dataclasses import dataclass, field
from typing import Callable

from provisioner.checks.base import Fact
from provisioner.remote import Remote, StepFailed, apt_lock_timeout

q = shlex.quote


@dataclass
class Change:
    """What a step will do (plan) or did (run) on one host."""

    step: str
    commands: list[str] = field(default_factory=list)
    diff: str = ""


@dataclass
class StepContext:
    """What ``apply`` may use besides the remote: the run's notifications and secret masking."""

    remote: Remote
    notified: set[str]
    redact: Callable[[str], str]
    facts: dict[str, Fact]


class Step:
    """Base: subclasses set ``name`` and implement probe/change/apply."""

    name: str = ""
    notify: str | None = None       # tag raised when this step changes something
    counts: bool = True             # False for waits and checks: never reported as a change
    writes: tuple[str, ...] = ()    # the files (of the desired state) this step writes

    def probe(self) -> str | None:
        return None

    def identity(self) -> str:
        return self.name

    def change(self, fact: Fact | None, notified: set[str]) -> Change | None:
        raise NotImplementedError

    def apply(self, ctx: StepContext) -> None:
        raise NotImplementedError


# --------------------------------------------------------------------------- files

def _merge_block(current: str, block: str) -> str:
    """``current`` with the marked block replaced (or appended): only our lines change."""
    lines = block.strip("\n").splitlines()
    begin, end = lines[0], lines[-1]
    out, inside, placed = [], False, False
    for line in current.splitlines():
        if line == begin:
            inside = True
            continue
        if inside:
            if line == end:
                inside = False
                if not placed:
                    out.extend(lines)
                    placed = True
            continue
        out.append(line)
    if not placed:
        if out and out[-1].strip():
            out.append("")
        out.extend(lines)
    return "\n".join(out) + "\n"


MASK = "<redacted>"


def secret_keywords(redacted: str) -> list[str]:
    r"""The keywords that introduce a secret in a rendered file whose secrets are already ``<redacted>``.

    >>> secret_keywords("  auth_pass <redacted>\n  stats auth admin:<redacted>\nmode tcp\n")
    ['auth_pass', 'stats auth']
    """
    keys = []
    for line in redacted.splitlines():
        if MASK in line:
            before = line.split(MASK, 1)[0].strip()
            # "stats auth admin:" -> "stats auth": the user part may differ on the host too.
            key = before.rsplit(None, 1)[0] if " " in before else before.rstrip(":= ") or before
            if key and key not in keys:
                keys.append(key)
    return keys


def mask_secret_lines(text: str, keys: list[str]) -> str:
    r"""Every line starting with one of ``keys`` keeps its keyword and loses the rest.

    >>> mask_secret_lines("    auth_pass oldpass1\nmode tcp\n", ["auth_pass"])
    '    auth_pass <redacted>\nmode tcp\n'
    """
    out = []
    for line in text.splitlines(True):
        body = line.lstrip()
        key = next((k for k in keys if body == k or body.startswith((k + " ", k + ":", k + "=", k + "\t"))), None)
        if key is not None:
            indent = line[:len(line) - len(body)]
            line = f"{indent}{key} {MASK}" + ("\n" if line.endswith("\n") else "")
        out.append(line)
    return "".join(out)


def version_matches(installed: str, wanted: str) -> bool:
    """An installed Debian version is the wanted upstream version exactly (epoch and revision aside).

    >>> [version_matches(v, "1.31.1") for v in ("1.31.1-1.1", "1.31.10-1.1", "1:1.31.1-1.1", "1.31.1")]
    [True, False, True, True]
    >>> version_matches("0.3.14.3-0.debian-bookworm", "0.3.14"), version_matches("0.3.14-0", "0.3.1")
    (True, False)
    """
    upstream = installed.split(":", 1)[1] if ":" in installed.split("-", 1)[0] else installed
    return upstream == wanted or (upstream.startswith(wanted) and upstream[len(wanted)] in "-.~+")


# The same rule in awk, for resolving the repository's exact version (``apt-cache madison``, field 3).
AWK_VERSION_MATCH = ("{v = $3; sub(/^[0-9]+:/, \"\", v); "
                     "if (v == want || (index(v, want) == 1 && index(\"-.~+\", substr(v, length(want) + 1, 1)) > 0))"
                     " {print $3; exit}}")


class FileStep(Step):
    """A file with exact content, owner, group and mode (or a managed block inside one)."""

    def __init__(self, path: str, content: str, *, mode: int = 0o644, owner: str = "root", group: str = "root",
                 secret: bool = False, block: bool = False, validate: str | None = None, notify: str | None = None):
        self.path, self.content, self.mode, self.owner, self.group = path, content, mode, owner, group
        self.secret, self.block, self.validate, self.notify = secret, block, validate, notify
        self.name, self.writes = f"write {path}", (path,)

    @classmethod
    def of(cls, rendered, **kw) -> "FileStep":
        """From a :class:`provisioner.render.RenderedFile`."""
        return cls(rendered.path, rendered.content, mode=rendered.mode, owner=rendered.owner, group=rendered.group,
                   secret=rendered.secret, block=rendered.merge == "block", **kw)

    def identity(self) -> str:
        digest = hashlib.sha256(self.content.encode()).hexdigest()
        return f"file {self.path} {self.mode:o} {self.owner}:{self.group} {digest} {self.block}"

    def probe(self) -> str:
        p = q(self.path)
        head = f"if [ -e {p} ]; then stat -c '%a %U %G' {p}; "
        body = f"echo @@CONTENT; cat {p}; " if self.block else f"sha256sum < {p}; "    # "HASH  -"
        return head + body + "else echo absent; fi"

    def desired(self, fact: Fact | None) -> str:
        if not self.block:
            return self.content
        return _merge_block(self._current(fact) or "", self.content)

    @staticmethod
    def _current(fact: Fact | None) -> str | None:
        if fact is None or fact.output.startswith("absent"):
            return None
        _, _, body = fact.output.partition("@@CONTENT\n")
        return body if body or "@@CONTENT" in fact.output else None

    def change(self, fact: Fact | None, notified: set[str]) -> Change | None:
        text = fact.output if fact else "absent"
        if text.startswith("absent"):
            what = "create"
        else:
            first, _, rest = text.partition("\n")
            meta_ok = first.split() == [f"{self.mode:o}", self.owner, self.group]
            if self.block:
                current, desired = self._current(fact) or "", self.desired(fact)
                same = current.rstrip("\n") + "\n" == desired or current == desired
            else:
                same = rest.split()[:1] == [hashlib.sha256(self.content.encode()).hexdigest()]
            if same and meta_ok:
                return None
            what = "update" if not same else f"fix owner/mode ({first.strip()} -> {self.mode:o} {self.owner} {self.group})"
        return Change(f"{what} {self.path}", [f"install {self.path} (mode {self.mode:o}, {self.owner}:{self.group})"])

    def diff(self, current: str | None, fact: Fact | None, redact: Callable[[str], str]) -> str:
        new = self.desired(fact)
        old = current or ""
        raw_differs = old != new
        if self.secret:
            # The host's side may hold an OLD secret that no redactor knows: mask every line that
            # carries a secret in our rendering (by its keyword, e.g. ``auth_pass``), on both sides.
            keys = secret_keywords(redact(self.content))
            old, new = mask_secret_lines(redact(old), keys), mask_secret_lines(redact(new), keys)
        text = "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                            f"{self.path} (on host)" if current is not None else "/dev/null",
                                            f"{self.path} (provisioner)"))
        if not text and raw_differs:   # only masked values differ: say so without showing them
            text = f"--- {self.path} (on host)\n+++ {self.path} (provisioner)\n@@ secret values differ (masked) @@\n"
        return text

    def apply(self, ctx: StepContext) -> None:
        fact = ctx.facts.get(self.name)
        content = self.desired(fact)
        if self.block:   # re-read right before writing: merge into what is there now
            content = _merge_block(ctx.remote.read(self.path) or "", self.content)
        ctx.remote.put(self.path, content, mode=self.mode, owner=self.owner, group=self.group,
                       validate=self.validate)


class AbsentStep(Step):
    """A path that must not exist (e.g. a join config holding a token, after the join)."""

    def __init__(self, path: str, notify: str | None = None):
        self.path, self.notify = path, notify
        self.name = f"remove {path}"

    def probe(self) -> str:
        return f"[ ! -e {q(self.path)} ]"

    def change(self, fact, notified):
        return None if fact and fact.rc == 0 else Change(self.name, [f"rm -f {self.path}"])

    def apply(self, ctx):
        ctx.remote.run(f"rm -f {q(self.path)}")


# --------------------------------------------------------------------------- commands

class CommandStep(Step):
    """Run ``command`` unless ``check`` (a read-only command) exits 0; or when notified."""

    def __init__(self, name: str, check: str | None, command: str, *, notify: str | None = None,
                 when_notified: str | None = None, why: str = "", timeout: float | None = None,
                 writes: tuple[str, ...] = ()):
        self.name, self.check, self.command, self.writes = name, check, command, tuple(writes)
        self.notify, self.when_notified, self.why, self.timeout = notify, when_notified, why, timeout

    def identity(self) -> str:
        return f"cmd {self.check} => {self.command} @{self.when_notified}"

    def probe(self) -> str | None:
        return self.check

    def change(self, fact, notified):
        if self.when_notified and self.when_notified in notified:
            return Change(self.name, [self.command])
        if self.check is None:
            return None if self.when_notified else Change(self.name, [self.command])
        if fact is not None and fact.rc == 0:
            return None
        return Change(self.name, [self.command])

    def still_needed(self, remote: Remote, notified: set[str]) -> bool:
        """Re-check right before running: an earlier step may have done the work."""
        if self.when_notified and self.when_notified in notified:
            return True
        if self.check is None:
            return True
        return not remote.run(self.check, check=False, quiet=True).ok

    def apply(self, ctx):
        ctx.remote.run(self.command, why=self.why or self.name, timeout=self.timeout)


class WaitStep(Step):
    """Poll a read-only command until it succeeds, with a deadline. Never a change."""

    counts = False

    def __init__(self, name: str, command: str, timeout: float = 60, interval: float = 0.5, *,
                 only_after_change: bool = False):
        self.name, self.command, self.timeout, self.interval = name, command, timeout, interval
        # only_after_change: the step before this wait already reads the same condition in its probe (e.g. a
        # worker's join is "done" only when its Node exists): when the run changed nothing on the host, that
        # read proved it, and reading it twice would only cost the host another process.
        self.only_after_change = only_after_change

    def identity(self) -> str:
        return f"wait {self.command}"

    def probe(self) -> str | None:
        # One try in the probe round trip: a settled host needs no wait.
        return None if self.only_after_change else self.command

    def change(self, fact, notified):
        if self.only_after_change or (fact is not None and fact.rc == 0):
            return None          # (the engine still waits when an earlier step of the host changed something)
        return self.waiting()

    def waiting(self) -> Change:
        return Change(self.name, [f"until {self.command}; do sleep {self.interval}; done (max {self.timeout:g}s)"])

    def apply(self, ctx):
        # One remote loop, not one SSH round trip per poll.
        loop = (f"end=$(( $(date +%s) + {int(self.timeout)} )); "
                f"until {self.command}; do [ $(date +%s) -ge $end ] && exit 124; sleep {self.interval}; done")
        ctx.remote.run(loop, why=f"timed out after {self.timeout:g}s: {self.name}", quiet=False,
                       timeout=self.timeout + 30)


class ServiceStep(Step):
    """A systemd unit enabled and running; restarted (or reloaded) when a tag it follows was raised."""

    def __init__(self, unit: str, *, restart_on: tuple[str, ...] = (), reload: bool = False, enabled: bool = True,
                 started: bool = True):
        self.unit, self.restart_on, self.reload, self.enabled = unit, tuple(restart_on), reload, enabled
        self.started = started
        self.name = f"service {unit}"

    def identity(self) -> str:
        return f"service {self.unit} {self.restart_on} {self.reload} {self.enabled} {self.started}"

    def probe(self) -> str:
        # One process for both (systemctl show), not is-enabled + is-active: the probe runs on every host
        # in every run.
        return f"systemctl show -p UnitFileState -p ActiveState -- {q(self.unit)} 2>/dev/null"

    @staticmethod
    def _state(fact) -> tuple[str, str]:
        """(enabled, active) from ``systemctl show``'s ``Key=value`` lines."""
        props = dict(line.split("=", 1) for line in (fact.output if fact else "").splitlines() if "=" in line)
        return props.get("UnitFileState", ""), props.get("ActiveState", "")

    def _commands(self, fact, notified) -> list[str]:
        enabled, active = self._state(fact)
        u = q(self.unit)
        cmds = []
        if self.enabled and enabled not in ("enabled", "static", "alias", "indirect", "generated"):
            cmds.append(f"systemctl enable {u}")
        if not self.started:
            pass
        elif active != "active":
            cmds.append(f"systemctl restart {u}")
        elif any(tag in notified for tag in self.restart_on):
            cmds.append(f"systemctl {'reload-or-restart' if self.reload else 'restart'} {u}")
        return cmds

    def change(self, fact, notified):
        cmds = self._commands(fact, notified)
        return Change(f"{self.name}: " + ", ".join(c.split()[1] for c in cmds), cmds) if cmds else None

    def apply(self, ctx):
        fact = ctx.facts.get(self.name)
        for cmd in self._commands(fact, ctx.notified):
            ctx.remote.run(cmd, why=f"{self.unit} did not start - see `journalctl -u {self.unit}` on the host")
        if not self.started:
            return
        ctx.remote.run(f"systemctl is-active --quiet {q(self.unit)} || "
                       f"{{ sleep 1; systemctl is-active --quiet {q(self.unit)}; }}",
                       why=f"{self.unit} is not running - see `journalctl -u {self.unit}` on the host")


class PackagesStep(Step):
    """Debian packages installed (at a version prefix when given) and optionally held."""

    def __init__(self, packages: dict[str, str | None], *, hold: bool = False, notify: str | None = None,
                 debs: dict[str, tuple[str, str]] | None = None):
        self.packages, self.hold, self.notify = dict(packages), hold, notify
        self.debs = debs or {}     # package -> (version prefix, URL of a .deb outside any repository)
        self.name = "packages " + " ".join(f"{p}={v}" if v else p for p, v in self.packages.items())

    def identity(self) -> str:
        return f"{self.name} hold={self.hold} debs={sorted(self.debs.items())}"

    def probe(self) -> str:
        names = " ".join(q(p) for p in self.packages)
        return f"dpkg-query -W -f='${{Package}} ${{Version}} ${{db:Status-Abbrev}}\\n' {names} 2>/dev/null"

    def _missing(self, fact) -> tuple[list[str], list[str]]:
        text = fact.output if fact else ""
        installed, held = {}, set()
        for line in text.splitlines():
            parts = line.split()
            # db:Status-Abbrev: the desired action (i install, h hold - what `apt-mark hold` sets, so no
            # separate `apt-mark showhold` is needed) + the current state (i = installed) + error flag.
            if len(parts) >= 3 and parts[2][1:2] == "i":
                installed[parts[0]] = parts[1]
                if parts[2][:1] == "h":
                    held.add(parts[0])
        missing = [p for p, v in self.packages.items()
                   if p not in installed or (v and not version_matches(installed[p], v))]
        unheld = [p for p in self.packages if self.hold and p not in held]
        return missing, unheld

    def change(self, fact, notified):
        missing, unheld = self._missing(fact)
        if not missing and not unheld:
            return None
        cmds = []
        if missing:
            cmds.append("apt-get install " + " ".join(f"{p}={self.packages[p]}*" if self.packages[p] else p
                                                      for p in missing))
        if self.hold:
            cmds.append("apt-mark hold " + " ".join(self.packages))
        return Change(f"install {' '.join(missing)}" if missing else f"hold {' '.join(unheld)}", cmds)

    def apply(self, ctx):
        missing, _ = self._missing(ctx.facts.get(self.name))
        # Lock timeout: an apt left running by an interrupted earlier run finishes first instead of failing us.
        apt = (f"DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout={apt_lock_timeout()} "
               "-o Dpkg::Options::=--force-confold -o Dpkg::Options::=--force-confdef")
        if missing:
            specs, fetch = [], []
            for p in missing:
                version = self.packages[p]
                if p in self.debs:
                    url = self.debs[p][1]
                    local = f"/var/cache/provisioner/{url.rsplit('/', 1)[1]}"
                    fetch.append(f"mkdir -p /var/cache/provisioner && curl -fsSL --retry 3 -o {q(local)}.part {q(url)}"
                                 f" && mv -f {q(local)}.part {q(local)}")
                    specs.append(q(local))
                elif version:
                    # Resolve the exact version (e.g. 1.30.2-1.1) the repository has for this prefix.
                    var = "v_" + "".join(c if c.isalnum() else "_" for c in p)
                    fetch.append(f"{var}=$(apt-cache madison {q(p)} | awk -v want={q(version)} "
                                 f"{q(AWK_VERSION_MATCH)})"
                                 f" && [ -n \"${var}\" ] || {{ echo '{p} {version} is not in the configured "
                                 f"repositories' >&2; exit 100; }}")
                    specs.append(f"{q(p)}=\"${var}\"")
                else:
                    specs.append(q(p))
            script = " && ".join([f"{apt} update"] + fetch +
                                 [f"{apt} install --allow-change-held-packages {' '.join(specs)}"])
            ctx.remote.run(script, why="package installation failed", timeout=900)
        if self.hold:
            ctx.remote.run("apt-mark hold " + " ".join(q(p) for p in self.packages))


# --------------------------------------------------------------------------- custom

class FuncStep(Step):
    """A step whose decision and action need Python (kubeadm init/join, fetching files)."""

    def __init__(self, name: str, probe: str | None, needed: Callable[[Fact | None], Change | None],
                 action: Callable[[StepContext], None], *, identity: str = "", notify: str | None = None,
                 writes: tuple[str, ...] = ()):
        self.name, self._probe, self._needed, self._action = name, probe, needed, action
        self.writes = tuple(writes)
        self._identity, self.notify = identity or name, notify

    def identity(self) -> str:
        return self._identity

    def probe(self):
        return self._probe

    def change(self, fact, notified):
        return self._needed(fact)

    def apply(self, ctx):
        self._action(ctx)


# --------------------------------------------------------------------------- batched probes

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


__all__ = ["AbsentStep", "Change", "CommandStep", "FileStep", "FuncStep", "PackagesStep", "ServiceStep",
           "Step", "StepContext", "StepFailed", "WaitStep", "batch_probes",
           "package_probe_names", "unit_probe_units"]
