"""Commands that reach the cluster's hosts: preflight, up, reset, verify, ssh, kubeconfig."""

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from provisioner.cli.app import app
from provisioner.cli.common import hosts, load, open_ssh, state_dir
from provisioner.cli.console import Console, err, out
from provisioner.cli.options import (
    FORMATS, FormatOpt, FromOpt, InventoryOpt, LimitOpt, ParallelOpt, PhaseOpt, RunOutput, SshArgs, StateDirOpt,
    _inventory_hosts, phase_command, ssh_options,
)
from provisioner.cli.paths import check_output_file, write_output
from provisioner.errors import ProvisionerError, UsageError


def _check_report_path(path: Path | None, option: str) -> None:
    if path is not None and path != Path("-"):
        check_output_file(path, option)


@app.command()
@ssh_options()
def preflight(
    inventory: InventoryOpt = None,
    limit: LimitOpt = None,
    format: FormatOpt = "table",
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", metavar="FILE", help="Write the report here (default stdout).")] = None,
    parallel: ParallelOpt = 32,
    state_dir_opt: StateDirOpt = None,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Fail also on what `up` would fix (swap, sysctls, ...): is the host ready for kubeadm now?")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show passing checks in the table too.")] = False,
    *, ssh: SshArgs,
) -> None:
    """Audit every node read-only: per-node and cross-node checks, over one SSH connection per host.

    Exit 0 when all pass (warnings allowed), 1 when a check fails, 3 when a
    host is unreachable, 2 for bad input. Nothing on any host is changed.

    Example: provisioner preflight -i inventory.yaml --format junit -o preflight.xml
    """
    from provisioner import report as reports
    from provisioner.preflight import run_preflight

    if format not in FORMATS:
        raise UsageError(f"--format: {format!r} is not one of {', '.join(FORMATS)} - pick one")
    path, inv = load(inventory)
    only = hosts(inv, limit)
    _check_report_path(output, "-o")
    state = state_dir(inv, state_dir_opt, record=False)     # read-only: checked, not claimed
    result = run_preflight(inv, open_ssh(inv, state, ssh), hosts=only, parallel=parallel, timeout=ssh.timeout,
                           inventory_path=str(path), strict=strict)
    if format == "table" and not output:
        reports.print_table(result, Console(markup=False, highlight=False), verbose)
    elif format == "table":
        import io
        buffer = io.StringIO()
        reports.print_table(result, Console(file=buffer, markup=False, highlight=False, width=160), verbose)
        write_output(output, buffer.getvalue(), "-o")
    else:
        write_output(output, reports.to_json(result) if format == "json" else reports.to_junit(result), "-o")
    if output:
        err.print(f"preflight: exit {result.exit_code}, report written to {output}")
    raise typer.Exit(result.exit_code)


@phase_command(app)
def up(
    inventory: InventoryOpt = None,
    plan: Annotated[bool, typer.Option("--plan", help="Change nothing: show per host and phase what would "
                                       "change, with diffs (secrets masked) and commands.")] = False,
    only: PhaseOpt = None,
    start: FromOpt = None,
    limit: LimitOpt = None,
    skip_preflight: Annotated[bool, typer.Option("--skip-preflight", help="Do not stop on preflight failures.")] = False,
    parallel: ParallelOpt = 32,
    state_dir_opt: StateDirOpt = None,
    command_timeout: Annotated[Optional[float], typer.Option(
        "--command-timeout", min=1, show_default=False, metavar="SECONDS",
        help="Longest any one command may run on a host, seconds; it is stopped there after that. "
             "Default: per step (package installs and kubeadm 900, waits their own bound, others 600).")] = None,
    *, ssh: SshArgs, output: RunOutput,
) -> None:
    """Build the cluster: preflight, prep, lb, runtime, kube-packages, init, cni, join-control-planes,
    join-workers, verify. Every run reads every step on every host (one round trip per host) and
    changes only what differs: a re-run on a built cluster changes nothing, and one on a drifted
    host repairs it (reported as "drift"). `--plan` shows exactly what `up` would change.

    Phases: prep, lb, runtime, kube-packages, init, cni, join-control-planes, join-workers, verify.
    Exit 0 done, 1 a step (or preflight) failed, 3 a host is unreachable, 2 bad input, 130 interrupted.

    Examples: provisioner up -i inventory.yaml --plan
              provisioner up -i inventory.yaml --only lb --limit ha1,ha2
    """
    json_out, verbose, quiet = output.json_out, output.verbose, output.quiet
    from provisioner.engine import UpOptions, run_up
    from provisioner.state import StateLock
    from provisioner.up_report import error_json, make_reporter, print_plan, print_summary, to_json

    reporter = make_reporter(err, verbose=verbose, quiet=quiet)
    result = None
    path = inventory
    try:
        _check_report_path(json_out, "--json")
        path, inv = load(inventory)
        options = UpOptions(plan=plan, only=only, start=start, limit=hosts(inv, limit),
                            skip_preflight=skip_preflight or plan, parallel=parallel, timeout=ssh.timeout,
                            inventory_path=str(path), command_timeout=command_timeout)
        state = state_dir(inv, state_dir_opt)
        with StateLock(state, "up"):
            result = run_up(inv, state, open_ssh(inv, state, ssh), options, reporter)
    except ProvisionerError as exc:      # bad input, state dir busy: the report says so too
        if json_out and (json_out == Path("-") or json_out.parent.is_dir()) and not json_out.is_dir():
            write_output(json_out, error_json(exc), "--json")
        raise
    finally:
        reporter.finish(result)          # a live display ends here; the changed and failed hosts follow it
    human = err if json_out == Path("-") else out     # stdout stays pure JSON with --json -
    if plan:
        print_plan(result, human)
    print_summary(result, human, str(path), table=getattr(reporter, "wants_table", True))
    if json_out:
        write_output(json_out, to_json(result), "--json")
    raise typer.Exit(result.exit_code)


