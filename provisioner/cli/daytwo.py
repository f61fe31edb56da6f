"""Day-two commands on a built cluster: add nodes, certificates and etcd (provisioner.daytwo does the work)."""

from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

from provisioner.cli.app import app, etcd_app
from provisioner.cli.common import hosts, load, open_ssh, state_dir
from provisioner.cli.console import err, out
from provisioner.cli.options import (InventoryOpt, RunOutput, SshArgs, StateDirOpt, _inventory_hosts, output_options,
                                     ssh_options)
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


@app.command()
@ssh_options()
@output_options()
def add(
    names: Annotated[list[str], typer.Argument(help="Hosts newly listed in the inventory (names, ranges like "
                                               "node[4-5]).", show_default=False, metavar="HOST",
                                               autocompletion=_inventory_hosts)],
    inventory: InventoryOpt = None,
    state_dir_opt: StateDirOpt = None,
    *, ssh: SshArgs, output: RunOutput,
) -> None:
    """Join hosts newly listed in the inventory to the built cluster: preflight, prep, runtime, packages and
    the join on them (control planes one at a time); the /etc/hosts block everywhere and the load balancers'
    haproxy backends (reloaded) follow. Exit 2 when a host is not new or no cluster is built yet.

    Example: provisioner add -i inventory.yaml node4 node5
    """
    import json

    from provisioner.daytwo.add import additions, check_additions, touched
    from provisioner.engine import UpOptions, run_up
    from provisioner.state import Journal, StateLock
    from provisioner.up_report import make_reporter, print_summary, to_json

    path, inv = load(inventory)
    wanted = hosts(inv, names, "HOST")
    state = state_dir(inv, state_dir_opt)
    check_additions(inv, Journal(state), wanted)
    reporter = make_reporter(err, verbose=output.verbose, quiet=output.quiet)
    result = None
    try:
        with StateLock(state, "add"):
            result = run_up(inv, state, open_ssh(inv, state, ssh),
                            UpOptions(parallel=32, timeout=ssh.timeout, inventory_path=str(path)), reporter)
    finally:
        reporter.finish(result)
    human = err if output.json_out == Path("-") else out
    print_summary(result, human, str(path), table=getattr(reporter, "wants_table", True))
    added, others = additions(inv, result, wanted), touched(result, wanted)
    for a in added:
        human.print(f"add: {a.host} ({a.role}) {'joined' if a.joined else 'NOT joined - see above'}")
    for host, phases in others.items():
        human.print(f"add: {host} updated ({', '.join(phases)})")
    if output.json_out:
        from provisioner.cli.paths import write_output
        report = json.loads(to_json(result))
        report["added"] = [{"host": a.host, "role": a.role, "joined": a.joined} for a in added]
        report["updated"] = others
        write_output(output.json_out, json.dumps(report, indent=2) + "\n", "--json")
    raise typer.Exit(result.exit_code or (0 if all(a.joined for a in added) else 1))


@app.command()
@ssh_options()
@output_options()
def remove(
    names: Annotated[list[str], typer.Argument(help="Joined nodes to take out (names, ranges like node[4-5]).",
                                               show_default=False, metavar="HOST",
                                               autocompletion=_inventory_hosts)],
    inventory: InventoryOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Go on when etcd would be left with one member, or when a "
                                        "host does not answer (it is then taken out of the cluster without being "
                                        "reset).")] = False,
    state_dir_opt: StateDirOpt = None,
    *, ssh: SshArgs, output: RunOutput,
) -> None:
    """Take nodes out of the built cluster: kubectl drain, kubeadm reset (a control plane's etcd member goes with
    it; refused when etcd would keep fewer than two members, unless --force), kubectl delete node; then the
    /etc/hosts block everywhere and the load balancers' haproxy backends (reloaded) follow. Drop the hosts from
    the inventory afterwards: an `up` that still lists them joins them again. Exit 2 for a refusal.

    Example: provisioner remove -i inventory.yaml node3 --yes
    """
    import json

    from provisioner.daytwo.add import touched
    from provisioner.daytwo.remove import check_removals, inventory_without, run_remove
    from provisioner.engine import UpOptions, run_up
    from provisioner.state import Journal, StateLock
    from provisioner.up_report import make_reporter, print_summary, to_json

    path, inv = load(inventory)
    wanted = hosts(inv, names, "HOST")
    state = state_dir(inv, state_dir_opt)
    check_removals(inv, Journal(state), wanted)
    rest = inventory_without(path, wanted)
    if not yes and not typer.confirm(f"Remove {', '.join(wanted)} from cluster {inv.cluster_name}? They are "
                                     "drained and reset", err=True):
        raise typer.Exit(1)
    human = err if output.json_out == Path("-") else out
    keys = open_ssh(inv, state, ssh)
    result, updated = None, {}
    with StateLock(state, "remove"):
        removed = run_remove(inv, state, keys, wanted, force, ssh.timeout)
        for r in removed:
            human.print(f"remove: {r.host} ({r.role}) {'removed' if r.done else 'NOT removed'}: {r.outcome}")
        if removed and all(r.done for r in removed) and len(removed) == len(wanted):
            reporter = make_reporter(err, verbose=output.verbose, quiet=output.quiet)
            try:
                result = run_up(rest, state, keys, UpOptions(parallel=32, timeout=ssh.timeout,
                                                             inventory_path=str(path)), reporter)
            finally:
                reporter.finish(result)
            print_summary(result, human, str(path), table=getattr(reporter, "wants_table", True))
            updated = touched(result, [])
            for host, phases in updated.items():
                human.print(f"remove: {host} updated ({', '.join(phases)})")
            human.print(f"remove: drop {', '.join(wanted)} from {path} - an `up` that still lists them joins "
                        "them again")
    if output.json_out:
        from provisioner.cli.paths import write_output
        report = json.loads(to_json(result)) if result is not None else {}
        report["removed"] = [{"host": r.host, "role": r.role, "removed": r.done, "outcome": r.outcome}
                             for r in removed]
        report["updated"] = updated
        write_output(output.json_out, json.dumps(report, indent=2) + "\n", "--json")
    if result is None:
        raise typer.Exit(1)
    raise typer.Exit(result.exit_code)


