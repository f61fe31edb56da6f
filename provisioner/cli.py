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


@app.command()
def preflight(
    inventory: InventoryOpt = DEFAULT_INVENTORY,
    host: Annotated[Optional[list[str]], typer.Option("--host", help="Only this host (repeatable).")] = None,
    format: Annotated[str, typer.Option("--format", help="table, json or junit.")] = "table",
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the report here (default stdout).")] = None,
    parallel: Annotated[int, typer.Option("--parallel", min=1, max=256, help="Hosts audited at once.")] = 32,
    timeout: Annotated[float, typer.Option("--timeout", min=1, help="SSH connect timeout, seconds.")] = 10,
    accept_new_host_keys: Annotated[bool, typer.Option(
        "--accept-new-host-keys", help="Trust unknown host keys on first use and record them (never changed ones).")] = False,
    known_hosts: Annotated[Optional[Path], typer.Option(
        "--known-hosts", help="The cluster's known_hosts file. Default: STATE_DIR/known_hosts.")] = None,
    state_dir: StateDirOpt = None,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Fail also on what `up` would fix (swap, sysctls, ...): is the host ready for kubeadm now?")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show passing checks in the table too.")] = False,
) -> None:
    """Audit every node read-only: per-node and cross-node checks, over one SSH connection per host.

    Exit 0 when all pass (warnings allowed), 1 when a check fails, 3 when a
    host is unreachable, 2 for bad input. Nothing on any host is changed.

    Example: provisioner preflight -i inventories/seed-ha.yaml --format junit -o preflight.xml
    """
    from provisioner import report as reports
    from provisioner.preflight import run_preflight
    from provisioner.transport import HostKeys

    if format not in ("table", "json", "junit"):
        raise UsageError(f"--format: {format!r} is not one of table, json, junit - pick one")
    inv = _load(inventory)
    known = [h.hostname for h in inv.hosts]
    unknown = [h for h in (host or []) if h not in known]
    if unknown:
        raise UsageError(f"--host: unknown host {', '.join(unknown)} - choose from {', '.join(known)}")
    state = state_dir or default_state_dir(inv.cluster_name)
    keys = HostKeys(known_hosts or state / "known_hosts", accept_new=accept_new_host_keys)
    result = run_preflight(inv, keys, hosts=host, parallel=parallel, timeout=timeout, inventory_path=str(inventory),
                           strict=strict)
    if format == "table":
        console = Console(file=output.open("w") if output else None, markup=False, highlight=False,
                          width=160 if output else None)
        reports.print_table(result, console, verbose)
    else:
        text = reports.to_json(result) if format == "json" else reports.to_junit(result)
        if output:
            output.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
    if output:
        err.print(f"preflight: exit {result.exit_code}, report written to {output}")
    raise typer.Exit(result.exit_code)


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
