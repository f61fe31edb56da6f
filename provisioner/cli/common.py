"""What the commands share: load the inventory, pick and claim the state directory, open SSH."""

from pathlib import Path
from typing import TYPE_CHECKING

from provisioner.cli.console import err
from provisioner.cli.options import SshArgs
from provisioner.cli.paths import inventory_path
from provisioner.errors import UsageError

if TYPE_CHECKING:
    from provisioner.inventory import Inventory


def load(given: Path | None, strict: bool = False) -> tuple[Path, "Inventory"]:
    """The inventory's path and model; warnings printed, every problem raised at once when invalid."""
    from provisioner.errors import InventoryError
    from provisioner.validation import check_inventory

    path = inventory_path(given)
    ctx = current_context()
    source = ctx.get_parameter_source("inventory") if ctx is not None else None
    if source is not None and source.name == "ENVIRONMENT" and not path.exists():
        raise UsageError(f"PROVISIONER_INVENTORY={path}: file not found - fix the variable, or pass -i FILE")
    inv, problems = check_inventory(path)
    errors = [p for p in problems if strict or not p.warning]
    for p in problems:
        if p.warning and not strict:
            err.print(str(p))
    if inv is None or errors:
        raise InventoryError(errors or problems)
    return path, inv


def hosts(inv: "Inventory", values: list[str] | None, option: str = "--limit") -> list[str] | None:
    """``--limit`` values as host names: commas and ranges (``node[1-3]``) expanded, each one known."""
    from provisioner.hostlist import expand
    from provisioner.validation import require_known_hosts

    try:
        names = [n for v in values or [] for n in expand(v)]
    except ValueError:
        raise UsageError(f"{option}: cannot read {', '.join(values or [])} - write names, commas and "
                         "ranges like node[1-3] (low to high)") from None
    if values and not names:       # `--limit ''` must never mean "every host"
        raise UsageError(f"{option}: names no host - write names, commas and ranges like node[1-3]")
    require_known_hosts(inv, names, option)
    return list(dict.fromkeys(names)) or None


def state_dir(inv: "Inventory", given: Path | None, record: bool = True) -> Path:
    """``--state-dir`` or the cluster's default one, checked to belong to this inventory's cluster."""
    from provisioner.state import check_no_unclaimed_state, claim_state, default_state_dir

    if given is None:
        check_no_unclaimed_state(inv)
    state = given or default_state_dir(inv)
    if state.exists() and not state.is_dir():
        raise UsageError(f"--state-dir {state}: is a file - give a directory")
    try:
        return claim_state(state, inv, record)
    except OSError as exc:
        raise UsageError(f"--state-dir {state}: cannot write there ({exc.strerror or exc}) - "
                         "choose another directory") from None


def current_context():
    """The running command's click context, or None. typer vendors click as ``typer._click`` since
    0.2x (its commands never reach click's own context stack); older typer runs on click."""
    try:
        from typer._click.globals import get_current_context
    except ImportError:
        from click import get_current_context
    return get_current_context(silent=True)


def open_ssh(inv: "Inventory", state: Path, args: SshArgs):
    """The command's SSH (host keys, resolution, shared jump hosts), every host resolved now - a bad
    ssh_config value fails here (exit 2) - and closed when the command ends."""
    from provisioner.sshconfig import Resolver, SshConfig
    from provisioner.transport import HostKeys, Ssh

    ssh = Ssh(HostKeys(args.known_hosts or state / "known_hosts", accept_new=args.accept_new_host_keys),
              Resolver(SshConfig.load(args.ssh_config), user=args.user, port=args.port)).bind(inv)
    ctx = current_context()
    if ctx is not None:
        ctx.call_on_close(ssh.close)
    return ssh


def summary(inv: "Inventory") -> str:
    from provisioner.hostlist import plural
    from provisioner.versions import kubeadm_api_version

    return (f"cluster {inv.cluster_name}: {plural(len(inv.hosts), 'host')} "
            f"({plural(len(inv.control_planes), 'control plane')}, {plural(len(inv.workers), 'worker')}, "
            f"{plural(len(inv.load_balancers), 'load balancer')}, mode {inv.load_balancer.mode}), "
            f"Kubernetes {inv.kubernetes_version} ({kubeadm_api_version(inv.version)}), "
            f"endpoint {inv.endpoint_name}:{inv.api_port}")
