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
from provisioner.validation import check_inventory, require_known_hosts
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
LimitOpt = Annotated[Optional[list[str]], typer.Option(
    "--limit", help="Only these hosts (repeatable, or comma-separated).")]
KnownHostsOpt = Annotated[Optional[Path], typer.Option(
    "--known-hosts", help="The cluster's known_hosts file. Default: STATE_DIR/known_hosts.")]
AcceptKeysOpt = Annotated[bool, typer.Option(
    "--accept-new-host-keys", help="Trust unknown host keys on first use and record them (never changed ones).")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", min=1, help="SSH connect timeout, seconds.")]
JsonReportOpt = Annotated[Optional[Path], typer.Option(
    "--json", help="Also write a JSON report here ('-' = stdout).")]
CommandTimeoutOpt = Annotated[Optional[float], typer.Option(
    "--command-timeout", min=1, show_default=False,
    help="Longest any one command may run on a host, seconds; it is stopped there after that. "
         "Default: per step (package installs and kubeadm 900, waits their own bound, others 600).")]


def _write_report(json_out: Path | None, text: str) -> None:
    if json_out == Path("-"):
        sys.stdout.write(text)
    elif json_out:
        json_out.write_text(text, encoding="utf-8")


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
    from provisioner.state import StateLock

    inv = _load(inventory)
    require_known_hosts(inv, host, "--host")
    state = state_dir or default_state_dir(inv.cluster_name)
    with StateLock(state, "render"):     # secrets are created on first use: never by two runs at once
        secrets = SecretStore(state).load_or_create(inv.cluster_name)
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
    timeout: TimeoutOpt = 10,
    accept_new_host_keys: AcceptKeysOpt = False,
    known_hosts: KnownHostsOpt = None,
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
    require_known_hosts(inv, host, "--host")
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


@app.command()
def vagrantfile(
    inventory: InventoryOpt = DEFAULT_INVENTORY,
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="Write the Vagrantfile here (default stdout).", show_default=False)] = None,
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
    from provisioner.vagrant import machine_specs, render_vagrantfile, write_vagrantfile

    inv = _load(inventory)
    text = render_vagrantfile(inv, machine_specs(inv, boxes=box, cpus=cpus, memory=memory), source=str(inventory))
    if output:
        write_vagrantfile(text, output)
        err.print(f"wrote {output} ({len(inv.hosts)} machines); next: vagrant up --provider=libvirt")
    else:
        sys.stdout.write(text)




def _hosts_list(values: list[str] | None) -> list[str] | None:
    names = [n.strip() for v in values or [] for n in v.split(",") if n.strip()]
    return names or None


def _keys(state: Path, known_hosts: Path | None, accept_new: bool):
    from provisioner.transport import HostKeys
    return HostKeys(known_hosts or state / "known_hosts", accept_new=accept_new)


@app.command()
def up(
    inventory: InventoryOpt = DEFAULT_INVENTORY,
    plan: Annotated[bool, typer.Option("--plan", help="Change nothing: show per host and phase what would "
                                       "change, with diffs (secrets masked) and commands.")] = False,
    only: Annotated[Optional[str], typer.Option("--only", help="Run just this phase (re-checks it on every host).")] = None,
    start: Annotated[Optional[str], typer.Option("--from", help="Start at this phase.")] = None,
    limit: LimitOpt = None,
    skip_preflight: Annotated[bool, typer.Option("--skip-preflight", help="Do not stop on preflight failures.")] = False,
    json_out: JsonReportOpt = None,
    parallel: Annotated[int, typer.Option("--parallel", min=1, max=256, help="Hosts worked on at once.")] = 32,
    timeout: TimeoutOpt = 10,
    accept_new_host_keys: AcceptKeysOpt = False,
    known_hosts: KnownHostsOpt = None,
    state_dir: StateDirOpt = None,
    command_timeout: CommandTimeoutOpt = None,
) -> None:
    """Build the cluster: preflight, prep, lb, runtime, kube-packages, init, cni, join-control-planes,
    join-workers, verify. Every run reads every step on every host (one round trip per host) and
    changes only what differs: a re-run on a built cluster changes nothing, and one on a drifted
    host repairs it (reported as "drift"). `--plan` shows exactly what `up` would change.

    Phases: prep, lb, runtime, kube-packages, init, cni, join-control-planes, join-workers, verify.
    Exit 0 done, 1 a step (or preflight) failed, 3 a host is unreachable, 2 bad input, 130 interrupted.

    Examples: provisioner up -i inventories/seed-ha.yaml --plan
              provisioner up -i inventories/seed-ha.yaml --only lb --limit ha1,ha2
    """
    from provisioner.engine import UpOptions, run_up
    from provisioner.state import StateLock
    from provisioner.up_report import ConsoleReporter, error_json, print_plan, print_summary, to_json

    try:
        inv = _load(inventory)
        state = state_dir or default_state_dir(inv.cluster_name)
        options = UpOptions(plan=plan, only=only, start=start, limit=_hosts_list(limit),
                            skip_preflight=skip_preflight or plan, parallel=parallel, timeout=timeout,
                            inventory_path=str(inventory), command_timeout=command_timeout)
        with StateLock(state, "up"):
            result = run_up(inv, state, _keys(state, known_hosts, accept_new_host_keys), options,
                            ConsoleReporter(err))
    except ProvisionerError as exc:      # bad input, state dir busy: the report says so too
        if json_out:
            _write_report(json_out, error_json(exc))
        raise
    human = err if json_out == Path("-") else out     # stdout stays pure JSON with --json -
    if plan:
        print_plan(result, human)
    print_summary(result, human, str(inventory))
    if json_out:
        _write_report(json_out, to_json(result))
    raise typer.Exit(result.exit_code)


