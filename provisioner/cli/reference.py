"""Reference tables that need no inventory: supported versions and the preflight checks."""

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


@app.command()
def checks(as_json: JsonOpt = False) -> None:
    """Every preflight check: id, per node or across nodes, severity, what it reads, the fix, the phase of
    `up` that repairs it (only where one does) and the preflight it mirrors (kubeadm, kubespray, kubekey, ours).

    Example: provisioner checks --json
    """
    from provisioner.checks.catalog import checks_report

    out.print(checks_report(as_json))
