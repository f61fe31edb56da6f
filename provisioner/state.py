"""What ``up`` remembers between runs, in the cluster's state directory (files 0600).

>>> journal = Journal(state_dir)                                   # doctest: +SKIP
>>> journal.why_changed("master1", "prep", inputs_hash)            # doctest: +SKIP
'drift'

- ``journal.json``: every completed (host, phase) with the hash of its
  inputs, and each host's machine identity. It never lets ``up`` skip a
  read: every run probes every step. It says *why* a host changed (``new``,
  ``inputs changed`` since the last completion, or ``drift`` - the host moved
  away from a state we had completed with the same inputs), where a killed
  run stopped, and which hosts came back as other machines (same name, other
  identity: their entries are dropped and they are reported as new).
- ``cluster.json``: when the bootstrap token was issued and the control-plane
  certificates were last uploaded, so later joins know whether the join
  material is still valid (certificates: 2 hours; token: the inventory's TTL).
- ``cluster-id.json``: which cluster the directory belongs to (name, endpoint, first control
  plane and their fingerprint): a command run with another cluster's inventory stops (exit 2)
  instead of sharing its CA, token, journal and known_hosts.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from provisioner.errors import ProvisionerError
from provisioner.secrets import ClusterSecrets, SecretStore, write_private

JOURNAL_VERSION = 2
IDENTITY_FILE = "cluster-id.json"


def cluster_identity(inv) -> dict:
    """What makes a cluster itself: its name, its endpoint and the control plane that holds its CA.
    Workers and further control planes are left out: adding them keeps the cluster (and its state)."""
    ident = {"cluster": inv.cluster_name, "endpoint": f"{inv.endpoint_name} {inv.control_plane_endpoint.address}",
             "first_control_plane": f"{inv.first_control_plane.hostname} {inv.first_control_plane.address}"}
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()
    return {**ident, "fingerprint": digest[:12]}


def _state_base() -> Path:
    return Path(os.environ.get("PROVISIONER_STATE_DIR") or Path(
        os.environ.get("XDG_STATE_HOME") or Path.home() / ".local/state") / "provisioner")


def default_state_dir(inv) -> Path:
    """``$PROVISIONER_STATE_DIR`` (else ``$XDG_STATE_HOME/provisioner``, else ``~/.local/state/provisioner``)
    ``/<cluster>-<fingerprint>``: two inventories with the same cluster name never share a directory."""
    return _state_base() / f"{inv.cluster_name}-{cluster_identity(inv)['fingerprint'][:8]}"


def check_no_unclaimed_state(inv) -> None:
    """Stop when the default directory is new but an unclaimed ``BASE/<cluster>`` exists: earlier releases
    kept every cluster of that name there. Its CA may be this cluster's (a new one would not match the
    nodes) or another's: only the user knows, so they move it or choose."""
    new, old = default_state_dir(inv), _state_base() / inv.cluster_name
    if new.exists() or not old.is_dir() or (old / IDENTITY_FILE).exists():
        return
    raise StateMismatch(f"{old}: state of a cluster named {inv.cluster_name} from an earlier release (no "
                        f"{IDENTITY_FILE}) - if it is this cluster's, `mv {old} {new}`; otherwise pass "
                        f"--state-dir {new}")


class StateMismatch(ProvisionerError):
    """The state directory belongs to another cluster."""

    exit_code = 2


def claim_state(state_dir: Path, inv, record: bool = True) -> Path:
    """Check that ``state_dir`` holds this inventory's cluster (or nothing yet) and, with ``record``, say so
    in it. A directory of another cluster stops the command: its CA, token and journal are not ours."""
    state_dir = Path(state_dir)
    mine = cluster_identity(inv)
    path = state_dir / IDENTITY_FILE
    try:
        found = json.loads(path.read_text())
    except FileNotFoundError:
        found = None
    except (OSError, ValueError) as exc:
        raise StateMismatch(f"{path}: unreadable ({exc}) - remove it if this directory is cluster "
                            f"{inv.cluster_name}'s, or pass --state-dir DIR") from None
    if found is not None and found.get("fingerprint") != mine["fingerprint"]:
        raise StateMismatch(
            f"{state_dir}: holds the state of cluster {found.get('cluster')} (endpoint {found.get('endpoint')}, "
            f"first control plane {found.get('first_control_plane')}), not of this inventory's cluster "
            f"{inv.cluster_name} (endpoint {mine['endpoint']}, first control plane {mine['first_control_plane']}) "
            "- pass --state-dir DIR (a new directory) or set another cluster_name")
    if found is None and record:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_private(path, json.dumps(mine, indent=1, sort_keys=True) + "\n")
    return state_dir


