"""The ``provisioner`` command line: thin commands over plain functions.

Each command parses its options and calls one function of the package; every
``ProvisionerError`` becomes its message on stderr and its exit code (2 for
bad input), never a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from provisioner.errors import ProvisionerError, UsageError
from provisioner.secrets import default_state_dir

if TYPE_CHECKING:
    from provisioner.inventory import Inventory

# Imports are made by the commands that need them (pydantic models, rich, jinja2, cryptography,
# paramiko/fabric, testinfra): `provisioner validate` or `preflight` starts without loading the rest.
# `python -X importtime -m provisioner validate` shows what a start costs.
_EXAMPLES = Path(__file__).resolve().parent / "inventories"       # as provisioner.inventory.EXAMPLES_DIR
DEFAULT_INVENTORY = (_EXAMPLES if _EXAMPLES.is_dir() else Path(__file__).resolve().parent.parent / "inventories") / "lab.yaml"

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



# The control codes rich drops from printed text (rich/control.py STRIP_CONTROL_CODES: BEL, BS, VT, FF, CR).
_STRIP = dict.fromkeys((7, 8, 11, 12, 13))


class _LazyConsole:
    """A rich Console made on first use (importing rich costs ~12 ms at every start).

    Plain lines (``err.print("text")``: str arguments, no options) never need rich: they are
    written as rich writes them with these options (no markup, no highlighting, no wrapping,
    the same control codes dropped), so `validate` and `preflight --format json` never import it.

    >>> _LazyConsole(markup=False).print("valid")      # doctest: +SKIP
    """

    def __init__(self, **options):
        self._options, self._console = options, None

    def print(self, *objects, **kwargs) -> None:
        if kwargs or not all(type(o) is str for o in objects):
            return self.__getattr__("print")(*objects, **kwargs)
        stream = sys.stderr if self._options.get("stderr") else sys.stdout
        stream.write(" ".join(objects).translate(_STRIP) + "\n")
        stream.flush()

    def __getattr__(self, name):
        if self._console is None:
            from rich.console import Console
            self._console = Console(**self._options)
        return getattr(self._console, name)


def Console(**options):       # noqa: N802 - rich's Console, imported when a command prints a table
    from rich.console import Console as RichConsole
    return RichConsole(**options)


err = _LazyConsole(stderr=True, markup=False, highlight=False, soft_wrap=True)
out = _LazyConsole(markup=False, highlight=False, soft_wrap=True)

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
SshConfigOpt = Annotated[Optional[Path], typer.Option(
    "--ssh-config", help="Read this ssh_config file instead of ~/.ssh/config and /etc/ssh/ssh_config (like ssh -F).",
    show_default=False)]
UserOpt = Annotated[Optional[str], typer.Option(
    "--user", help="Log in as this user on every host (wins over the inventory and ssh_config; jump hosts keep "
    "their own).", show_default=False)]
PortOpt = Annotated[Optional[int], typer.Option(
    "--port", min=1, max=65535, help="SSH port of every host (wins over the inventory and ssh_config; jump hosts "
    "keep their own).", show_default=False)]
JsonReportOpt = Annotated[Optional[Path], typer.Option(
    "--json", help="Also write a JSON report here ('-' = stdout).")]
VerboseOpt = Annotated[bool, typer.Option(
    "--verbose", "-v", help="One progress line per phase and per host, unchanged hosts included.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress: only the summary and errors.")]
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
    from provisioner.validation import check_inventory

    inv, problems = check_inventory(path)
    errors = [p for p in problems if strict or not p.warning]
    for p in problems:
        if p.warning and not strict:
            err.print(str(p))
    if inv is None or errors:
        raise InventoryError(errors or problems)
    return inv


def require_known_hosts(inv, names, option: str) -> None:
    """provisioner.validation.require_known_hosts, imported when a command calls it."""
    from provisioner.validation import require_known_hosts as require
    require(inv, names, option)


def _summary(inv: Inventory) -> str:
    from provisioner.versions import kubeadm_api_version

    lb = inv.load_balancer.mode
    from provisioner.hostlist import plural

    return (f"cluster {inv.cluster_name}: {plural(len(inv.hosts), 'host')} "
            f"({plural(len(inv.control_planes), 'control plane')}, {plural(len(inv.workers), 'worker')}, "
            f"{plural(len(inv.load_balancers), 'load balancer')}, mode {lb}), "
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
    from provisioner.output import write_tree
    from provisioner.render import render_cluster
    from provisioner.secrets import SecretStore
    from provisioner.state import StateLock

    inv = _load(inventory)
    require_known_hosts(inv, host, "--host")
    state = state_dir or default_state_dir(inv.cluster_name)
    with StateLock(state, "render"):     # secrets are created on first use: never by two runs at once
        secrets = SecretStore(state).load_or_create(inv.cluster_name)
    from provisioner.phases.base import OsInfo
    from provisioner.state import Journal

    # The OS each host reported on the last up/up --plan (the apt lines name it); others: desired.ASSUMED_OS.
    seen = {h: OsInfo.parse(o) for h, o in Journal(state).os.items()}
    files = render_cluster(inv, secrets, only=host, os=seen)
    manifest = write_tree(files, output, inv.cluster_name)
    hosts = len({f.host for f in files})
    from provisioner.hostlist import plural

    out.print(f"rendered {plural(len(files), 'file')} for {plural(hosts, 'host')} of cluster {inv.cluster_name} into {output}/ "
              f"(manifest: {manifest})")
    unread = sorted({f.host for f in files} - set(seen))
    if unread:
        from provisioner.desired import ASSUMED_OS as a
        out.print(f"apt lines for {a.distro} {a.codename} {a.arch} on {', '.join(unread)}: no run has read their OS "
                  "yet (`up --plan` does)")


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
    ssh_config: SshConfigOpt = None,
    user: UserOpt = None,
    port: PortOpt = None,
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

    if format not in ("table", "json", "junit"):
        raise UsageError(f"--format: {format!r} is not one of table, json, junit - pick one")
    inv = _load(inventory)
    require_known_hosts(inv, host, "--host")
    state = state_dir or default_state_dir(inv.cluster_name)
    keys = _keys(inv, state, known_hosts, accept_new_host_keys, ssh_config, user, port)
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


def _current_context():
    """The running command's click context, or None. typer vendors click as ``typer._click`` since
    0.2x (its commands never reach click's own context stack); older typer runs on click."""
    try:
        from typer._click.globals import get_current_context
    except ImportError:
        from click import get_current_context
    return get_current_context(silent=True)


def _keys(inv: Inventory, state: Path, known_hosts: Path | None, accept_new: bool, ssh_config: Path | None = None,
          user: str | None = None, port: int | None = None):
    """The command's SSH (host keys, resolution, shared jump hosts), every host resolved now - a bad
    ssh_config value fails here (exit 2) - and closed when the command ends."""
    from provisioner.sshconfig import Resolver, SshConfig
    from provisioner.transport import HostKeys, Ssh

    ssh = Ssh(HostKeys(known_hosts or state / "known_hosts", accept_new=accept_new),
              Resolver(SshConfig.load(ssh_config), user=user, port=port)).bind(inv)
    ctx = _current_context()
    if ctx is not None:
        ctx.call_on_close(ssh.close)
    return ssh


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
    ssh_config: SshConfigOpt = None,
    user: UserOpt = None,
    port: PortOpt = None,
    state_dir: StateDirOpt = None,
    command_timeout: CommandTimeoutOpt = None,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
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
    from provisioner.up_report import error_json, make_reporter, print_plan, print_summary, to_json

    reporter = make_reporter(err, verbose=verbose, quiet=quiet)
    result = None
    try:
        inv = _load(inventory)
        state = state_dir or default_state_dir(inv.cluster_name)
        options = UpOptions(plan=plan, only=only, start=start, limit=_hosts_list(limit),
                            skip_preflight=skip_preflight or plan, parallel=parallel, timeout=timeout,
                            inventory_path=str(inventory), command_timeout=command_timeout)
        with StateLock(state, "up"):
            result = run_up(inv, state, _keys(inv, state, known_hosts, accept_new_host_keys, ssh_config, user, port),
                            options, reporter)
    except ProvisionerError as exc:      # bad input, state dir busy: the report says so too
        if json_out:
            _write_report(json_out, error_json(exc))
        raise
    finally:
        reporter.finish(result)          # a live display ends here; the changed and failed hosts follow it
    human = err if json_out == Path("-") else out     # stdout stays pure JSON with --json -
    if plan:
        print_plan(result, human)
    print_summary(result, human, str(inventory), table=getattr(reporter, "wants_table", True))
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
    ssh_config: SshConfigOpt = None,
    user: UserOpt = None,
    port: PortOpt = None,
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
        outcome = run_reset(inv, state, _keys(inv, state, known_hosts, accept_new_host_keys, ssh_config, user, port),
                            names, timeout)
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
    ssh_config: SshConfigOpt = None,
    user: UserOpt = None,
    port: PortOpt = None,
    state_dir: StateDirOpt = None,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Prove the cluster: every node Ready and the API answering through the VIP (read-only);
    with --failover, also the time the API is unreachable when the VIP holder's keepalived stops.

    Example: provisioner verify -i inventories/seed-ha.yaml --failover
    """
    from provisioner.engine import UpOptions, run_up
    from provisioner.up_report import make_reporter, print_summary

    from provisioner.state import StateLock

    inv = _load(inventory)
    state = state_dir or default_state_dir(inv.cluster_name)
    keys = _keys(inv, state, known_hosts, accept_new_host_keys, ssh_config, user, port)
    lock = StateLock(state, "verify").acquire()     # released below, or when the process exits
    reporter = make_reporter(err, verbose=verbose, quiet=quiet)
    result = None
    try:
        result = run_up(inv, state, keys, UpOptions(only="verify", skip_preflight=True, timeout=timeout,
                                                    inventory_path=str(inventory)), reporter)
    finally:
        reporter.finish(result)
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


@app.command(name="ssh")
def ssh_command(
    host: Annotated[str, typer.Argument(help="Inventory hostname.", show_default=False)],
    command: Annotated[Optional[list[str]], typer.Argument(
        help="A command to run instead of an interactive session (after --).", show_default=False)] = None,
    inventory: InventoryOpt = DEFAULT_INVENTORY,
    known_hosts: KnownHostsOpt = None,
    ssh_config: SshConfigOpt = None,
    user: UserOpt = None,
    port: PortOpt = None,
    state_dir: StateDirOpt = None,
) -> None:
    """Open an interactive SSH session on HOST (or run one command) with the product's resolution:
    user, port, key, jump hosts, ProxyCommand and both known_hosts files (unknown or changed host
    keys refused). Runs OpenSSH's ssh; exits with its exit code.

    Examples: provisioner ssh -i inventories/seed-ha.yaml master1
              provisioner ssh -i inventories/seed-ha.yaml node1 -- systemctl status kubelet
    """
    import os
    import shutil

    from provisioner.openssh import openssh_argv

    inv = _load(inventory)
    require_known_hosts(inv, [host], "HOST")
    state = state_dir or default_state_dir(inv.cluster_name)
    ssh = _keys(inv, state, known_hosts, False, ssh_config, user, port)
    if shutil.which("ssh") is None:
        raise UsageError("provisioner ssh: OpenSSH's ssh client is not installed - install openssh-client")
    argv = openssh_argv(ssh.target(inv.host(host)), ssh.keys.files, state / "ssh" / f"{host}.config", command or [])
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvp(argv[0], argv)


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
    from provisioner.inventory import inventory_json_schema

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
