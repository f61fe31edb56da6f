"""The admin kubeconfig made usable on the admin machine, and merged into ~/.kube/config on request.

``up`` fetches the first control plane's admin.conf into the state directory: its server is the
endpoint's name (``https://kubeapi.example.org:6443``), which nodes resolve through /etc/hosts but
the admin machine usually does not. The copy made here points at the endpoint's address (a SAN of
the API certificate) unless that name resolves here, and names its cluster, user and context after
the inventory's cluster, so several clusters can live in one kubeconfig.
"""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import yaml

from provisioner.errors import UsageError
from provisioner.secrets import write_private


def resolves(name: str) -> bool:
    """Whether the admin machine can resolve ``name`` (its resolver: /etc/hosts, DNS, ...)."""
    try:
        socket.getaddrinfo(name, None)
    except (OSError, UnicodeError):
        return False
    return True


def for_admin_machine(text: str, inv, source: str, resolve=None) -> dict:
    """admin.conf's document with the server reachable from here and every name the cluster's."""
    try:
        doc = yaml.safe_load(text)
        (cluster,), (user,) = doc["clusters"], doc["users"]
    except (yaml.YAMLError, KeyError, TypeError, ValueError):
        raise UsageError(f"{source}: not the single-cluster kubeconfig `up` fetches - run `provisioner up` "
                         "again to fetch it") from None
    server = urlsplit(cluster["cluster"]["server"])
    address = inv.control_plane_endpoint.address
    if server.hostname and address and not (resolve or resolves)(server.hostname):
        server = server._replace(netloc=f"{address}:{server.port or inv.api_port}")
    name = inv.cluster_name
    return {"apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": name, "cluster": {**cluster["cluster"], "server": urlunsplit(server)}}],
            "users": [{"name": f"{name}-admin", "user": user["user"]}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": f"{name}-admin"}}],
            "current-context": name}


def merged(existing: dict | None, mine: dict) -> dict:
    """``existing`` with ``mine``'s cluster, user and context added (same names replaced), made current."""
    doc = dict(existing or {"apiVersion": "v1", "kind": "Config", "preferences": {}})
    for section in ("clusters", "users", "contexts"):
        names = {e["name"] for e in mine[section]}
        doc[section] = [e for e in doc.get(section) or [] if e.get("name") not in names] + mine[section]
    doc["current-context"] = mine["current-context"]
    return doc


def write_kubeconfig(path: Path, doc: dict) -> None:
    write_private(path, yaml.safe_dump(doc, sort_keys=False))


def merge_into(path: Path, mine: dict) -> None:
    """Merge into the kubeconfig at ``path`` (created when missing), keeping its other entries."""
    try:
        existing = yaml.safe_load(path.read_text()) if path.exists() else None
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(f"{path}: cannot read it as a kubeconfig ({exc}) - fix or move it, then re-run") from None
    if existing is not None and not isinstance(existing, dict):
        raise UsageError(f"{path}: is not a kubeconfig (not a mapping) - fix or move it, then re-run")
    write_kubeconfig(path, merged(existing, mine))