class Journal:
    """Completed (host, phase) pairs with their input hashes; saved after every completion that changes it."""

    FILE = "journal.json"

    def __init__(self, state_dir: Path):
        self.path = Path(state_dir) / self.FILE
        self._lock = threading.Lock()
        self.entries: dict[str, dict] = {}
        self.identities: dict[str, str] = {}
        self.os: dict[str, str] = {}        # hostname -> its OsInfo line, last seen (a guess for the next run)
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text())
                if data.get("version") in (1, JOURNAL_VERSION):
                    self.entries = data.get("done", {})
                    self.identities = data.get("identities", {})
                    self.os = data.get("os", {})
            except (OSError, ValueError):
                self.entries = {}   # unreadable: nothing is known; every step is probed anyway

    @staticmethod
    def key(host: str, phase: str) -> str:
        return f"{host}/{phase}"

    def why_changed(self, host: str, phase: str, inputs: str) -> str:
        """Why (host, phase) has work now: ``new``, ``inputs changed`` or ``drift``."""
        entry = self.entries.get(self.key(host, phase))
        if not entry:
            return "new"
        return "drift" if entry.get("inputs") == inputs else "inputs changed"

    def remember_os(self, seen: dict[str, str]) -> None:
        """Record the OS line each host answered with (saved only when one changed)."""
        with self._lock:
            if all(self.os.get(h) == line for h, line in seen.items()):
                return
            self.os.update(seen)
            self._save()

    def check_identity(self, host: str, identity: str) -> str | None:
        """Record ``host``'s machine identity; when it differs from the recorded one, forget the
        host's entries and say why (the machine was replaced or reinstalled under the same name)."""
        if not identity:
            return None
        with self._lock:
            known = self.identities.get(host)
            self.identities[host] = identity
            if known == identity:
                return None
            dropped = [k for k in self.entries if k.partition("/")[0] == host]
            for key in dropped:
                del self.entries[key]
            self._save()
        if known is None:
            return None
        return (f"{host} is another machine than last run (machine identity {known[:12]} -> {identity[:12]}): "
                "treated as a new host")

    def done_at(self, host: str, phase: str) -> float | None:
        entry = self.entries.get(self.key(host, phase))
        return entry.get("at") if entry else None

    def record(self, host: str, phase: str, inputs: str) -> None:
        """(host, phase) completed with ``inputs``. Written at once (a killed run keeps what completed), but
        only when that is news: a re-run confirming the same inputs keeps the entry and its first ``at``
        and writes nothing (the file is replaced with an fsync, under a lock every host's thread shares).
        Whether the host is really in that state is never taken from here: every run probes every step."""
        with self._lock:
            key = self.key(host, phase)
            if self.entries.get(key, {}).get("inputs") == inputs:
                return
            self.entries[key] = {"inputs": inputs, "at": time.time()}
            self._save()

    def forget(self, host: str, phases: list[str] | None = None) -> None:
        """Drop a host's entries (all, or the given phases): they run again next time."""
        with self._lock:
            for key in list(self.entries):
                h, _, p = key.partition("/")
                if h == host and (phases is None or p in phases):
                    del self.entries[key]
            self._save()

    def _save(self) -> None:
        write_private(self.path, json.dumps({"version": JOURNAL_VERSION, "done": self.entries,
                                             "identities": self.identities, "os": self.os}, indent=1,
                                            sort_keys=True) + "\n")


@dataclass(frozen=True)
class ClusterState:
    """Timestamps of the join material (the material itself lives in secrets.yaml)."""

    token_issued_at: float | None = None
    certs_uploaded_at: float | None = None

    FILE = "cluster.json"

    @classmethod
    def load(cls, state_dir: Path) -> "ClusterState":
        path = Path(state_dir) / cls.FILE
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return cls()

    def save(self, state_dir: Path) -> None:
        write_private(Path(state_dir) / self.FILE, json.dumps(asdict(self), indent=1) + "\n")


class JoinMaterial:
    """What a run renews, recorded explicitly: the join secrets as they are now (the inputs' ClusterSecrets
    is never changed: a renewal makes a new one) and when they were issued; each change saved at once (0600).
    The lock is the caller's (the phases hold ``UpContext.lock``)."""

    def __init__(self, secrets: ClusterSecrets, state: ClusterState, store: SecretStore | None, state_dir: Path):
        self._secrets, self._state, self._store, self._dir = secrets, state, store, Path(state_dir)

    @property
    def secrets(self) -> ClusterSecrets:
        return self._secrets

    @property
    def state(self) -> ClusterState:
        return self._state

    def renewed(self, secret: str, value: str) -> None:
        """A new value of one join secret (``bootstrap_token``, ``certificate_key``), saved before it is used."""
        self._secrets = replace(self._secrets, **{secret: value})
        self._store.save(self._secrets)

    def issued(self, now: float, *stamps: str) -> None:
        """The material named by ``stamps`` (``token_issued_at``, ``certs_uploaded_at``) was registered ``now``."""
        self._state = replace(self._state, **{s: now for s in stamps})
        self._state.save(self._dir)


class StateDirBusy(ProvisionerError):
    """Another run holds the state directory's lock."""

    exit_code = 2


class StateLock:
    """An exclusive lock on a state directory for one run (``flock`` on ``STATE/.lock``).

    >>> with StateLock(state_dir, "up"):          # doctest: +SKIP
    ...     run_up(...)

    A second ``up``/``reset``/``render`` on the same directory fails at once
    (:class:`StateDirBusy`, exit 2) naming the PID that holds it, instead of
    racing it (two CAs, two tokens, a journal overwritten). The kernel drops
    the lock when the holder exits, also on SIGKILL: no stale lock to remove.
    """

    FILE = ".lock"

    def __init__(self, state_dir: Path, command: str):
        self.path = Path(state_dir) / self.FILE
        self.command = command
        self._fd: int | None = None

    def __enter__(self) -> "StateLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> "StateLock":
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise StateDirBusy(f"{self.path.parent}: in use by {holder} - wait for it to finish (or stop it), "
                               "then re-run") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"PID {os.getpid()} (provisioner {self.command})\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)       # before the unlock: a waiter never reads our PID afterwards
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