@app.command()
@ssh_options()
def upgrade(
    to: Annotated[str, typer.Option("--to", metavar="VERSION", show_default=False,
                                    help="The Kubernetes version to upgrade to: the next minor (or a newer patch).")],
    inventory: InventoryOpt = None,
    plan: Annotated[bool, typer.Option("--plan", help="Print the order and every command; change nothing.")] = False,
    batch: Annotated[int, typer.Option("--batch", min=1, metavar="N", help="Workers upgraded at once.")] = 1,
    as_json: Annotated[Optional[Path], typer.Option("--json", metavar="FILE", show_default=False,
                                                    help="Also write a JSON report here ('-' = stdout).")] = None,
    state_dir_opt: StateDirOpt = None,
    *, ssh: SshArgs,
) -> None:
    """Upgrade the cluster one minor at a time: the first control plane (kubeadm upgrade apply), the other control
    planes one at a time, then the workers in batches (kubeadm upgrade node); each node drained, its kubelet and
    kubectl upgraded, uncordoned and Ready before the next. Resumable: nodes already at VERSION are left alone.
    Exit 2 for a version that skips a minor or goes down.

    Example: provisioner upgrade -i inventory.yaml --to 1.37.1
    """
    import json

    from provisioner.daytwo.upgrade import check_target, plan_lines
    from provisioner.daytwo.upgrade_run import cluster_version, run_upgrade
    from provisioner.errors import UsageError
    from provisioner.state import StateLock
    from provisioner.versions import KubeVersion

    path, inv = load(inventory)
    try:
        target = KubeVersion.parse(to)
    except ValueError as exc:
        raise UsageError(f"--to: {exc}") from None
    if as_json is not None and as_json != Path("-"):
        check_output_file(as_json, "--json")
    state = state_dir(inv, state_dir_opt)
    human = err if as_json == Path("-") else out
    keys = open_ssh(inv, state, ssh)
    if plan:
        current = cluster_version(inv, state, keys, ssh.timeout)
        if current != target:
            check_target(current, target)
        for line in plan_lines(inv, current, target, batch):
            human.print(line, highlight=False)
        raise typer.Exit(0)
    with StateLock(state, "upgrade"):
        results = run_upgrade(inv, path, state, keys, target, batch, ssh.timeout,
                              say=lambda line: human.print(line, highlight=False))
    ok = len(results) == len(inv.kube_nodes) and all(r.done for r in results)
    if ok and str(inv.kubernetes_version) != str(target):
        human.print(f'upgrade: every node runs {target} - set kubernetes_version: "{target}" in {path}, then '
                    "`provisioner up` (it also moves what depends on the version: the pause image, kubeadm's files)",
                    highlight=False)
    if as_json is not None:
        from provisioner.cli.paths import write_output
        write_output(as_json, json.dumps({"target": str(target), "upgraded": ok, "nodes": [
            {"host": r.host, "role": r.role, "done": r.done, "outcome": r.outcome} for r in results]}, indent=2) + "\n",
            "--json")
    raise typer.Exit(0 if ok else 1)