@app.command()
def reset(
    inventory: InventoryOpt = DEFAULT_INVENTORY,
    limit: LimitOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    timeout: TimeoutOpt = 10,
    accept_new_host_keys: AcceptKeysOpt = False,
    known_hosts: KnownHostsOpt = None,
    state_dir: StateDirOpt = None,
) -> None:
    """Undo Kubernetes on nodes (kubeadm reset -f, CNI config, iptables) so that `up` can build them again.

    Default: every control plane and worker. Load balancers are left alone.

    Example: provisioner reset -i inventories/seed-ha.yaml --limit node3 --yes
    """
    from provisioner.reset import run_reset, succeeded

    inv = _load(inventory)
    names = _hosts_list(limit)
    require_known_hosts(inv, names, "--limit")
    targets = [h.hostname for h in inv.kube_nodes if not names or h.hostname in names]
    if not yes and not typer.confirm(f"Reset {', '.join(targets)} of cluster {inv.cluster_name}? "
                                     "Their Kubernetes state is deleted", err=True):
        raise typer.Exit(1)
    state = state_dir or default_state_dir(inv.cluster_name)
    from provisioner.state import StateLock
    with StateLock(state, "reset"):
        outcome = run_reset(inv, state, _keys(state, known_hosts, accept_new_host_keys), names, timeout)
    for host, what in outcome.items():
        out.print(f"{host}: {what}")
    if inv.first_control_plane.hostname in outcome and succeeded(outcome[inv.first_control_plane.hostname]):
        others = [h.hostname for h in inv.kube_nodes if h.hostname not in outcome]
        if others:
            err.print(f"note: {inv.first_control_plane.hostname} held the cluster; {', '.join(others)} still "
                      "belong to the old one - reset them too before `up`")
    bad = [h for h, what in outcome.items() if not succeeded(what)]
    raise typer.Exit(3 if any(outcome[h].startswith("unreachable") for h in bad) else (1 if bad else 0))


@app.command()
def verify(
    inventory: InventoryOpt = DEFAULT_INVENTORY,
    failover: Annotated[bool, typer.Option("--failover", help="Stop keepalived on the VIP holder, time how long "
                                           "until the API answers through the VIP again, restore it.")] = False,
    json_out: JsonReportOpt = None,
    timeout: TimeoutOpt = 10,
    accept_new_host_keys: AcceptKeysOpt = False,
    known_hosts: KnownHostsOpt = None,
    state_dir: StateDirOpt = None,
) -> None:
    """Prove the cluster: every node Ready and the API answering through the VIP (read-only);
    with --failover, also the time the API is unreachable when the VIP holder's keepalived stops.

    Example: provisioner verify -i inventories/seed-ha.yaml --failover
    """
    from provisioner.engine import UpOptions, run_up
    from provisioner.up_report import ConsoleReporter, print_summary

    from provisioner.state import StateLock

    inv = _load(inventory)
    state = state_dir or default_state_dir(inv.cluster_name)
    keys = _keys(state, known_hosts, accept_new_host_keys)
    lock = StateLock(state, "verify").acquire()     # released below, or when the process exits
    result = run_up(inv, state, keys, UpOptions(only="verify", skip_preflight=True, timeout=timeout,
                                                inventory_path=str(inventory)), ConsoleReporter(err))
    report: dict = {"version": 1, "cluster": inv.cluster_name, "ok": result.ok,
                    "failure": result.failure.message if result.failure else None}
    if not result.ok:
        print_summary(result, err, str(inventory))
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
    if report["ok"]:
        out.print(f"verify: cluster {inv.cluster_name} OK - all nodes Ready, API answers through "
                  f"{inv.control_plane_endpoint.address}:{inv.api_port}")
    if json_out:
        _write_report(json_out, json.dumps(report, indent=2) + "\n")
    lock.release()
    raise typer.Exit(0 if report["ok"] else (result.exit_code or 1))


@app.command()
def kubeconfig(
    inventory: InventoryOpt = DEFAULT_INVENTORY,
    state_dir: StateDirOpt = None,
) -> None:
    """Print the path of the admin kubeconfig `up` fetched (mode 0600).

    Example: export KUBECONFIG=$(provisioner kubeconfig -i inventories/seed-ha.yaml)
    """
    inv = _load(inventory)
    path = (state_dir or default_state_dir(inv.cluster_name)) / "admin.conf"
    if not path.exists():
        err.print(f"{path}: no admin kubeconfig yet - run `provisioner up -i {inventory}` first")
        raise typer.Exit(1)
    out.print(str(path))


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
    import os

    try:
        app()
    except ProvisionerError as exc:
        for line in str(exc).splitlines():
            err.print(line)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - a bug: one line, the traceback only on request
        if os.environ.get("PROVISIONER_DEBUG"):
            raise
        err.print(f"internal error: {type(exc).__name__}: {exc} - this is a bug in provisioner; "
                  "PROVISIONER_DEBUG=1 shows the traceback, please report it")
        sys.exit(1)
