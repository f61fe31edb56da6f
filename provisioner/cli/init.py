"""``provisioner init``: a starter inventory from addresses (options, or prompts on a terminal)."""

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from provisioner.cli.app import app
from provisioner.cli.console import err, out
from provisioner.cli.paths import check_output_file, write_output
from provisioner.errors import InventoryError, UsageError

AddressesOpt = Annotated[Optional[list[str]], typer.Option(
    metavar="ADDRS", show_default=False,
    help="Addresses, comma-separated or repeated; NAME=ADDRESS names the host.")]


def _ask(label: str, required: bool = False) -> list[str]:
    from provisioner.starter import split_addresses

    answer = typer.prompt(label, default="" if not required else None, show_default=False, err=True)
    return split_addresses([answer])


@app.command()
def init(
    control_planes: Annotated[Optional[list[str]], typer.Option(
        "--control-planes", metavar="ADDRS", show_default=False,
        help="Control-plane addresses, comma-separated or repeated; NAME=ADDRESS names the host.")] = None,
    workers: Annotated[Optional[list[str]], typer.Option(
        "--workers", metavar="ADDRS", show_default=False, help="Worker addresses (as --control-planes).")] = None,
    load_balancers: Annotated[Optional[list[str]], typer.Option(
        "--load-balancers", metavar="ADDRS", show_default=False,
        help="Load-balancer addresses for mode pair (as --control-planes).")] = None,
    mode: Annotated[Optional[str], typer.Option(
        "--mode", metavar="pair|colocated|none", show_default=False,
        autocompletion=lambda incomplete: [m for m in ("pair", "colocated", "none") if m.startswith(incomplete)],
        help="Load balancer: pair (own lb hosts), colocated (on the control planes), none (one control plane). "
             "Default: pair with --load-balancers, colocated with several control planes, else none.")] = None,
    vip: Annotated[Optional[str], typer.Option(
        "--vip", metavar="ADDRESS", show_default=False, help="The API's virtual IP (modes pair and colocated).")] = None,
    cluster_name: Annotated[str, typer.Option("--cluster-name", metavar="NAME", help="The cluster's name.")] = "kubernetes",
    user: Annotated[Optional[str], typer.Option(
        "--user", metavar="NAME", show_default=False, help="SSH login user on every host (default root).")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", metavar="FILE", help="Inventory file to write.")] = Path(
        "inventory.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Write a commented starter inventory that validates as written, and its JSON Schema beside it
    (inventory.schema.json, for editors). Without --control-planes on a terminal, it asks.

    Example: provisioner init --control-planes 10.0.0.11,10.0.0.12,10.0.0.13 --workers 10.0.0.21 --vip 10.0.0.10
    """
    from provisioner.inventory import inventory_json_schema
    from provisioner.starter import Starter, choose_mode, split_addresses, starter_inventory
    from provisioner.validation import check_document
    from provisioner.yaml_source import load_yaml_text

    check_output_file(output, "-o")
    if output.exists() and not force:
        raise UsageError(f"-o {output}: exists - pass --force to replace it, or -o another file")
    cps, wks, lbs = split_addresses(control_planes), split_addresses(workers), split_addresses(load_balancers)
    if not cps:
        if not sys.stdin.isatty():
            raise UsageError("--control-planes: give at least one address (like --control-planes 10.0.0.11), "
                             "or run init on a terminal to be asked")
        cps = _ask("Control-plane addresses (comma-separated)", required=True)
        wks = wks or _ask("Worker addresses (comma-separated, empty: the control planes run workloads)")
        if mode is None and len(cps) > 1:
            lbs = lbs or _ask("Load-balancer addresses (empty: keepalived + haproxy on the control planes)")
    starter = Starter(control_planes=cps, workers=wks, load_balancers=lbs, mode=mode, vip=vip,
                      cluster_name=cluster_name, user=user)
    if choose_mode(starter) != "none" and not vip and sys.stdin.isatty():
        starter = Starter(**{**starter.__dict__, "vip": typer.prompt("Virtual IP for the API (a free address)",
                                                                     err=True)})
    text = starter_inventory(starter)
    inv, problems = check_document(load_yaml_text(text, str(output)))
    errors = [p for p in problems if not p.warning]
    if inv is None or errors:
        raise InventoryError(errors or problems)
    write_output(output, text, "-o")
    schema = output.with_name("inventory.schema.json")
    write_output(schema, json.dumps(inventory_json_schema(), indent=2) + "\n", "-o")
    for p in problems:
        err.print(str(p))
    from provisioner.hostlist import plural

    out.print(f"wrote {output} ({plural(len(inv.hosts), 'host')}, mode {inv.load_balancer.mode}) and {schema}; "
              f"next: provisioner validate -i {output}")
