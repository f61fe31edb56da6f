#!/usr/bin/env python3
"""What the shared molecule playbooks need to know about a scenario's inventory, as JSON.

    python cluster_facts.py INVENTORY [--ssh-config FILE [--known-hosts FILE]]

Prints {"cluster", "hosts": [{name, address, port, user, key}], "keys", "state_dir"}
from the validated inventory (so host_defaults are applied exactly as provisioner
applies them). With --ssh-config, also writes an OpenSSH client config with one
``Host NAME`` entry per host, checking host keys against KNOWN_HOSTS (default:
the cluster's own STATE_DIR/known_hosts, which ``provisioner preflight
--accept-new-host-keys`` fills on first contact): testinfra then
reaches each node as ``ssh://NAME`` and the suite matches it to the inventory by
that name.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from provisioner.state import default_state_dir
from provisioner.validation import load_inventory


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inventory")
    parser.add_argument("--ssh-config")
    parser.add_argument("--known-hosts")
    args = parser.parse_args(argv)
    inv = load_inventory(args.inventory)
    state_dir = default_state_dir(inv)
    known_hosts = args.known_hosts or str(state_dir / "known_hosts")
    hosts = [{"name": h.hostname, "address": str(h.address), "port": h.ssh.port, "user": h.ssh.user,
              "key": os.path.expanduser(h.ssh.key) if h.ssh.key else None, "proxy_jump": h.ssh.proxy_jump}
             for h in inv.hosts]
    if args.ssh_config:
        lines = []
        for h in hosts:
            lines += [f"Host {h['name']}", f"  HostName {h['address']}", f"  Port {h['port']}", f"  User {h['user']}",
                      "  BatchMode yes", "  StrictHostKeyChecking yes", f"  UserKnownHostsFile {known_hosts}"]
            if h["key"]:
                lines += [f"  IdentityFile {h['key']}", "  IdentitiesOnly yes"]
            if h["proxy_jump"]:
                lines.append(f"  ProxyJump {h['proxy_jump']}")
        with open(args.ssh_config, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
    json.dump({"cluster": inv.cluster_name, "hosts": hosts,
               "keys": sorted({h["key"] for h in hosts if h["key"]}),
               "state_dir": str(state_dir), "known_hosts": known_hosts}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
