"""``provisioner ssh HOST``: OpenSSH's own client, with the product's resolution of HOST.

>>> argv = openssh_argv(target, [Path("~/.ssh/known_hosts"), state / "known_hosts"],    # doctest: +SKIP
...                     state / "ssh" / "master1.config", ["hostname"])
>>> os.execvp(argv[0], argv)                                                              # doctest: +SKIP

The resolved target (user, port, keys, IdentitiesOnly, jump hosts each with
their own user/port/keys, or a ProxyCommand) is written as an ssh_config file
(``STATE/ssh/HOST.config``, 0600, rewritten on every call) and ``ssh -F`` reads
only that file: hops need per-hop options that ``-J`` alone cannot carry. Host
keys are checked against both known_hosts files with
``StrictHostKeyChecking yes`` (unknown and changed keys are refused, as the
rest of the product does without --accept-new-host-keys). The command runs
without a local shell: its words go to ``ssh`` as arguments (the remote shell
joins them, as with plain ``ssh``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from provisioner.errors import UsageError
from provisioner.sshconfig import Endpoint, SshTarget

_SAFE_VALUE = re.compile(r'[^"\x00-\x1f\x7f]+')


def _quoted(value: str, what: str) -> str:
    """A value for an ssh_config line, in double quotes (spaces allowed; quotes and control characters not)."""
    if not _SAFE_VALUE.fullmatch(value):
        raise UsageError(f"{what} {value!r}: a path for ssh_config may not hold '\"' or control characters "
                         "- rename or move the file")
    return f'"{value}"'


def _block(alias: str, ep: Endpoint, extra: list[str]) -> list[str]:
    lines = [f"Host {alias}", f"  HostName {ep.address}", f"  Port {ep.port}", f"  User {ep.user}"]
    lines += [f"  IdentityFile {_quoted(f, 'IdentityFile')}" for f in ep.identity_files]
    lines.append(f"  IdentitiesOnly {'yes' if ep.identities_only else 'no'}")
    return lines + [f"  {line}" for line in extra]


def openssh_config(target: SshTarget, known_hosts: list[Path]) -> str:
    """The ssh_config text reaching ``target`` (alias ``provisioner-target``), hops ``provisioner-hop-N``."""
    lines = [f"# Written by `provisioner ssh {target.name}` on every call; `ssh -F` reads only this file.", ""]
    route = target.route
    # An expanded ProxyCommand already holds its values, shell-quoted: no token left for ssh to expand.
    command = [f"ProxyCommand {route.proxy_command.replace('%', '%%')}"] if route.proxy_command else []
    aliases = [f"provisioner-hop-{i}" for i in range(1, len(route.hops) + 1)]
    for i, (alias, hop) in enumerate(zip(aliases, route.hops)):
        lines += _block(alias, hop, command if i == 0 else [f"ProxyJump {','.join(aliases[:i])}"]) + [""]
    jump = [f"ProxyJump {','.join(aliases)}"] if aliases else command
    lines += _block("provisioner-target", target.endpoint, jump) + [""]
    lines += ["Host *", "  StrictHostKeyChecking yes",
              "  UserKnownHostsFile " + " ".join(_quoted(str(f), "known_hosts") for f in known_hosts),
              "  BatchMode no", ""]
    return "\n".join(lines)


def openssh_argv(target: SshTarget, known_hosts: list[Path], config_path: Path, command: list[str]) -> list[str]:
    """Write the config file and return ``ssh``'s argv (no shell on this side)."""
    config_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = config_path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(openssh_config(target, known_hosts))
    os.replace(tmp, config_path)
    return ["ssh", "-F", str(config_path), "--", "provisioner-target", *command]
