"""The Typer application: the root (``--version``, ``-h``, bare ``provisioner`` = help) and its groups.
A command module adds itself with ``@app.command()``; provisioner.cli imports every command module."""

from typing import Annotated

import typer

from provisioner.cli.console import out

app = typer.Typer(
    name="provisioner",
    help="Build highly available kubeadm clusters over SSH.\n\n"
         "Start: provisioner init, then provisioner validate (reads ./inventory.yaml or -i FILE).",
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
inventory_app = typer.Typer(help="Inventory helpers (schema for editors).")
app.add_typer(inventory_app, name="inventory")
etcd_app = typer.Typer(help="etcd of the control planes: snapshot and status.")
app.add_typer(etcd_app, name="etcd")


def _help_when_bare(ctx: typer.Context) -> None:
    """A group run without a command prints its help and exits 0 (asking for help is no error)."""
    if ctx.invoked_subcommand is None:
        out.print(ctx.get_help())
        raise typer.Exit(0)


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("provisioner")
    except PackageNotFoundError:       # run from a source tree that was never installed
        return "unknown (not installed)"


def _print_version(value: bool) -> None:
    if value:
        out.print(f"provisioner {version()}")
        raise typer.Exit(0)


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    show_version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_print_version,
                                               help="Print the version and exit.")] = False,
) -> None:
    """Build highly available kubeadm clusters over SSH."""
    _help_when_bare(ctx)


@inventory_app.callback(invoke_without_command=True)
def inventory_group(ctx: typer.Context) -> None:
    """Inventory helpers (schema for editors)."""
    _help_when_bare(ctx)


@etcd_app.callback(invoke_without_command=True)
def etcd_group(ctx: typer.Context) -> None:
    """etcd of the control planes: snapshot and status."""
    _help_when_bare(ctx)
