"""The options commands share, defined once: each is an ``Annotated`` type a command names.

Host-taking commands use :data:`LimitOpt` (``--limit``, ``--host`` alias: commas, ranges like
``node[1-3]``, repeatable). Commands that reach hosts over SSH take :func:`ssh_options`, which adds
the SSH option group to their signature and hands them one :class:`SshArgs`.
"""

import functools
import inspect
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Optional

import typer


def _inventory_hosts(ctx: typer.Context, incomplete: str) -> list[str]:
    """Completion: the host names of the inventory given so far (-i, $PROVISIONER_INVENTORY, ./inventory.yaml)."""
    try:
        import yaml

        from provisioner.cli.paths import inventory_path
        data = yaml.safe_load(inventory_path(ctx.params.get("inventory")).read_text())
        names = [h["hostname"] for h in data.get("hosts", []) if isinstance(h, dict) and "hostname" in h]
    except Exception:  # noqa: BLE001 - completion never fails loudly: no names offered
        return []
    head, _, last = incomplete.rpartition(",")
    return [f"{head},{n}" if head else n for n in names if n.startswith(last)]


def _phases(incomplete: str) -> list[str]:
    from provisioner.phases import PHASE_NAMES
    return [p for p in PHASE_NAMES if p.startswith(incomplete)]


def _formats(incomplete: str) -> list[str]:
    return [f for f in FORMATS if f.startswith(incomplete)]


FORMATS = ("table", "json", "junit")

InventoryOpt = Annotated[Optional[Path], typer.Option(
    "--inventory", "-i", envvar="PROVISIONER_INVENTORY", metavar="FILE", show_default=False, show_envvar=True,
    help="Inventory YAML file. Default: $PROVISIONER_INVENTORY, else ./inventory.yaml.")]
StateDirOpt = Annotated[Optional[Path], typer.Option(
    "--state-dir", metavar="DIR", show_default=False,
    help="Where cluster secrets and state live (0700/0600). Default: $PROVISIONER_STATE_DIR/<cluster>-<id> or "
         "~/.local/state/provisioner/<cluster>-<id> (<id>: the endpoint's and first control plane's fingerprint).")]
LimitOpt = Annotated[Optional[list[str]], typer.Option(
    "--limit", "--host", metavar="HOSTS", show_default=False, autocompletion=_inventory_hosts,
    help="Only these hosts: names, comma-separated, ranges like node[1-3]; repeatable.")]
JsonReportOpt = Annotated[Optional[Path], typer.Option(
    "--json", metavar="FILE", show_default=False, help="Also write a JSON report here ('-' = stdout).")]
VerboseOpt = Annotated[bool, typer.Option(
    "--verbose", "-v", help="One progress line per phase and per host, unchanged hosts included.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress: only the summary and errors.")]
ParallelOpt = Annotated[int, typer.Option("--parallel", min=1, max=256, metavar="N", help="Hosts worked on at once.")]
StrictOpt = Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")]
PhaseOpt = Annotated[Optional[str], typer.Option(
    "--only", metavar="PHASE", show_default=False, autocompletion=_phases,
    help="Run just this phase (re-checks it on every host).")]
FromOpt = Annotated[Optional[str], typer.Option(
    "--from", metavar="PHASE", show_default=False, autocompletion=_phases, help="Start at this phase.")]
FormatOpt = Annotated[str, typer.Option(
    "--format", metavar="table|json|junit", autocompletion=_formats, help="Report format.")]


@dataclass(frozen=True)
class SshArgs:
    """The SSH options of one command line (see :func:`ssh_options`)."""

    timeout: float = 10
    accept_new_host_keys: bool = False
    known_hosts: Optional[Path] = None
    ssh_config: Optional[Path] = None
    user: Optional[str] = None
    port: Optional[int] = None


_SSH_TYPES = {
    "timeout": Annotated[float, typer.Option("--timeout", min=1, metavar="SECONDS", help="SSH connect timeout, seconds.")],
    "accept_new_host_keys": Annotated[bool, typer.Option(
        "--accept-new-host-keys", help="Trust unknown host keys on first use and record them (never changed ones).")],
    "known_hosts": Annotated[Optional[Path], typer.Option(
        "--known-hosts", metavar="FILE", show_default=False,
        help="The cluster's known_hosts file. Default: STATE_DIR/known_hosts.")],
    "ssh_config": Annotated[Optional[Path], typer.Option(
        "--ssh-config", metavar="FILE", show_default=False,
        help="Read this ssh_config file instead of ~/.ssh/config and /etc/ssh/ssh_config (like ssh -F).")],
    "user": Annotated[Optional[str], typer.Option(
        "--user", metavar="NAME", show_default=False,
        help="Log in as this user on every host (wins over the inventory and ssh_config; jump hosts keep their own).")],
    "port": Annotated[Optional[int], typer.Option(
        "--port", min=1, max=65535, metavar="PORT", show_default=False,
        help="SSH port of every host (wins over the inventory and ssh_config; jump hosts keep their own).")],
}


def _option_group(cls, types: dict, param: str, names: list[str]):
    """A decorator giving a command the options ``names`` of dataclass ``cls`` (typed by ``types``) in place
    of its ``param`` parameter, which receives one ``cls``."""
    defaults = {f.name: f.default for f in fields(cls)}

    def wrap(func):
        signature = inspect.signature(func, eval_str=True)
        params = [p for p in signature.parameters.values() if p.name != param]
        params += [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=defaults[n], annotation=types[n])
                   for n in names]

        @functools.wraps(func)
        def command(**kwargs):
            return func(**{param: cls(**{n: kwargs.pop(n) for n in names})}, **kwargs)

        command.__signature__ = signature.replace(parameters=params)
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command

    return wrap


def ssh_options(*, accept_keys: bool = True, timeout: bool = True):
    """Give a command the SSH option group: its function takes ``ssh: SshArgs`` instead of six options.
    ``ssh`` (interactive OpenSSH) has no connect timeout of ours and never trusts new keys."""
    names = [f.name for f in fields(SshArgs)
             if (accept_keys or f.name != "accept_new_host_keys") and (timeout or f.name != "timeout")]
    return _option_group(SshArgs, _SSH_TYPES, "ssh", names)


@dataclass(frozen=True)
class RunOutput:
    """How a command that runs phases reports (see :func:`output_options`)."""

    json_out: Optional[Path] = None
    verbose: bool = False
    quiet: bool = False


def output_options():
    """Give a command that runs phases (up, verify) --json, --verbose and --quiet as one ``output: RunOutput``."""
    return _option_group(RunOutput, {"json_out": JsonReportOpt, "verbose": VerboseOpt, "quiet": QuietOpt},
                         "output", [f.name for f in fields(RunOutput)])


def phase_command(app: typer.Typer):
    """``app.command()`` with the SSH and output option groups: the shape of the commands that run phases."""
    def wrap(func):
        return app.command()(ssh_options()(output_options()(func)))
    return wrap
