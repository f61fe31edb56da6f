"""One host's shell for ``up`` and ``reset``: privileged commands and atomic file writes.

>>> r = Remote(target, ssh.open(target).fabric(), log)                  # doctest: +SKIP
>>> r.run("systemctl is-active haproxy", check=False).stdout    # doctest: +SKIP
'active'
>>> r.put("/etc/haproxy/haproxy.cfg", text, mode=0o600, validate="haproxy -c -f %s")  # doctest: +SKIP

Commands are strings built by our code, every inventory value in them
quoted; they run as root (directly, or ``sudo -n`` for a sudo user) and are
written to the run log with secrets redacted. Files travel over SFTP into a
private 0700 directory, then are copied next to their target with the final
owner and mode and renamed over it: a reader sees the old file or the new
one, never half of one, and secrets are never on a command line.

Every wait is bounded: each command runs under the host's ``timeout`` (the
step's bound, or ``command_timeout`` when the run sets one), the connection
has SSH keepalives and a dead-peer bound (:func:`provisioner.hops.bound`, set when it opens).
Whatever goes wrong surfaces as one of two exceptions, never a raw paramiko
or invoke one: :class:`StepFailed` (the host answered: exit code or signal,
output tail and a hint from :func:`diagnose`) or
:class:`~provisioner.transport.ConnectionLost` (the host stopped answering).

The private directory is named ``/tmp/.provisioner.<boot id>.<sshd pid>.XXXXXX``:
the sshd process serving our connection lives exactly as long as the run's
session, so :meth:`Remote.start` (the first command of every session) removes
the directories of runs that no longer exist - also those of a killed run.
"""

from __future__ import annotations

import io
import os
import re
import shlex
import signal as signals
import threading
import time
from dataclasses import dataclass

import invoke
import paramiko

from provisioner.errors import FAILED, ProvisionerError
from provisioner.transport import ConnectionLost, SshTarget, is_alive

TAIL_LINES = 15
DEFAULT_TIMEOUT = 600   # seconds a command may run when its step sets no bound
KILL_AFTER = 10         # seconds between the remote timeout's SIGTERM and its SIGKILL
LOCAL_GRACE = 30        # our own wait beyond the remote bound (a host that stopped answering)
TIMED_OUT = (124, 137)  # coreutils timeout: TERM sent (124), KILL needed (128 + 9)
PREFIX = "/tmp/.provisioner."


def apt_lock_timeout() -> int:
    """Seconds apt waits for a dpkg lock held by another process (an unattended upgrade finishes
    first instead of failing us): ``PROVISIONER_APT_LOCK_TIMEOUT``, default 300."""
    value = os.environ.get("PROVISIONER_APT_LOCK_TIMEOUT", "")
    return int(value) if value.isdigit() else 300

# Removes this user's /tmp/.provisioner.<boot>.<pid>.* directories whose sshd session is gone
# (a run that ended without cleaning up: SIGKILL, power loss), and old-style ones older than a
# day. A live run's directory is kept: its sshd process still exists in this boot.
LEFTOVERS = r"""{ boot=$(cut -c1-8 /proc/sys/kernel/random/boot_id)
for d in /tmp/.provisioner.*; do
  [ -d "$d" ] && [ ! -L "$d" ] && [ -n "$(find "$d" -maxdepth 0 -user %(user)s)" ] || continue
  rest=${d#/tmp/.provisioner.}
  case "$rest" in
    *.*.*) b=${rest%%%%.*}; p=${rest#*.}; p=${p%%%%.*}
           if [ "$b" = "$boot" ] && grep -qs sshd "/proc/$p/comm"; then continue; fi ;;
    *) [ -n "$(find "$d" -maxdepth 0 -mmin +1440)" ] || continue ;;
  esac
  rm -rf -- "$d" && echo "removed leftover $d"
done; } >&2"""


@dataclass
class CommandResult:
    command: str
    rc: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def tail(self, lines: int = TAIL_LINES) -> str:
        text = (self.stdout + ("\n" if self.stdout and self.stderr else "") + self.stderr).strip()
        return "\n".join(text.splitlines()[-lines:])


def signal_name(rc: int | None) -> str:
    """``SIGKILL`` for a shell's 137, "" when ``rc`` is a plain exit code."""
    if rc is None or rc <= 128 or rc > 128 + 64:
        return ""
    try:
        return signals.Signals(rc - 128).name
    except ValueError:
        return f"signal {rc - 128}"


