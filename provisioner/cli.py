"""The ``provisioner`` command line: thin commands over plain functions.

Each command parses its options and calls one function of the package; every
``ProvisionerError`` becomes its message on stderr and its exit code (2 for
bad input), never a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from provisioner.errors import ProvisionerError, UsageError
from provisioner.inventory import EXAMPLES_DIR, Inventory, inventory_json_schema
from provisioner.output import write_tree
from provisioner.render import render_cluster
from provisioner.secrets import SecretStore, default_state_dir
from provisioner.validation import check_inventory
from provisioner.versions import kubeadm_api_version

DEFAULT_INVENTORY = EXAMPLES_DIR / "lab.yaml"

app = typer.Typer(
    name="provisioner",
    help="Build highly available kubeadm clusters over SSH.\n\n"
         "Example: provisioner validate -i inventories/seed-ha.yaml",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
inventory_app = typer.Typer(help="Inventory helpers (schema for editors).", no_args_is_help=True)
app.add_typer(inventory_app, name="inventory")

err = Console(stderr=True, markup=False, highlight=False, soft_wrap=True)
out = Console(markup=False, highlight=False, soft_wrap=True)

InventoryOpt = Annotated[
    Path,
    typer.Option("--inventory", "-i", help="Inventory YAML file. Default: the embedded lab example.",
                 show_default=False),
]
StateDirOpt = Annotated[
    Optional[Path],
    typer.Option("--state-dir", help="Where cluster secrets and state live (0700/0600). "
                 "Default: $PROVISIONER_STATE_DIR/<cluster> or ~/.local/state/provisioner/<cluster>.",
                 show_default=False),
]


def _load(path: Path, strict: bool = False) -> Inventory:
    """Validate and print warnings; raise with every problem when invalid."""
    from provisioner.errors import InventoryError

    inv, problems = check_inventory(path)
    errors = [p for p in problems if strict or not p.warning]
    for p in problems:
        if p.warning and not strict:
            err.print(str(p))
    if inv is None or errors:
        raise InventoryError(errors or problems)
    return inv


def _summary(inv: Inventory) -> str:
    lb = inv.load_balancer.mode
    return (f"cluster {inv.cluster_name}: {len(inv.hosts)} hosts ({len(inv.control_planes)} control planes, "
            f"{len(inv.workers)} workers, {len(inv.load_balancers)} load balancers, mode {lb}), "
            f"Kubernetes {inv.kubernetes_version} ({kubeadm_api_version(inv.version)}), "
            f"endpoint {inv.endpoint_name}:{inv.api_port}")


@app.command()
def validate(
    inventory: InventoryOpt = DEFAULT_INVENTORY,
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
) -> None:
    """Check an inventory and report every problem at once, one line each.

    Exit 0 when valid (warnings allowed unless --strict), 2 when not.

    Example: provisioner validate -i inventories/seed-ha.yaml
    """
    inv = _load(inventory, strict)
    out.print(f"{inventory}: valid - {_summary(inv)}")


@app.command()
def render(
    inventory: InventoryOpt = DEFAULT_INVENTORY,
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory for the per-host trees.")] = Path("out"),
    host: Annotated[Optional[list[str]], typer.Option("--host", help="Only this host (repeatable).")] = None,
    state_dir: StateDirOpt = None,
) -> None:
    """Render every config file into OUTPUT/<hostname>/<target path>, plus OUTPUT/manifest.json.

    Secrets are generated on first use into the state directory and reused;
    files holding them are written mode 0600 and never printed.

    Example: provisioner render -i inventories/seed-ha.yaml -o out --host ha1
    """
    inv = _load(inventory)
    known = [h.hostname for h in inv.hosts]
    unknown = [h for h in (host or []) if h not in known]
    if unknown:
        raise UsageError(f"--host: unknown host {', '.join(unknown)} - choose from {', '.join(known)}")
    secrets = SecretStore(state_dir or default_state_dir(inv.cluster_name)).load_or_create(inv.cluster_name)
    files = render_cluster(inv, secrets, only=host)
    manifest = write_tree(files, output, inv.cluster_name)
    hosts = len({f.host for f in files})
    out.print(f"rendered {len(files)} files for {hosts} hosts of cluster {inv.cluster_name} into {output}/ "
              f"(manifest: {manifest})")


@inventory_app.command("schema")
def inventory_schema(
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write to this file instead of stdout.")] = None,
) -> None:
    """Print the inventory's JSON Schema (for editor completion and checks).

    Example: provisioner inventory schema -o inventory.schema.json
    """
    text = json.dumps(inventory_json_schema(), indent=2) + "\n"
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def main() -> None:
    """Entry point: run the app; turn our errors into one line per problem and an exit code."""
    try:
        app()
    except ProvisionerError as exc:
        for line in str(exc).splitlines():
            err.print(line)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
