"""One host's shell for ``up`` and ``reset``: privileged commands and atomic file writes.

>>> r = Remote(target, open_connection(target, keys), log)      # doctest: +SKIP
>>> r.run("systemctl is-active haproxy", check=False).stdout    # doctest: +SKIP
'active'
>>> r.put("/etc/haproxy/haproxy.cfg", text, mode=0o600, validate="haproxy -c -f %s")  # doctest: +SKIP

Commands are strings built by our code, every inventory value in them
quoted; they run as root (directly, or ``sudo -n`` for a sudo user) and are
written to the run log with secrets redacted. Files travel over SFTP into a
private 0700 directory, then are copied next to their target with the final
owner and mode and renamed over it: a reader sees the old file or the new
one, never half of one, and secrets are never on a command line.
"""

from __future__ import annotations

import io
import shlex
import threading
import time
from dataclasses import dataclass

from provisioner.errors import ProvisionerError
from provisioner.transport import SshTarget

TAIL_LINES = 15


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


class StepFailed(ProvisionerError):
    """A command on a host failed; carries what the user needs to act on it."""

    exit_code = 1

    def __init__(self, host: str, command: str, rc: int, tail: str, why: str = ""):
        self.host, self.command, self.rc, self.tail, self.why = host, command, rc, tail, why
        super().__init__(f"{host}: {why or 'command failed'} (exit {rc}): {command}")


class Remote:
    """Privileged commands and atomic uploads on one host over one Fabric connection."""

    def __init__(self, target: SshTarget, conn, log=None, redact=lambda s: s):
        self.target = target
        self.conn = conn
        self.log = log
        self.redact = redact
        self._tmpdir: str | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.target.name

    def _privileged(self, command: str) -> str:
        script = f"set -o pipefail; {command}"
        if self.target.user == "root":
            return f"bash -c {shlex.quote(script)}"
        return f"sudo -n bash -c {shlex.quote(script)}"

    def run(self, command: str, *, check: bool = True, why: str = "", timeout: float | None = None,
            quiet: bool = False) -> CommandResult:
        """Run ``command`` as root; raise :class:`StepFailed` on a non-zero exit when ``check``."""
        start = time.monotonic()
        res = self.conn.run(self._privileged(command), hide=True, warn=True, in_stream=False, timeout=timeout)
        result = CommandResult(command, res.exited, res.stdout, res.stderr, time.monotonic() - start)
        if self.log and not quiet:
            self.log.command(self.name, command, result, self.redact)
        if check and not result.ok:
            raise StepFailed(self.name, self.redact(command), result.rc, self.redact(result.tail()), why)
        return result

    def tmpdir(self) -> str:
        """A private (0700) directory owned by the SSH user, for uploads; made once per session."""
        with self._lock:
            if self._tmpdir is None:
                res = self.conn.run("umask 077; mktemp -d /tmp/.provisioner.XXXXXXXX", hide=True, warn=True,
                                    in_stream=False)
                if res.exited != 0:
                    raise StepFailed(self.name, "mktemp -d", res.exited, res.stderr.strip(), "cannot make a temp dir")
                self._tmpdir = res.stdout.strip()
            return self._tmpdir

    def put(self, path: str, content: str | bytes, *, mode: int = 0o644, owner: str = "root",
            group: str = "root", validate: str | None = None) -> None:
        """Write ``content`` to ``path`` atomically with owner/group/mode.

        ``validate`` (like ``haproxy -c -f %s``) runs on the staged copy first;
        when it fails the target is left untouched."""
        data = content.encode() if isinstance(content, str) else content
        staged = f"{self.tmpdir()}/{path.strip('/').replace('/', '__')}"
        with self.conn.sftp().open(staged, "wb") as fh:
            fh.chmod(0o600)        # before any byte is written: secrets are never world-readable
            fh.write(data)
        directory, name = path.rsplit("/", 1)
        directory = directory or "/"
        temp = f"{directory}/.{name}.provisioner-new"
        q = shlex.quote
        steps = [f"mkdir -p {q(directory)}"]
        if validate:
            steps.append(validate.replace("%s", q(staged)))
        steps += [f"cp {q(staged)} {q(temp)}", f"chown {q(owner)}:{q(group)} {q(temp)}",
                  f"chmod {mode:o} {q(temp)}", f"mv -f {q(temp)} {q(path)}", f"rm -f {q(staged)}"]
        try:
            self.run(" && ".join(steps), why=f"writing {path} failed" + (" validation" if validate else ""))
        except StepFailed:
            self.conn.run(f"rm -f {q(staged)}", hide=True, warn=True, in_stream=False)
            raise

    def read(self, path: str) -> str | None:
        """A file's text (as root), or None when it does not exist."""
        res = self.run(f"if [ -e {shlex.quote(path)} ]; then cat {shlex.quote(path)}; else exit 3; fi",
                       check=False, quiet=True)
        if res.rc == 3:
            return None
        if not res.ok:
            raise StepFailed(self.name, f"cat {path}", res.rc, res.stderr.strip(), f"cannot read {path}")
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
        finally:
            self.conn.run(f"rm -f {q(staged)}", hide=True, warn=True, in_stream=False)
        return buf.getvalue()

    def close(self) -> None:
        if self._tmpdir:
            try:
                self.conn.run(f"rm -rf {shlex.quote(self._tmpdir)}", hide=True, warn=True, in_stream=False)
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass
        self.conn.close()
