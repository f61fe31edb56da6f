"""CLI: python -m tests.lab up|down|status|ssh NODE [-i INVENTORY] [--name NAME]."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from . import config
from .lab import Lab, destroy
from .requirements import missing_requirements
from .util import LabError


def main(argv: list[str] | None = None) -> int:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-i", "--inventory", default=str(config.DEFAULT_INVENTORY),
                        help="inventory to boot (up only; default inventories/lab.yaml)")
    common.add_argument("--name", default=config.DEFAULT_NAME, help="lab name (default lab)")
    common.add_argument("-v", "--verbose", action="store_true")
    p = argparse.ArgumentParser(prog="python -m tests.lab", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    upp = sub.add_parser("up", parents=[common], help="boot the inventory's nodes")
    upp.add_argument("--hops", type=int, choices=(1, 2),
                     help="behind 1 or 2 bastions (tests/lab/bastion.py; default inventory "
                          "inventories/bastion.yaml, name bast1/bast2)")
    sub.add_parser("down", parents=[common], help="remove everything of the lab, by name")
    sub.add_parser("status", parents=[common], help="show the nodes")
    dp = sub.add_parser("demo", parents=[common], help="boot the lab, run `provisioner up` and `verify --failover` on it")
    dp.add_argument("--keep", action="store_true", help="leave the lab (and cluster) up afterwards")
    dp.add_argument("--vm", action="store_true",
                    help="QEMU VMs instead (tests/lab/vmdemo.py): preflight, up, reboot every VM, check")
    sp = sub.add_parser("ssh", parents=[common], help="ssh to a node with the lab key")
    sp.add_argument("-u", "--user", default="ops", help="default ops")
    sp.add_argument("node", help="hostname or address")
    sp.add_argument("remote", nargs=argparse.REMAINDER, help="command to run")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if a.verbose else logging.INFO,
                        format="%(levelname)s %(message)s")
    if a.command == "up":
        reasons = missing_requirements()
        if reasons:
            print("cannot boot the lab: " + "; ".join(reasons), file=sys.stderr)
            return 2
        if a.hops:
            from .bastion import BASTION_INVENTORY, NAMES, bastion_lab, proxy_jump
            inv = BASTION_INVENTORY if a.inventory == str(config.DEFAULT_INVENTORY) else a.inventory
            name = NAMES[a.hops] if a.name == config.DEFAULT_NAME else a.name
            lab = bastion_lab(inv, a.hops, name).up()
            print(f"proxy_jump: {proxy_jump(lab)}")
        else:
            lab = Lab(a.inventory, name=a.name).up()
        print(f"key: {lab.key_path}\nknown_hosts: {lab.known_hosts_path}\n"
              f"repo: {lab.repo_url} (key {lab.repo_key_path})")
        _print_status(lab)
        return 0
    if a.command == "demo":
        reasons = missing_requirements()
        if reasons:
            print("cannot boot the lab: " + "; ".join(reasons), file=sys.stderr)
            return 2
        if a.vm:
            from .vmdemo import demo_vm
            return demo_vm(keep=a.keep)
        from .demo import demo
        return demo(keep=a.keep)
    if a.command == "down":
        destroy(a.name)
        print(f"lab {a.name}: down, nothing left")
        return 0
    try:
        lab = _lab_class(a.name).attach(a.name)
    except LabError as exc:
        print(exc, file=sys.stderr)
        return 1
    if a.command == "status":
        _print_status(lab)
        return 0
    node = lab.node(a.node)
    remote = a.remote[1:] if a.remote[:1] == ["--"] else a.remote
    # The lab's ssh_config: its key and known_hosts only, and the jumps to a node behind bastions.
    cmd = ["ssh", "-F", str(lab.ssh_config_path), f"{a.user}@{node.hostname}", *remote]
    os.execvp("ssh", cmd)
    return 1


def _lab_class(name: str) -> type[Lab]:
    """VmLab for a lab of VMs (its state dir says so), else Lab."""
    from .lab import state_dir_for
    if (state_dir_for(name) / "vm").exists():
        from .vm import VmLab
        return VmLab
    return Lab


def _print_status(lab: Lab) -> None:
    for host, st in lab.status().items():
        state = st["systemd"] if st["running"] else "stopped"
        print(f"{host:<12} {st['address']:<16} {st['mac']}  {state}")


if __name__ == "__main__":
    sys.exit(main())
