"""The ``provisioner`` command line: thin Typer commands over plain functions.

- app.py: the application and its root options; console.py: where lines are printed;
  options.py: the options commands share; paths.py: inventory lookup and output paths;
  common.py: loading, state directory, SSH; one module per group of commands.
- Adding a command: a module with ``@app.command()`` functions, imported below.

Every ``ProvisionerError`` becomes its message on stderr and its exit code (2 for bad input),
never a traceback. Imports are made by the commands that need them (pydantic models, rich,
jinja2, cryptography, paramiko/fabric, testinfra): `provisioner validate` or `preflight` starts
without loading the rest (`python -X importtime -m provisioner validate` shows what a start costs).
"""

import sys

from provisioner.cli import cluster, daytwo, files, init, reference  # noqa: F401 - each registers its commands on app
from provisioner.cli.app import app
from provisioner.cli.console import err
from provisioner.errors import ProvisionerError

__all__ = ["app", "main"]


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