def diagnose(tail: str, user: str = "", timed_out: float | None = None) -> str:
    """The hint for a failed command, from its output (what a user would search for).

    >>> diagnose("sudo: a password is required", user="ops")
    'ops needs passwordless sudo on this host: add `ops ALL=(ALL) NOPASSWD:ALL` to /etc/sudoers.d/ (visudo -f), or log in as root (ssh.user: root)'
    """
    if timed_out:
        return (f"the command ran longer than {timed_out:g}s and was stopped; look at what it waits for on the host "
                "(a lock, the network, a prompt), or allow more time with --command-timeout")
    if re.search(r"sudo: (a password is required|a terminal is required|\d+ incorrect password)", tail):
        who = user or "the SSH user"
        return (f"{who} needs passwordless sudo on this host: add `{who} ALL=(ALL) NOPASSWD:ALL` to "
                "/etc/sudoers.d/ (visudo -f), or log in as root (ssh.user: root)")
    m = re.search(r"Could not get lock (\S+)\.?( It is held by process (\d+) \(([^)]*)\))?", tail)
    if m or "Unable to acquire the dpkg frontend lock" in tail or "dpkg was interrupted" in tail:
        if m and m.group(2):
            holder = f"process {m.group(3)} ({m.group(4)}) holds {m.group(1).rstrip('.')}"
        else:
            holder = "another package manager holds the dpkg lock"
        if "dpkg was interrupted" in tail and not m:
            return "an earlier dpkg run was interrupted: run `dpkg --configure -a` on the host, then re-run"
        return (f"{holder}: wait for it to finish (unattended-upgrades, another apt) or stop it, then re-run; "
                "we waited PROVISIONER_APT_LOCK_TIMEOUT seconds (default 300) for it")
    if "No space left on device" in tail or "no space left" in tail.lower():
        return "a file system on the host is full: free space (df -h) and re-run"
    if "Temporary failure resolving" in tail or "Could not resolve" in tail:
        return "the host cannot resolve a name: check /etc/resolv.conf and the package mirror in the inventory"
    return ""


class StepFailed(ProvisionerError):
    """A command on a host failed; carries what the user needs to act on it.

    ``rc`` is the exit code (None when there is none, e.g. an upload), ``signal``
    the signal that ended the command (``SIGTERM`` when our timeout stopped it),
    ``step`` the step that ran it, ``hint`` what to do."""

    exit_code = FAILED

    def __init__(self, host: str, command: str, rc: int | None, tail: str, why: str = "", *, step: str = "",
                 signal: str = "", hint: str = ""):
        self.host, self.command, self.rc, self.tail, self.why = host, command, rc, tail, why
        self.step, self.signal, self.hint = step, signal, hint
        status = f"exit {rc}" if rc is not None else "no exit code"
        super().__init__(f"{host}: {why or 'command failed'} ({status}{', ' + signal if signal else ''}): {command}")


