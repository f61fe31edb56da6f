"""Inventories pointing the product at a booted lab: the lab's key, its addresses.

>>> path = lab_inventory(lab, tmp_path)                       # doctest: +SKIP
>>> run_cli("preflight", "-i", str(path), *lab_cli_args(lab))  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.support.cli import REPO


def lab_inventory(lab, directory: Path, source: Path = REPO / "inventories/lab.yaml", **changes) -> Path:
    """Copy ``source`` with the lab's SSH key set; ``changes`` may patch hosts by name,
    e.g. ``hosts={"node1": {"ssh": {"user": "nosudo"}}}``."""
    data = yaml.safe_load(source.read_text())
    data.setdefault("host_defaults", {}).setdefault("ssh", {})["key"] = str(lab.key_path)
    for name, patch in changes.pop("hosts", {}).items():
        host = next(h for h in data["hosts"] if h["hostname"] == name)
        for key, value in patch.items():
            host[key] = {**host.get(key, {}), **value} if isinstance(value, dict) else value
    data.update(changes)
    path = directory / "inventory.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def colocated_inventory(directory: Path, *, cluster: str, vip: str, host_address: str, network, registry: str,
                        key: Path, hosts: list[dict], nic: str | None = None) -> Path:
    """inventories/lab.yaml moved onto a small lab network of its own (the VM lab's, the Vagrant boxes'):
    colocated load balancing, the mirrors and NTP on ``host_address``, ``hosts`` as the inventory's hosts."""
    data = yaml.safe_load((REPO / "inventories/lab.yaml").read_text())
    mirror = f"http://{host_address}:8080"
    data["cluster_name"] = cluster
    data["control_plane_endpoint"] = {"name": "kubeapi", "address": vip}
    data["load_balancer"] = {"mode": "colocated"}
    data["networking"]["host_network"] = str(network)
    data["package_mirrors"] = {k: v.replace("http://172.31.250.1:8080", mirror)
                               for k, v in data["package_mirrors"].items()}
    data["ntp_servers"] = [host_address]
    data["registry"] = {"hostname": "harbor", "address": registry}
    if nic:
        data["host_defaults"]["nic"] = nic
    data["host_defaults"]["ssh"]["key"] = str(key)
    data["hosts"] = hosts
    path = directory / "inventory.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def lab_cli_args(lab, state: Path | None = None) -> list[str]:
    """Options every product command run against the lab needs (the lab's known_hosts)."""
    args = ["--known-hosts", str(lab.known_hosts_path)]
    if state:
        args += ["--state-dir", str(state)]
    return args


def sh(lab, node, command):
    """``command`` as root on a lab node (the lab's own SSH client, not the product's); its result."""
    with lab.ssh(node) as s:
        return s.sudo(command)


def standin_calls(lab, node) -> list[dict]:
    """The stand-ins' call log on a node (/var/log/standins/calls.log): one dict per call."""
    import json

    out = sh(lab, node, "cat /var/log/standins/calls.log 2>/dev/null || true").stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def lab_model(directory: Path, **changes):
    """inventories/lab.yaml with top-level ``changes``, validated: the product's model (no lab booted)."""
    from provisioner.validation import load_inventory

    data = yaml.safe_load((REPO / "inventories/lab.yaml").read_text())
    data.update(changes)
    path = directory / "inventory.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_inventory(path)