@app.command()
@ssh_options()
def reset(
    inventory: InventoryOpt = None,
    limit: LimitOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    state_dir_opt: StateDirOpt = None,
    *, ssh: SshArgs,
) -> None:
    """Undo Kubernetes on nodes (kubeadm reset -f, CNI config, iptables) so that `up` can build them again.

    Default: every control plane and worker. Load balancers are left alone.

    Example: provisioner reset -i inventory.yaml --limit node3 --yes
    """
    from provisioner.reset import run_reset, succeeded
    from provisioner.state import StateLock

    _, inv = load(inventory)
    names = hosts(inv, limit)
    targets = [h.hostname for h in inv.kube_nodes if not names or h.hostname in names]
    if not yes and not typer.confirm(f"Reset {', '.join(targets)} of cluster {inv.cluster_name}? "
                                     "Their Kubernetes state is deleted", err=True):
        raise typer.Exit(1)
    state = state_dir(inv, state_dir_opt)
    with StateLock(state, "reset"):
        outcome = run_reset(inv, state, open_ssh(inv, state, ssh), names, ssh.timeout)
    for host, what in outcome.items():
        out.print(f"{host}: {what}")
    first = inv.first_control_plane.hostname
    if first in outcome and succeeded(outcome[first]):
        others = [h.hostname for h in inv.kube_nodes if h.hostname not in outcome]
        if others:
            err.print(f"note: {first} held the cluster; {', '.join(others)} still "
                      "belong to the old one - reset them too before `up`")
    bad = [h for h, what in outcome.items() if not succeeded(what)]
    raise typer.Exit(3 if any(outcome[h].startswith("unreachable") for h in bad) else (1 if bad else 0))


