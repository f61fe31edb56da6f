"""The one bash script that reads many facts on a host in one round trip (:func:`gather_script`), run as
root when it can be (:func:`wrap_privileged`), and its answer read back (:func:`parse_facts`,
:func:`clock_offset`).

Each fact's output sits between ``@@FACT NAME START`` and ``@@RC CODE END`` markers (times from bash's
``$EPOCHREALTIME``); ``@@PRIV 1`` says the script ran as root; ``@@CLOCK`` lines stamp the host's clock.
"""

from __future__ import annotations

import re
import shlex

from provisioner import shellscope
from provisioner.factdata import Fact, Facts


# What could end the gathering shell or change it for the facts after: such a command runs in a subshell.
_UNSAFE = re.compile(r"\b(exit|exec|return|set|shopt|cd|pushd|popd|trap|ulimit|umask|unset|export|readonly|"
                     r"alias|source|eval|wait)\b|(?<![&>])&(?![&>])|\b(PATH|IFS)=\S*\s*(;|&&|\|\||$)")


def isolated(command: str) -> bool:
    """True when ``command`` must run in its own subshell: it may exit, change the shell's state
    (options, directory, traps, exported or special variables) or leave background jobs behind.

    >>> isolated("cat /proc/swaps"), isolated("printf 'x'; exit 3"), isolated("sleep 1 & wait")
    (False, True, True)
    """
    return bool(_UNSAFE.search(command))


SIDE_LANES = 3       # processes running a caller's extra commands alongside the facts


def gather_script(commands: dict[str, str], shared: frozenset | set = frozenset(), clock: bool = False,
                  alongside: frozenset | set = frozenset()) -> str:
    """One bash script printing each fact between markers, with its exit code and timing.

    A command runs in its own subshell (an ``exit`` or a failure in one fact cannot end the gathering of
    the others) unless its name is in ``shared`` and :func:`isolated` finds nothing unsafe in it: then it
    runs in the script's own shell, which saves a fork per fact. With ``clock``, the first and the last
    line stamp the host's clock (``@@CLOCK``): :func:`clock_offset` turns them into the offset.

    The commands named in ``alongside`` (``up``'s step probes) run in ``SIDE_LANES`` more processes
    started first (round robin; one after the other within a lane), while the others run: a host's wall
    time is then its longest sequence, not the sum (the probes of a built control plane wait on its
    API server: kubectl, curl). Their output goes through pipes and is copied out at the end, so every
    fact's lines stay together. Within a lane a probe runs as a function with its variables local where
    :func:`~provisioner.shellscope.scoped` can show that isolates it as a subshell would (no fork), else in
    a subshell."""
    functions = iter(range(len(commands)))

    def block(name: str, command: str) -> str:
        if name in shared and not isolated(command):
            body = f"{{ {command}\n}}"
        elif name in alongside and (call := shellscope.scoped(f"_probe{next(functions)}", command)):
            body = call
        else:
            body = f"( {command}\n)"
        return (f"printf '@@FACT %s %s\\n' {shlex.quote(name)} \"$EPOCHREALTIME\"\n"
                f"{body} </dev/null 2>&1\n"
                f"printf '\\n@@RC %s %s\\n' \"$?\" \"$EPOCHREALTIME\"")

    parts = ['printf \'@@CLOCK %s\\n\' "$EPOCHREALTIME"'] if clock else []
    side = [block(name, command) for name, command in commands.items() if name in alongside]
    lanes = [side[i::SIDE_LANES] for i in range(SIDE_LANES) if side[i::SIDE_LANES]]
    for i, lane in enumerate(lanes):
        parts.append(f"exec {{_side{i}}}< <(\n" + "\n".join(lane) + "\n)")
    parts += [block(name, command) for name, command in commands.items() if name not in alongside]
    for i in range(len(lanes)):
        parts.append(f'while IFS= read -r -u "$_side{i}" _line || [ -n "$_line" ]; do printf \'%s\\n\' "$_line"; done')
    if clock:
        parts.append('printf \'@@CLOCK %s\\n\' "$EPOCHREALTIME"')
    return "\n".join(parts) + "\nexit 0\n"


def wrap_privileged(script: str, allow_sudo: bool = True) -> str:
    """Run as root when we can (already root, or sudo -n), else as the user; the first line says which.

    One sudo, not a ``sudo -n true`` test first: ``sudo -n`` exits 1 when it may not run the command (and
    the script itself always ends with ``exit 0``), and only then does the script run as the user."""
    sudo = ('if command -v sudo >/dev/null 2>&1; then sudo -n bash -c "$s" _ 1 2>/dev/null; r=$?; '
            '[ "$r" = 1 ] || exit "$r"; fi; ') if allow_sudo else ""
    whole = 'echo "@@PRIV $1"\n' + script          # $1: 1 run as root, 0 as the user
    return (f"s={shlex.quote(whole)}; if [ \"$(id -u)\" = 0 ]; then exec bash -c \"$s\" _ 1; fi; "
            f"{sudo}exec bash -c \"$s\" _ 0")


def clock_offset(output: str, sent: float, received: float) -> float | None:
    """Remote clock minus local clock from the script's ``@@CLOCK`` stamps (its first and last line) and
    the local times the command was sent and its answer read.

    The script ran, on the remote clock, from the first stamp to the last; locally it ran somewhere
    between ``sent`` and ``received``. Matching the middles leaves an error of half the difference between
    the time before the first stamp (channel, sudo, bash start) and after the last (exit, the answer's
    way back): a few ms, far below the skew that matters (0.5 s)::

    >>> clock_offset("@@CLOCK 1000.100\\n@@FACT a 1\\n@@CLOCK 1000.300\\n", 990.0, 990.4)
    10.0
    >>> clock_offset("no stamps", 990.0, 990.4) is None
    True
    """
    stamps = [_stamp(line.split()[1]) for line in output.splitlines()
              if line.startswith("@@CLOCK ") and len(line.split()) == 2]
    stamps = [s for s in stamps if s > 0]
    if not stamps:
        return None
    return round((stamps[0] + stamps[-1]) / 2 - (sent + received) / 2, 6)


def parse_facts(output: str) -> tuple[Facts, dict[str, float]]:
    facts, durations = Facts(), {}
    name, start, buf = None, 0.0, []
    for line in output.splitlines():
        if line.startswith("@@PRIV "):
            facts.privileged = line.split()[1] == "1"
        elif line.startswith("@@FACT "):
            _, name, stamp = (line.split() + ["", ""])[:3]
            start, buf = _stamp(stamp), []
        elif line.startswith("@@RC ") and name:
            _, rc, stamp = (line.split() + ["", ""])[:3]
            facts.values[name] = Fact("\n".join(buf).strip("\n"), int(rc) if rc.lstrip("-").isdigit() else 1)
            durations[name] = max(0.0, _stamp(stamp) - start)
            name = None
        elif name:
            buf.append(line)
    return facts, durations


def _stamp(text: str) -> float:
    try:
        return float(text.replace(",", "."))
    except ValueError:
        return 0.0
