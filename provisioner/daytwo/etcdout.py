"""etcdctl's JSON outputs as typed values: ``snapshot status``, ``member list``, ``endpoint status``.

>>> parse_snapshot_status('{"hash":3975404223,"revision":42,"totalKey":17,"totalSize":2101248}')
SnapshotStatus(hash=3975404223, revision=42, total_key=17, total_size=2101248)
>>> [m.name for m in parse_member_list('{"header":{},"members":[{"ID":1,"name":"m1","peerURLs":[],"clientURLs":[]}]}')]
['m1']

Formats: etcd-io/etcd etcdctl/ctlv3/command/printer_json.go (v3.4 and v3.5; 3.5 adds "version" to the
snapshot status, 3.6 moves ``snapshot status`` to etcdutl with the same fields). 64-bit IDs are JSON
numbers there; grpc-gateway answers carry them as strings - both are read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


class EtcdOutputError(ValueError):
    """Not the JSON etcdctl prints."""


@dataclass(frozen=True)
class SnapshotStatus:
    hash: int
    revision: int
    total_key: int
    total_size: int

    def as_dict(self) -> dict:
        return {"hash": self.hash, "revision": self.revision, "totalKey": self.total_key, "totalSize": self.total_size}


@dataclass(frozen=True)
class Member:
    id: int
    name: str              # "" for a member added but not started
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...]


@dataclass(frozen=True)
class EndpointStatus:
    endpoint: str
    member_id: int
    leader: int
    db_size: int
    version: str


def _json(text: str, what: str):
    try:
        return json.loads(text)
    except ValueError:
        raise EtcdOutputError(f"{what}: not JSON: {text.strip()[:80]!r}") from None


def _int(value, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise EtcdOutputError(f"{what}: {value!r} is not a number") from None


def parse_snapshot_status(text: str) -> SnapshotStatus:
    doc = _json(text, "snapshot status")
    if not isinstance(doc, dict) or not {"hash", "revision", "totalKey", "totalSize"} <= set(doc):
        raise EtcdOutputError("snapshot status: expected hash, revision, totalKey and totalSize")
    return SnapshotStatus(*(_int(doc[k], f"snapshot status {k}") for k in ("hash", "revision", "totalKey",
                                                                          "totalSize")))


def parse_member_list(text: str) -> list[Member]:
    doc = _json(text, "member list")
    if not isinstance(doc, dict) or not isinstance(doc.get("members"), list):
        raise EtcdOutputError("member list: no members")
    return [Member(_int(m.get("ID"), "member ID"), str(m.get("name") or ""), tuple(m.get("peerURLs") or ()),
                   tuple(m.get("clientURLs") or ())) for m in doc["members"]]


def parse_endpoint_status(text: str) -> list[EndpointStatus]:
    doc = _json(text or "[]", "endpoint status")
    if not isinstance(doc, list):
        raise EtcdOutputError("endpoint status: expected a JSON list")
    out = []
    for row in doc:
        st = row.get("Status") or {}
        out.append(EndpointStatus(str(row.get("Endpoint", "")), _int((st.get("header") or {}).get("member_id"),
                                                                      "member_id"),
                                  _int(st.get("leader"), "leader"), _int(st.get("dbSize"), "dbSize"),
                                  str(st.get("version", ""))))
    return out


def human_size(n: int) -> str:
    """Bytes in SI units, one decimal (as etcdctl's tables: 2.1 MB)."""
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"
