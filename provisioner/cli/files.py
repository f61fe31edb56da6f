"""Commands that work on the admin machine only: validate, render, vagrantfile, inventory schema."""

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from provisioner.cli.app import app, inventory_app
from provisioner.cli.common import hosts, load, state_dir, summary
from provisioner.cli.console import err, out
from provisioner.cli.options import InventoryOpt, LimitOpt, StateDirOpt, StrictOpt
from provisioner.cli.paths import cannot_write, check_output_dir, check_output_file, write_output


@app.command()
def validate(inventory: InventoryOpt = None, strict: StrictOpt = False) -> None:
    """Check an inventory and report every problem at once, one line each.

    Exit 0 when valid (warnings allowed unless --strict), 2 when not.

    Example: provisioner validate -i inventory.yaml
    """
    path, inv = load(inventory, strict)
    out.print(f"{path}: valid - {summary(inv)}")


@app.command()
def render(
    inventory: InventoryOpt = None,
    output: Annotated[Path, typer.Option("--output", "-o", metavar="DIR",
                                         help="Directory for the per-host trees.")] = Path("out"),
    limit: LimitOpt = None,
    state_dir_opt: StateDirOpt = None,
) -> None:
    """Render every config file into OUTPUT/<hostname>/<target path>, plus OUTPUT/manifest.json.

    Secrets are generated on first use into the state directory and reused;
    files holding them are written mode 0600 and never printed.

    Example: provisioner render -i inventory.yaml -o out --limit ha1
    """
    from provisioner.hostlist import plural
    from provisioner.desired import ASSUMED_OS
    from provisioner.output import write_tree
    from provisioner.phases.base import OsInfo
    from provisioner.render import render_cluster
    from provisioner.secrets import SecretStore
    from provisioner.state import Journal, StateLock

    _, inv = load(inventory)
    only = hosts(inv, limit)
    check_output_dir(output, "-o")
    state = state_dir(inv, state_dir_opt)
    with StateLock(state, "render"):     # secrets are created on first use: never by two runs at once
        secrets = SecretStore(state).load_or_create(inv.cluster_name)
    # The OS each host reported on the last up/up --plan (the apt lines name it); others: desired.ASSUMED_OS.
    seen = {h: OsInfo.parse(o) for h, o in Journal(state).os.items()}
    rendered = render_cluster(inv, secrets, only=only, os=seen)
    try:
        manifest = write_tree(rendered, output, inv.cluster_name)
    except OSError as exc:
        raise cannot_write(output, "-o", exc) from None
    count = len({f.host for f in rendered})
    out.print(f"rendered {plural(len(rendered), 'file')} for {plural(count, 'host')} of cluster {inv.cluster_name} "
              f"into {output}/ (manifest: {manifest})")
    unread = sorted({f.host for f in rendered} - set(seen))
    if unread:
        out.print(f"apt lines for {ASSUMED_OS.distro} {ASSUMED_OS.codename} {ASSUMED_OS.arch} on {', '.join(unread)}: "
                  "no run has read their OS yet (`up --plan` does)")


@app.command()
def vagrantfile(
    inventory: InventoryOpt = None,
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", metavar="FILE", help="Write the Vagrantfile here (default stdout).", show_default=False)] = None,
    box: Annotated[Optional[list[str]], typer.Option(
        "--box", help="Box for every VM (BOX), or for one host (HOST=BOX); repeatable. Short names: "
        "ubuntu-22.04, ubuntu-24.04, rocky-9 (bento boxes). Default: bento/ubuntu-24.04.",
        metavar="[HOST=]BOX", show_default=False)] = None,
    cpus: Annotated[Optional[list[str]], typer.Option(
        "--cpus", help="CPUs per role or host (ROLE=N, HOST=N); repeatable. Default: control-plane 2, worker 1, lb 1.",
        metavar="ROLE|HOST=N", show_default=False)] = None,
    memory: Annotated[Optional[list[str]], typer.Option(
        "--memory", help="Memory in MB per role or host (ROLE=MB, HOST=MB); repeatable. "
        "Default: control-plane 2048, worker 1536, lb 512.", metavar="ROLE|HOST=MB", show_default=False)] = None,
) -> None:
    """Render a Vagrantfile with one VM per inventory host, at its inventory address.

    Each VM gets the inventory address on a private network (the box's second
    NIC, eth1 on most boxes: set host_defaults.nic to match), CPUs and memory
    by role, libvirt and VirtualBox settings, and the admin's public key (the
    inventory's ssh.key + .pub) for the inventory's SSH user. The first NIC is
    the provider's NAT (10.0.2.15): the cluster never uses it.

    Example: provisioner vagrantfile -i inventories/vagrant.yaml --box rocky-9 --box ha1=ubuntu-22.04 -o Vagrantfile
    """
    from provisioner.vagrant import machine_specs, render_vagrantfile

    path, inv = load(inventory)
    if output:
        check_output_file(output, "-o")
    text = render_vagrantfile(inv, machine_specs(inv, boxes=box, cpus=cpus, memory=memory), source=str(path))
    write_output(output, text, "-o")
    if output:
        err.print(f"wrote {output} ({len(inv.hosts)} machines); next: vagrant up --provider=libvirt")


@inventory_app.command("schema")
def inventory_schema(
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", metavar="FILE", help="Write to this file instead of stdout.")] = None,
) -> None:
    """Print the inventory's JSON Schema (for editor completion and checks).

    Example: provisioner inventory schema -o inventory.schema.json
    """
    from provisioner.inventory import inventory_json_schema

    write_output(output, json.dumps(inventory_json_schema(), indent=2) + "\n", "-o")
