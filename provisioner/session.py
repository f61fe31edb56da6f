"""The open connections of one ``up``/``reset``: one verified SSH connection per host, its OS and machine id.

>>> session = Session(inv, ssh, log, redactor, timeout=10, parallel=32)   # doctest: +SKIP
>>> session.open(["master1", "node1"]); session.remotes["node1"].run("true")   # doctest: +SKIP

A host's first read (:data:`SESSION_PROBE`) tells its OS and machine id; it rides in preflight's round
trip as :data:`SESSION_READ` when ``up`` ran preflight, so such a host needs no command of its own.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from provisioner.errors import UNREACHABLE, ProvisionerError
from provisioner.inventory import Inventory
from provisioner.phases.base import OsInfo
from provisioner.remote import PREFIX, Remote, StepFailed
from provisioner.runlog import RunLog
from provisioner.transport import HostKeys, Ssh, Unreachable


class Session:
    """The open connections of one run: one verified SSH connection per host.

    ``reuse`` holds connections opened earlier in the run (preflight's), taken over
    instead of logging in again; whatever is not taken is closed with the session.
    """

    def __init__(self, inv: Inventory, keys: Ssh | HostKeys, log: RunLog, redactor: Callable[[str], str],
                 timeout: float, parallel: int, reuse: dict | None = None, command_timeout: float | None = None):
        self.inv, self.log, self.redactor = inv, log, redactor
        self.keys = Ssh.of(keys).bind(inv)      # the run's SSH: resolution, host keys, shared jump hosts
        self._own_ssh = self.keys is not keys   # made here from bare HostKeys: its jump hosts close with us
        self.timeout, self.parallel, self.command_timeout = timeout, parallel, command_timeout
        self.reuse = reuse if reuse is not None else {}
        self.remotes: dict[str, Remote] = {}
        self.os: dict[str, OsInfo] = {}
        self.identity: dict[str, str] = {}     # hostname -> machine-id (a reinstalled host has another)
        self.os_lines: dict[str, str] = {}     # hostname -> the OS probe's answer (remembered for the next run)

    def open(self, names: list[str], known: dict[str, str] | None = None) -> None:
        """Take over (or open) each host's connection and read its OS and machine id.

        ``known``: hostname -> the output of :data:`SESSION_READ`, read read-only in preflight's round trip
        on the connection taken over here: such a host needs no first command of its own - unless
        leftovers of an earlier run are there to remove (:meth:`Remote.start` does that)."""
        hosts = [self.inv.host(n) for n in names if n not in self.remotes]
        known = known or {}
        errors: list[Unreachable] = []
        failed: list[StepFailed] = []

        def one(host):
            target = self.keys.target(host)
            conn = self.reuse.pop(host.hostname, None)
            read = known.get(host.hostname) if conn is not None and conn.is_connected else None
            if conn is None or not conn.is_connected:
                try:
                    conn = self.keys.open(target, self.timeout)
                except Unreachable as exc:
                    errors.append(exc)
                    return
            remote = Remote(target, conn.fabric(), self.log, self.redactor, self.command_timeout)
            remote.current_step = "open the session (leftovers, OS release, machine id)"
            if read is not None and LEFTOVERS_SEEN not in read.splitlines():
                lines = read.splitlines() + ["", ""]       # preflight's round trip read it: no command here
            else:
                try:
                    # start(): also removes this user's temp dirs left by runs that no longer exist.
                    info = remote.start(SESSION_PROBE)
                except (Unreachable, StepFailed) as exc:
                    (errors if isinstance(exc, Unreachable) else failed).append(exc)
                    remote.close()
                    return
                lines = info.stdout.splitlines() + ["", ""]
            self.os_lines[host.hostname] = lines[0].strip()
            self.os[host.hostname] = OsInfo.parse(lines[0])
            self.identity[host.hostname] = lines[1].strip()
            self.remotes[host.hostname] = remote

        with ThreadPoolExecutor(max_workers=max(1, min(self.parallel, len(hosts) or 1))) as pool:
            list(pool.map(one, hosts))
        if errors:
            raise UnreachableHosts(errors)
        if failed:
            raise failed[0]
        unsupported = [f"{n} runs {o.distro} {o.version}" for n, o in self.os.items()
                       if o.family not in ("debian", "rhel")]
        if unsupported:
            raise ProvisionerError(f"up: {'; '.join(unsupported)} - up supports the Debian (apt) and RHEL (dnf) "
                                   "families (preflight audits any); use Debian 12, Ubuntu 22.04/24.04, Rocky or "
                                   "AlmaLinux 9/10")

    def close(self) -> None:
        for remote in self.remotes.values():
            remote.close()
        for conn in self.reuse.values():
            conn.close()
        self.reuse.clear()
        if self._own_ssh:
            self.keys.close()


# What a session reads first on a host: its OS (which commands the steps use) and its machine id.
# The machine id read by bash itself (`cat /etc/machine-id 2>/dev/null`, without a process): its one line.
SESSION_PROBE = (f"{OsInfo.PROBE}; _m=; {{ IFS= read -r _m < /etc/machine-id; }} 2>/dev/null; "
                 "[ -z \"$_m\" ] || printf '%s\\n' \"$_m\"")
# The same, read-only, to ride in preflight's round trip, plus whether a run's temp dir is there (a
# builtin glob): only then does the session's first command have work to do (Remote.start removes
# those of dead runs).
LEFTOVERS_SEEN = "leftovers"
SESSION_READ = f"{SESSION_PROBE}; compgen -G '{PREFIX}*' >/dev/null && echo {LEFTOVERS_SEEN}; true"


class UnreachableHosts(ProvisionerError):
    exit_code = UNREACHABLE

    def __init__(self, errors: list[Unreachable]):
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))
