"""README.md and docs/ agree with the CLI (issue 21): every `provisioner COMMAND --option` they write
exists, every option written alone in code exists on some command (or is another tool's, listed
below), and every command and option the CLI has is written somewhere."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from provisioner.cli import app

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
# Options the docs show for other programs, and which program they belong to.
FOREIGN = {
    "--keep": "python -m tests.lab demo", "--hops": "python -m tests.lab up", "--name": "python -m tests.lab ssh",
    "--sizes": "bench/compare, bench/up", "--repeat": "bench/compare, bench/up",
    "--iface": "flanneld", "--iface-regex": "flanneld", "--iface-can-reach": "flanneld",
    "--upload-certs": "kubeadm init", "--config": "kubeadm", "--kubeconfig": "kubectl",
    "--hosts": "pytest-testinfra", "--ssh-config/--ssh-identity-file": "pytest-testinfra",
    "--ssh-identity-file": "pytest-testinfra", "--pyargs": "pytest", "--provider": "vagrant up",
    "--builtin-schema": "check-jsonschema", "--syntax-check": "ansible-playbook", "--check": "ansible-playbook",
    "--context": "kubectl", "--pod-infra-container-image": "kubelet (docs/procedure.md)",
    "--initial-cluster": "etcdutl snapshot restore (docs/day-two.md)",
    "--node-cidr-mask-size": "kube-controller-manager (docs/checks.md)",
    "--initial-cluster-token": "etcdutl snapshot restore (docs/day-two.md)",
    "--initial-advertise-peer-urls": "etcdutl snapshot restore (docs/day-two.md)",
}
_CODE = re.compile(r"```.*?```|`[^`\n]+`", re.S)
_STOP = {"|", "||", "&&", ";", "#", "--", ">", "<", "2>&1"}


def _cli() -> dict[str, set[str]]:
    """Command path ('up', 'inventory schema', '' for the root) -> its option names."""
    found: dict[str, set[str]] = {}

    def walk(command, path: str) -> None:
        found[path] = {"-h", "--help"} | {o for p in command.params for o in (*p.opts, *p.secondary_opts)
                                          if o.startswith("-")}
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}".strip())

    walk(typer.main.get_command(app), "")
    return found


def _option_groups() -> set[tuple[str, ...]]:
    """Each option of each command as the tuple of its names (-i, --inventory)."""
    groups = set()

    def walk(command) -> None:
        groups.update(tuple(o for o in (*p.opts, *p.secondary_opts) if o.startswith("-")) for p in command.params)
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(typer.main.get_command(app))
    return {g for g in groups if g and "--show-completion" not in g}


def _code(text: str) -> list[str]:
    """Code spans and the lines of code blocks, each as its own text."""
    spans = []
    for m in _CODE.finditer(text):
        body = m.group(0).strip("`")
        spans.extend(body.splitlines() if m.group(0).startswith("```") else [body])
    return spans


def _words(text: str) -> list[str]:
    return [w.strip("[]().,;'\"").removesuffix("...") for w in text.replace("\\|", "|").split()]


def _uses(spans: list[str], commands: dict) -> list[tuple[str, str, list[str]]]:
    """(span, command path, options) for each `provisioner ...` written in code."""
    uses = []
    for span in spans:
        for part in re.split(r"(?:^|(?<=[\s$(]))provisioner(?=\s|$)", span)[1:]:
            words = _words(part)
            path = ""
            if words and words[0].isupper():          # `provisioner COMMAND -h`: any command
                path = words.pop(0)
            while words and (f"{path} {words[0]}".strip() in commands) and not words[0].startswith("-"):
                path = f"{path} {words.pop(0)}".strip()
            options = []
            for w in words:
                if w in _STOP or w.startswith("#"):
                    break
                if w.startswith("-") and len(w) > 1:
                    options.append(w.split("=")[0])
            if path or options:
                uses.append((span, path, options))
    return uses


def test_every_command_and_option_in_the_docs_exists_and_every_one_is_documented():
    commands = _cli()
    every_option = set().union(*commands.values())
    text = {doc: doc.read_text() for doc in DOCS}
    wrong, written_commands, written_options = [], set(), set()
    for doc, body in text.items():
        spans = _code(body)
        for span, path, options in _uses(spans, commands):
            written_commands.add(path)
            for option in options:
                if option not in commands.get(path, every_option):
                    wrong.append(f"{doc.name}: `{span}`: provisioner {path or '(no command)'} has no {option}")
        for span in spans:
            for w in _words(span):
                if re.fullmatch(r"--?[a-z][a-z0-9-]*", w):
                    written_options.add(w)
            first = span.split()[0].split("=")[0] if span.split() else ""
            if re.fullmatch(r"--[a-z][a-z0-9-]*", first) and first not in every_option and first not in FOREIGN:
                wrong.append(f"{doc.name}: `{span}`: no provisioner command has {first}")
    assert not wrong, "\n".join(wrong)
    missing_commands = [c for c in commands if c and c not in ("inventory", "etcd") and c not in written_commands]
    assert not missing_commands, f"commands the docs never show as `provisioner COMMAND`: {missing_commands}"
    unwritten = sorted("/".join(g) for g in _option_groups() if not set(g) & written_options)
    assert not unwritten, f"options no page of the docs writes: {unwritten}"


def test_the_readme_is_a_landing_page_whose_links_resolve():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", "\n".join(d.read_text() for d in DOCS)):
        if "://" not in target:
            assert any((base / target).exists() for base in (REPO, REPO / "docs")), target
