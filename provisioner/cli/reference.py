"""Reference tables that need no inventory: supported versions (and, with preflight's checks, the checks)."""

from typing import Annotated

import typer

from provisioner.cli.app import app
from provisioner.cli.console import out

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@app.command()
def versions(as_json: JsonOpt = False) -> None:
    """Supported Kubernetes minors (default patch, end of life, pause image) with the Calico, Docker and
    cri-dockerd versions each goes with, and flannel's pins.

    Example: provisioner versions --json
    """
    from provisioner.versions_report import versions_report

    out.print(versions_report(as_json))