class Remote:
    """Privileged commands and atomic uploads on one host over one Fabric connection."""

    def __init__(self, target: SshTarget, conn, log=None, redact=lambda s: s, command_timeout: float | None = None):
        self.target = target
        self.conn = conn
        self.log = log
        self.redact = redact
        self.command_timeout = command_timeout   # when set, the bound of every command (--command-timeout)
        self.current_step = ""                   # set by the engine: named in failures
        self._tmpdir: str | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.target.name

    def _privileged(self, command: str, bound: float) -> str:
        # The remote `timeout` (as root) ends the whole command tree at the bound: no command of
        # ours is left running on the host after we gave up on it.
        script = f"set -o pipefail; {command}"
        limit = f"timeout -k {KILL_AFTER} {bound:g} bash -c {shlex.quote(script)}"
        return limit if self.target.user == "root" else f"sudo -n {limit}"

    def _lost(self, what: str, exc: BaseException | None = None) -> ConnectionLost:
        detail = f" ({type(exc).__name__}: {exc})" if exc is not None and str(exc) else ""
        return ConnectionLost(self.name, f"the SSH session ended {what}{detail} - is {self.target.address} up "
                                         "and reachable? Re-run to resume once it is")

    def _failed(self, command: str, rc: int | None, tail: str, why: str, *, signal: str = "",
                hint: str = "") -> StepFailed:
        tail = self.redact(tail)
        return StepFailed(self.name, self.redact(command), rc, tail, why, step=self.current_step, signal=signal,
                          hint=hint or diagnose(tail, self.target.user))

    def raw(self, command: str, timeout: float = 60):
        """``command`` as the SSH user (no sudo), bounded; an invoke Result. Raises :class:`ConnectionLost`."""
        try:
            res = self.conn.run(command, hide=True, warn=True, in_stream=False, timeout=timeout)
        except (invoke.exceptions.CommandTimedOut, invoke.exceptions.ThreadException, paramiko.SSHException,
                EOFError, OSError) as exc:
            raise self._lost(f"during `{self.redact(command)}`", exc) from None
        if res.exited == -1 and not is_alive(self.conn):
            raise self._lost(f"during `{self.redact(command)}`")
        return res

    def run(self, command: str, *, check: bool = True, why: str = "", timeout: float | None = None,
            quiet: bool = False) -> CommandResult:
        """Run ``command`` as root; raise :class:`StepFailed` on a non-zero exit when ``check``.

        The command is stopped on the host after ``timeout`` seconds (the run's
        ``command_timeout`` when set, else ``timeout``, else ``DEFAULT_TIMEOUT``):
        a :class:`StepFailed` naming the bound, also when ``check`` is False. A
        session that dies meanwhile raises :class:`ConnectionLost`."""
        bound = float(self.command_timeout or timeout or DEFAULT_TIMEOUT)
        start = time.monotonic()
        try:
            res = self.conn.run(self._privileged(command, bound), hide=True, warn=True, in_stream=False,
                                timeout=bound + KILL_AFTER + LOCAL_GRACE)
        except invoke.exceptions.CommandTimedOut as exc:
            if not is_alive(self.conn):
                raise self._lost(f"after {time.monotonic() - start:.0f}s of `{self.redact(command)}`") from None
            out = exc.result
            raise self._failed(command, None, CommandResult(command, -1, out.stdout, out.stderr, 0).tail(),
                               f"no end of the command {bound + KILL_AFTER + LOCAL_GRACE:g}s after it started",
                               hint=diagnose("", timed_out=bound)) from None
        except (invoke.exceptions.ThreadException, paramiko.SSHException, EOFError, OSError) as exc:
            raise self._lost(f"during `{self.redact(command)}`", exc) from None
        result = CommandResult(command, res.exited, res.stdout, res.stderr, time.monotonic() - start)
        if self.log and not quiet:
            self.log.command(self.name, command, result, self.redact)
        if res.exited == -1 and not is_alive(self.conn):
            raise self._lost(f"after {result.seconds:.0f}s of `{self.redact(command)}`")
        if result.rc in TIMED_OUT and result.seconds >= bound - 0.5:
            if self.log and quiet:
                self.log.command(self.name, command, result, self.redact)
            raise self._failed(command, result.rc, result.tail(), f"timed out after {bound:g}s",
                               signal="SIGTERM" if result.rc == 124 else "SIGKILL",
                               hint=diagnose("", timed_out=bound))
        if check and not result.ok:
            raise self._failed(command, result.rc, result.tail(), why, signal=signal_name(result.rc))
        return result

    def start(self, probe: str) -> CommandResult:
        """The first command of a session: remove leftovers of dead runs, then run ``probe`` (read-only).

        Raises :class:`StepFailed` (e.g. sudo wants a password) or :class:`ConnectionLost`."""
        cleanup = LEFTOVERS % {"user": shlex.quote(self.target.user)}
        result = self.run(f"{cleanup}\n{probe}", check=False, quiet=True)
        if self.log:
            for line in result.stderr.splitlines():
                if line.startswith("removed leftover "):
                    self.log.note(self.name, line)
        if not result.ok:
            raise self._failed(probe, result.rc, result.tail(), "the first command of the session failed",
                               signal=signal_name(result.rc))
        return result

    def tmpdir(self) -> str:
        """A private (0700) directory owned by the SSH user, for uploads; made once per session.

        Its name carries the boot id and the PID of the sshd process serving this session
        (the login shell's parent): :data:`LEFTOVERS` keeps it while that process lives."""
        with self._lock:
            if self._tmpdir is None:
                res = self.raw(f"umask 077; mktemp -d \"{PREFIX}$(cut -c1-8 /proc/sys/kernel/random/boot_id)"
                               f".$PPID.XXXXXX\"")
                if res.exited != 0:
                    raise self._failed("mktemp -d", res.exited, res.stderr.strip(), "cannot make a temp dir")
                self._tmpdir = res.stdout.strip()
            return self._tmpdir

    def put(self, path: str, content: str | bytes, *, mode: int = 0o644, owner: str = "root",
            group: str = "root", validate: str | None = None) -> None:
        """Write ``content`` to ``path`` atomically with owner/group/mode.

        ``validate`` (like ``haproxy -c -f %s``) runs on the staged copy first;
        when it fails the target is left untouched."""
        data = content.encode() if isinstance(content, str) else content
        tmp = self.tmpdir()
        staged = f"{tmp}/{path.strip('/').replace('/', '__')}"
        q = shlex.quote
        try:
            with self.conn.sftp().open(staged, "wb") as fh:
                fh.chmod(0o600)        # before any byte is written: secrets are never world-readable
                fh.write(data)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            if not is_alive(self.conn):
                raise self._lost(f"while uploading {path}", exc) from None
            # SFTP servers report ENOSPC as a bare "Failure": ask the file system what happened.
            self.raw(f"rm -f {q(staged)}")
            df = self.raw(f"df -Pk {q(tmp)} | tail -n 1").stdout.strip()
            fields = df.split()
            full = len(fields) >= 6 and fields[3] == "0"
            why = f"upload of {path} failed ({exc or type(exc).__name__})"
            if full:
                why += f": no space left on {fields[5]}"
            hint = (f"{fields[5]} is full on this host (df: {fields[3]} KiB free): free space there and re-run"
                    if full else "check free space (df -h /tmp) and permissions on the host")
            raise self._failed(f"sftp put {staged} ({len(data)} bytes)", None, df, why, hint=hint) from None
        directory, name = path.rsplit("/", 1)
        directory = directory or "/"
        temp = f"{directory}/.{name}.provisioner-new"
        steps = [f"mkdir -p {q(directory)}"]
        if validate:
            steps.append(validate.replace("%s", q(staged)))
        steps += [f"cp {q(staged)} {q(temp)}", f"chown {q(owner)}:{q(group)} {q(temp)}",
                  f"chmod {mode:o} {q(temp)}", f"mv -f {q(temp)} {q(path)}", f"rm -f {q(staged)}"]
        try:
            self.run(" && ".join(steps), why=f"writing {path} failed" + (" validation" if validate else ""))
        except StepFailed:
            self.run(f"rm -f {q(staged)} {q(temp)}", check=False, quiet=True)
            raise

    def read(self, path: str) -> str | None:
        """A file's text (as root), or None when it does not exist."""
        res = self.run(f"if [ -e {shlex.quote(path)} ]; then cat {shlex.quote(path)}; else exit 3; fi",
                       check=False, quiet=True)
        if res.rc == 3:
            return None
        if not res.ok:
            raise self._failed(f"cat {path}", res.rc, res.stderr.strip(), f"cannot read {path}",
                               signal=signal_name(res.rc))
        return res.stdout

    def fetch(self, path: str) -> bytes:
        """A root-only file's bytes, via a private copy owned by the SSH user."""
        staged = f"{self.tmpdir()}/fetch"
        q = shlex.quote
        user = q(self.target.user)
        self.run(f"install -m 0600 -o {user} {q(path)} {q(staged)}", why=f"cannot read {path}", quiet=True)
        buf = io.BytesIO()
        try:
            self.conn.get(staged, local=buf)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            if not is_alive(self.conn):
                raise self._lost(f"while downloading {path}", exc) from None
            raise self._failed(f"sftp get {staged}", None, "", f"cannot download {path} ({exc})") from None
        finally:
            if is_alive(self.conn):
                self.raw(f"rm -f {q(staged)}")
        return buf.getvalue()

    def close(self) -> None:
        if self._tmpdir and is_alive(self.conn):
            try:
                self.raw(f"rm -rf {shlex.quote(self._tmpdir)}", timeout=15)
            except Exception:  # noqa: BLE001 - best effort on the way out; the next run's start() removes it
                pass
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001 - a dead transport may fail to close; nothing is left to free
            pass
