"""What ``up`` remembers between runs, in the cluster's state directory (files 0600).

>>> journal = Journal(state_dir)                                   # doctest: +SKIP
>>> journal.is_done("master1", "prep", inputs_hash)                # doctest: +SKIP
True

- ``journal.json``: every completed (host, phase) with the hash of its
  inputs. A killed or failed run leaves the completed ones; the next ``up``
  skips them and resumes at the first incomplete one. A changed inventory
  changes the hashes of exactly the (host, phase) pairs it affects.
- ``cluster.json``: when the bootstrap token was issued and the control-plane
  certificates were last uploaded, so later joins know whether the join
  material is still valid (certificates: 2 hours; token: the inventory's TTL).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from provisioner.secrets import write_private

JOURNAL_VERSION = 1


class Journal:
    """Completed (host, phase) pairs with their input hashes; saved after every completion."""

    FILE = "journal.json"

    def __init__(self, state_dir: Path):
        self.path = Path(state_dir) / self.FILE
        self._lock = threading.Lock()
        self.entries: dict[str, dict] = {}
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text())
                if data.get("version") == JOURNAL_VERSION:
                    self.entries = data.get("done", {})
            except (OSError, ValueError):
                self.entries = {}   # unreadable: behave as if nothing is known, every step re-checks

    @staticmethod
    def key(host: str, phase: str) -> str:
        return f"{host}/{phase}"

    def is_done(self, host: str, phase: str, inputs: str) -> bool:
        entry = self.entries.get(self.key(host, phase))
        return bool(entry) and entry.get("inputs") == inputs

    def done_at(self, host: str, phase: str) -> float | None:
        entry = self.entries.get(self.key(host, phase))
        return entry.get("at") if entry else None

    def record(self, host: str, phase: str, inputs: str) -> None:
        with self._lock:
            self.entries[self.key(host, phase)] = {"inputs": inputs, "at": time.time()}
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
        write_private(self.path, json.dumps({"version": JOURNAL_VERSION, "done": self.entries}, indent=1,
                                            sort_keys=True) + "\n")


@dataclass
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
