"""Day-two commands on a built cluster: certificates and etcd (provisioner.daytwo does the work)."""

from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

from provisioner.cli.app import app, etcd_app
from provisioner.cli.common import load, open_ssh, state_dir
from provisioner.cli.options import InventoryOpt, SshArgs, StateDirOpt, ssh_options
from provisioner.cli.paths import check_output_file

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
RenewOpt = Annotated[bool, typer.Option("--renew", help="Renew every certificate, restart the control-plane static "
                                        "pods one control plane at a time, refresh the kept admin.conf.")]


def _run(command: Callable[..., int], inventory: Path | None, given_state: Path | None, ssh: SshArgs,
         *args) -> None:
    """Load and check the inventory and its state directory, connect as the CLI does, run ``command``;
    its return value is the exit code."""
    path, inv = load(inventory)
    state = state_dir(inv, given_state)
    code = command(path, *args, state_dir=state, keys=open_ssh(inv, state, ssh), timeout=ssh.timeout)
    raise typer.Exit(code)


@app.command()
@ssh_options()
def certs(inventory: InventoryOpt = None, renew: RenewOpt = False, as_json: JsonOpt = False,
          state_dir_opt: StateDirOpt = None, *, ssh: SshArgs) -> None:
    """Certificate expiry on every control plane (kubeadm certs check-expiration); warns under 30 days.

    Example: provisioner certs -i inventory.yaml --json
    """
    from provisioner.daytwo.certs import certs_command

    _run(certs_command, inventory, state_dir_opt, ssh, renew, as_json)


@etcd_app.command("snapshot")
@ssh_options()
def etcd_snapshot(
    inventory: InventoryOpt = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", metavar="FILE", show_default=False,
                                                   help="Where to keep the snapshot (default: the state "
                                                        "directory's snapshots/, timestamped).")] = None,
    as_json: JsonOpt = False,
    state_dir_opt: StateDirOpt = None,
    *, ssh: SshArgs,
) -> None:
    """Save an etcd snapshot on a healthy control plane, check it, fetch it here (mode 0600).

    Example: provisioner etcd snapshot -i inventory.yaml -o backup.db
    """
    from provisioner.daytwo.etcd import etcd_snapshot_command

    if output is not None:
        check_output_file(output, "-o")
    _run(etcd_snapshot_command, inventory, state_dir_opt, ssh, output, as_json)


@etcd_app.command("status")
@ssh_options()
def etcd_status(inventory: InventoryOpt = None, as_json: JsonOpt = False, state_dir_opt: StateDirOpt = None,
                *, ssh: SshArgs) -> None:
    """etcd members, leader and database size.

    Example: provisioner etcd status -i inventory.yaml
    """
    from provisioner.daytwo.etcd import etcd_status_command

    _run(etcd_status_command, inventory, state_dir_opt, ssh, as_json)
