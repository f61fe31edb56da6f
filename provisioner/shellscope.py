"""Run a read-only probe in a bash function with its variables ``local`` instead of a subshell of its own.

``up``'s step probes ride in preflight's one script per host, several after one another in a few lanes;
each used to run in ``( ... )`` so that nothing one probe sets reaches the next. A subshell is a fork
(~0.35 ms of CPU on our nodes, 17-22 probes per host in every ``up``). A function isolates the same way
when every variable the probe can set is declared ``local`` - which can be shown from its text for the
simple probes we write; anything else keeps its subshell:

>>> "h" in local_names("{ IFS= read -r h < /proc/sys/kernel/hostname; } 2>/dev/null && [ \\"$h\\" = n1 ]")
True
>>> local_names("getent group docker >/dev/null")
['dev', 'docker', 'getent', 'group', 'null']
>>> local_names("n=$((n+1))") is None, local_names("printf -v x 1") is None, local_names("cd /; pwd") is None
(True, True, True)

(Every lower-case word of the text is declared local - a superset of the variables it assigns: a local
named like a command or a path part changes nothing. What could set anything else keeps the subshell:
an upper-case or computed name, ``declare``/``printf -v``/``mapfile``/arithmetic, and what
preflight's ``isolated`` names, where a command starts - exit, exec, cd, set, traps, background jobs.)
"""

from __future__ import annotations

import re

# Ways to set a variable whose name the text does not spell plainly, or to change the shell otherwise.
_STATEFUL = re.compile(r"\b(printf\s+-v|declare|typeset|local|let|mapfile|readarray|getopts|select|coproc|"
                       r"function|enable|builtin|hash|caller|compgen|complete|bind|read\s+[^;|&)}\n]*\$)\b"
                       r"|\(\)\s*\{|(^|[;&|({]\s*)\.\s|\(\(|\$\{[A-Za-z_]\w*:?[=?]")
_ASSIGN = re.compile(r"(?<![\w$/.:-])([A-Za-z_]\w*)(\[[^\]]*\])?\+?=")
_READ = re.compile(r"\bread\b([^;|&)}\n<>]*)")
_FOR = re.compile(r"\bfor\s+([A-Za-z_]\w*)")
_WORD = re.compile(r"(?<![\w$-])[a-z_][a-z0-9_]*\b")
_IDENT = re.compile(r"[a-z_][a-z0-9_]*$")
_RESERVED = {"if", "then", "else", "elif", "fi", "case", "esac", "for", "select", "while", "until", "do", "done",
             "in", "function", "time", "coproc", "_"}


def _read_targets(args: str) -> list[str] | None:
    """The variable names ``read ARGS`` assigns, or None when they are not plain words we can check."""
    words = args.split()
    names, i = [], 0
    while i < len(words):
        w = words[i]
        if w.startswith("-"):
            flags = w[1:]
            if any(f in "dupatnNi" for f in flags[:-1]):
                return None                     # an argument glued to the flags (-ar...): not read here
            if flags[-1:] and flags[-1] in "dupatnNi":   # -d '', -ra NAME: the next word is its argument
                if flags[-1] == "a":
                    names.append(words[i + 1] if i + 1 < len(words) else "")
                i += 2
                continue
            i += 1
            continue
        if w in ("''", '""'):
            i += 1
            continue
        names.append(w)
        i += 1
    return names if all(_IDENT.match(n) for n in names) else None


# The builtins preflight.isolated looks for, but only where a command starts (a path like /etc/x.gpg.source is no `source`):
# after a separator, an opening brace or parenthesis, `!`, a keyword that runs a list, or `command`.
_SHELL_CHANGES = re.compile(r"(?:^|[;&|({!`]|\$\(|\b(?:then|do|else|elif|if|while|until|time|command)\b)\s*"
                            r"(exit|exec|return|set|shopt|cd|pushd|popd|trap|ulimit|umask|unset|export|readonly|"
                            r"alias|source|eval|wait|\.)(?=\s|;|$)", re.M)
_BACKGROUND = re.compile(r"(?<![&>|])&(?![&>])")


def local_names(command: str) -> list[str] | None:
    """The names to declare ``local`` so that ``command`` changes nothing in the shell that calls it, or None
    when it must run in a subshell."""
    if _SHELL_CHANGES.search(command) or _BACKGROUND.search(command) or _STATEFUL.search(command):
        return None
    for m in _ASSIGN.finditer(command):
        name = m.group(1)
        if not _IDENT.match(name):
            # An upper-case name: only IFS as the prefix of a read (that assignment lasts for the read only).
            if not (name == "IFS" and re.match(r"\S*\s+read\b", command[m.end():])):
                return None
    for m in _READ.finditer(command):
        if _read_targets(m.group(1)) is None:
            return None
    for m in _FOR.finditer(command):
        if not _IDENT.match(m.group(1)):
            return None
    return sorted({w for w in _WORD.findall(command) if w not in _RESERVED})


def scoped(name: str, command: str) -> str | None:
    """``command`` as a call of a function named ``name`` with its words local (see :func:`local_names`), or None
    when it needs a subshell. The caller adds the redirections after it, as after a ``( ... )``."""
    names = local_names(command)
    if names is None:
        return None
    decl = f"local {' '.join(names)}; " if names else ""
    return f"{name}() {{ {decl}{command}\n}}; {name}"
