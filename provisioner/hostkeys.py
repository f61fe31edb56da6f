"""The host keys we trust (:class:`HostKeys`): the user's known_hosts plus the cluster's own file, and the
policy for a key we do not know (refused, or with ``accept_new`` recorded in the cluster's file and
announced with its SHA256 fingerprint). A changed key is always refused (by paramiko itself).
"""

from __future__ import annotations

import base64
import hashlib
import os
import sys
import threading
from pathlib import Path
from typing import Callable

from provisioner import deferred

deferred.defer("invoke")     # before paramiko: its config module imports invoke for `Match exec` only
import paramiko  # noqa: E402
from paramiko.hostkeys import HostKeys as ParamikoHostKeys  # noqa: E402


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH-style ``SHA256:...`` fingerprint."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def known_hosts_name(address: str, port: int) -> str:
    return address if port == 22 else f"[{address}]:{port}"


def _stderr_line(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class HostKeys:
    """The host keys we trust: the user's known_hosts plus the cluster's own file.

    New keys (with ``accept_new``) are appended to the cluster's file only,
    never to the user's, and announced once each (``announce``: a line on
    stderr by default) with their fingerprint and whose they are.
    Thread-safe: hosts connect in parallel.
    """

    def __init__(self, path: Path, accept_new: bool = False, user_file: Path | None = None,
                 announce: Callable[[str], None] = _stderr_line):
        self.path = Path(path)
        self.accept_new = accept_new
        self.announce = announce
        self.user_file = Path(os.path.expanduser("~/.ssh/known_hosts")) if user_file is None else user_file
        self._lock = threading.Lock()
        self._keys = ParamikoHostKeys()
        for f in (self.user_file, self.path):
            if f and f.is_file():
                try:
                    self._keys.load(str(f))
                except (OSError, paramiko.SSHException):
                    pass  # an unreadable user file must not block the cluster's own keys

    @property
    def files(self) -> list[Path]:
        """Both known_hosts files, the user's first (what ``ssh -o UserKnownHostsFile`` gets)."""
        return [f for f in (self.user_file, self.path) if f]

    def lookup(self, name: str) -> dict | None:
        with self._lock:
            return self._keys.lookup(name)

    def install(self, client: paramiko.SSHClient, whose: str, address: str, port: int) -> None:
        """Give ``client`` our keys for ``address``:``port`` and our policy for keys it does not know (``whose``:
        for messages).

        Only the keys of the name paramiko will look up (paramiko/client.py ``SSHClient.connect``: the address,
        or ``[address]:port`` off port 22): not every known host's keys into every client - each ``add`` scans
        what is there, so that was cubic in the hosts.
        """
        name = known_hosts_name(address, port)
        with self._lock:
            found = self._keys.lookup(name)
            for key_type, key in (found or {}).items():
                client.get_host_keys().add(name, key_type, key)
        client.set_missing_host_key_policy(_Policy(self, whose))

    def record(self, name: str, key: paramiko.PKey, whose: str = "") -> None:
        with self._lock:
            known = self._keys.lookup(name)
            if known is not None and key.get_name() in known and known[key.get_name()] == key:
                return          # accepted meanwhile on another connection: recorded and announced once
            self._keys.add(name, key.get_name(), key)
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            line = f"{name} {key.get_name()} {key.get_base64()}\n"
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a") as fh:
                fh.write(line)
        self.announce(f"{whose or name}: accepted new host key {key.get_name()} {fingerprint(key)} "
                      f"for {name}, recorded in {self.path}")


class UnknownHostKey(paramiko.SSHException):
    pass


class _Policy(paramiko.MissingHostKeyPolicy):
    def __init__(self, keys: HostKeys, whose: str):
        self.keys, self.whose = keys, whose

    def missing_host_key(self, client, hostname, key):
        if not self.keys.accept_new:
            raise UnknownHostKey(
                f"unknown host key {key.get_name()} {fingerprint(key)} for {hostname} - verify it, then re-run "
                f"with --accept-new-host-keys to trust and record it in {self.keys.path}")
        self.keys.record(hostname, key, self.whose)