@phase_command(app)
def verify(
    inventory: InventoryOpt = None,
    state_dir_opt: StateDirOpt = None,
    failover: Annotated[bool, typer.Option("--failover", help="Stop keepalived on the VIP holder, time how long "
                                           "until the API answers through the VIP again, restore it.")] = False,
    *, ssh: SshArgs, output: RunOutput,
) -> None:
    """Prove the cluster: every node Ready and the API answering through the VIP (read-only);
    with --failover, also the time the API is unreachable when the VIP holder's keepalived stops.

    Example: provisioner verify -i inventory.yaml --failover
    """
    json_out, verbose, quiet = output.json_out, output.verbose, output.quiet
    from provisioner.engine import UpOptions, run_up
    from provisioner.state import StateLock
    from provisioner.up_report import make_reporter, print_summary

    path, inv = load(inventory)
    _check_report_path(json_out, "--json")
    state = state_dir(inv, state_dir_opt)
    keys = open_ssh(inv, state, ssh)
    lock = StateLock(state, "verify").acquire()     # released below, or when the process exits
    reporter = make_reporter(err, verbose=verbose, quiet=quiet)
    result = None
    try:
        result = run_up(inv, state, keys, UpOptions(only="verify", skip_preflight=True, timeout=ssh.timeout,
                                                    inventory_path=str(path)), reporter)
    finally:
        reporter.finish(result)
    report: dict = {"version": 1, "cluster": inv.cluster_name, "ok": result.ok,
                    "failure": result.failure.message if result.failure else None}
    if not result.ok:
        print_summary(result, err, str(path))
    elif failover:
        from provisioner.failover import measure_failover
        fo = measure_failover(inv, state, keys)
        report["failover"] = fo
        if fo["seconds"] is None:
            report["ok"] = False
            err.print(f"failover: the API did not answer through {fo['vip']}:{fo['port']} after keepalived stopped "
                      f"on {fo['holder']}")
        else:
            out.print(f"failover: keepalived stopped on {fo['holder']}; the API answered again through "
                      f"{fo['vip']}:{fo['port']} after {fo['seconds']:.2f}s (VIP on {fo['new_holder']}, probed from "
                      f"{fo['probe']}); restored: {'yes' if fo['restored'] else 'NO'}")
    if result.ok:
        from provisioner.daytwo.certs import certificate_warnings
        report["certificate_warnings"] = certificate_warnings(path, state, keys, ssh.timeout)
        for warning in report["certificate_warnings"]:
            err.print(f"warning: {warning} - renew with `provisioner certs --renew`")
    if report["ok"]:
        out.print(f"verify: cluster {inv.cluster_name} OK - all nodes Ready, API answers through "
                  f"{inv.control_plane_endpoint.address}:{inv.api_port}")
    if json_out:
        write_output(json_out, json.dumps(report, indent=2) + "\n", "--json")
    lock.release()
    raise typer.Exit(0 if report["ok"] else (result.exit_code or 1))


@app.command(name="ssh")
@ssh_options(accept_keys=False, timeout=False)
def ssh_command(
    host: Annotated[str, typer.Argument(help="Inventory hostname.", show_default=False, metavar="HOST",
                                        autocompletion=_inventory_hosts)],
    command: Annotated[Optional[list[str]], typer.Argument(
        help="A command to run instead of an interactive session (after --).", show_default=False,
        metavar="[-- COMMAND...]")] = None,
    inventory: InventoryOpt = None,
    state_dir_opt: StateDirOpt = None,
    *, ssh: SshArgs,
) -> None:
    """Open an interactive SSH session on HOST (or run one command) with the product's resolution:
    user, port, key, jump hosts, ProxyCommand and both known_hosts files (unknown or changed host
    keys refused). Runs OpenSSH's ssh; exits with its exit code.

    Examples: provisioner ssh -i inventory.yaml master1
              provisioner ssh -i inventory.yaml node1 -- systemctl status kubelet
    """
    import os
    import shutil

    from provisioner.openssh import openssh_argv

    _, inv = load(inventory)
    hosts(inv, [host], "HOST")
    state = state_dir(inv, state_dir_opt, record=False)
    keys = open_ssh(inv, state, ssh)
    if shutil.which("ssh") is None:
        raise UsageError("provisioner ssh: OpenSSH's ssh client is not installed - install openssh-client")
    argv = openssh_argv(keys.target(inv.host(host)), keys.keys.files, state / "ssh" / f"{host}.config", command or [])
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvp(argv[0], argv)


@app.command()
def kubeconfig(
    inventory: InventoryOpt = None,
    state_dir_opt: StateDirOpt = None,
    merge: Annotated[bool, typer.Option(
        "--merge", help="Also merge it into ~/.kube/config as context <cluster_name> (made current).")] = False,
) -> None:
    """Write a kubeconfig for this machine from the admin.conf `up` fetched and print its path (mode 0600).
    Its server is the endpoint's address unless the endpoint's name resolves here; its cluster,
    user and context are named after the cluster.

    Example: export KUBECONFIG=$(provisioner kubeconfig -i inventory.yaml)
    """
    from provisioner.kubeconfig import for_admin_machine, merge_into, write_kubeconfig

    path, inv = load(inventory)
    state = state_dir(inv, state_dir_opt, record=False)
    admin = state / "admin.conf"
    if not admin.exists():
        err.print(f"{admin}: no admin kubeconfig yet - run `provisioner up -i {path}` first")
        raise typer.Exit(1)
    doc = for_admin_machine(admin.read_text(), inv, str(admin))
    local = state / "kubeconfig"
    write_kubeconfig(local, doc)
    if merge:
        target = Path.home() / ".kube" / "config"
        merge_into(target, doc)
        err.print(f"merged into {target} as context {inv.cluster_name} (current); server {doc['clusters'][0]['cluster']['server']}")
    out.print(str(local))
