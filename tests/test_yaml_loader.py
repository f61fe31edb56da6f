"""Hostile inventory files are refused with one line each (file:line: path: problem - fix); the
same file written sanely passes.

Each row is YAML text, not a change to a dict: duplicate keys, aliases, nesting and raw control
characters exist only in the text (yaml.safe_dump never writes them). The rows are built from
inventories/seed-ha.yaml, so every passing input is a whole valid inventory.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.errors import InventoryError
from provisioner.validation import check_inventory, load_inventory
from provisioner.yaml_source import MAX_ALIASES, MAX_BYTES, MAX_DEPTH
from tests.support.cli import run_cli

SEED = (Path(__file__).resolve().parents[1] / "inventories" / "seed-ha.yaml").read_text()
HOST0 = "  - {hostname: master1, address: 10.0.0.101, roles: [control-plane]}\n"
assert HOST0 in SEED and SEED.splitlines().index(HOST0.rstrip("\n")) == 40    # line 41

# The billion-laughs document: nine levels of nine aliases, 9^9 strings from 500 bytes.
LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{b}: &{b} [{', '.join(['*' + a] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi"))

# Aliases used as people use them: a host merged into the next ones (<<:), a shared ssh block.
SANE_ALIASES = SEED.replace(
    HOST0 + "  - {hostname: master2, address: 10.0.0.102, roles: [control-plane]}\n"
            "  - {hostname: master3, address: 10.0.0.103, roles: [control-plane]}\n"
            "  - {hostname: node1,   address: 10.0.0.104, roles: [worker]}\n"
            "  - {hostname: node2,   address: 10.0.0.105, roles: [worker]}\n",
    "  - &cp {hostname: master1, address: 10.0.0.101, roles: [control-plane]}\n"
    "  - {<<: *cp, hostname: master2, address: 10.0.0.102}\n"
    "  - {<<: *cp, hostname: master3, address: 10.0.0.103}\n"
    "  - &worker {hostname: node1, address: 10.0.0.104, roles: [worker], ssh: &ops {user: ops, port: 2222}}\n"
    "  - {<<: *worker, hostname: node2, address: 10.0.0.105}\n")
assert SANE_ALIASES != SEED


def _swap(old: str, new: str, text: str = SEED) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def _padded(size: int, head: str) -> str:
    """``head`` followed by YAML comment lines up to ``size`` bytes."""
    line = "# " + "x" * 77 + "\n"
    text = head + line * ((size - len(head)) // len(line))
    return text + "#" * (size - len(text) - 1) + "\n" if size - len(text) > 1 else text


ROWS = [
    # id, failing text, passing text, line, path, words of the one line (problem - fix)
    ("key-twice-top", _swap("domain: example.org\n", "domain: example.org\ncni: calico\n"), SEED,
     26, "cni", "key 'cni' is written twice (lines 9 and 26) - keep one"),
    ("key-twice-in-a-host",
     _swap(HOST0, "  - hostname: master1\n    address: 10.0.0.101\n    roles: [control-plane]\n"
                  "    address: 10.0.0.111\n"),
     _swap(HOST0, "  - hostname: master1\n    address: 10.0.0.101\n    roles: [control-plane]\n"),
     44, "hosts[0].address", "key 'address' is written twice (lines 42 and 44) - keep one"),
    ("key-twice-deep", _swap("    user: root\n", "    user: root\n    user: ops\n"), SEED,
     38, "host_defaults.ssh.user", "key 'user' is written twice (lines 37 and 38) - keep one"),
    ("key-twice-one-line", _swap(HOST0, HOST0.replace("}", ", address: 10.0.0.111}")), SEED,
     41, "hosts[0].address", "key 'address' is written twice on line 41 - keep one"),
    ("billion-laughs", LAUGHS, SANE_ALIASES,
     6, "(top level)", "expands to 597871 values, over the limit of 250000 (72 alias uses: a 'billion laughs' document)"
                       " - write the values out or use fewer aliases"),
    ("alias-uses", _swap("ntp_servers: [ntp.aliyun.com]",
                         "ntp_servers: [&n ntp.aliyun.com" + ", *n" * (MAX_ALIASES + 1) + "]"),
     _swap("ntp_servers: [ntp.aliyun.com]", "ntp_servers: [&n ntp.aliyun.com, *n, *n]"),
     27, "(top level)", f"more than {MAX_ALIASES} alias uses (*name) - write the values out"),
    ("alias-loop", _swap("ntp_servers: [ntp.aliyun.com]", "ntp_servers: &n [ntp.aliyun.com, *n]"), SANE_ALIASES,
     27, "(top level)", "an alias is used inside the very node it names (a loop) - point the alias at a node outside it"),
    ("nested-too-deep", _swap("ntp_servers: [ntp.aliyun.com]", "ntp_servers: " + "[" * 60 + "ntp.aliyun.com" + "]" * 60),
     SEED,
     27, "(top level)", f"nested more than {MAX_DEPTH} levels deep - an inventory nests about 5"),
    # Refused before parsing: the text is not even YAML.
    ("file-over-1-MiB", _padded(int(1.3 * MAX_BYTES), "{{{ not YAML\n"), _padded(MAX_BYTES, SEED),
     None, "(top level)", "the file is 1.3 MiB; an inventory is at most 1 MiB - check that -i names the inventory"),
    ("control-char-raw", _swap("timezone: Asia/Shanghai", "timezone: Asia/Shang\x07hai"), SEED,
     28, "(top level)", "the control or special character U+0007 is not allowed in YAML - remove it"),
    ("control-char-escaped", _swap("timezone: Asia/Shanghai", 'timezone: "Asia/Shanghai\\e[2J"'), SEED,
     28, "timezone", "'Asia/Shanghai\\x1b[2J' contains the control character U+001B - remove it"),
    ("control-char-in-key", _swap("timezone: Asia/Shanghai", '"time\\ezone": Asia/Shanghai'), SEED,
     28, "'time\\x1bzone'", "unknown key 'time\\x1bzone' - did you mean 'timezone'?"),
    ("not-a-date", _swap("timezone: Asia/Shanghai", "timezone: 2026-13-01"), SEED,
     28, "(top level)", "'2026-13-01' cannot be read (month must be in 1..12) - quote it if it is text"),
]


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_hostile_text_is_one_line_and_its_sane_twin_passes(row, tmp_path):
    name, bad, good, line, path, words = row
    file = tmp_path / "inv.yaml"
    file.write_text(bad, encoding="utf-8")
    with pytest.raises(InventoryError) as info:
        load_inventory(file)
    lines = str(info.value).splitlines()
    where = f"{file}:{line}" if line else str(file)
    matching = [text for text in lines if text.startswith(f"{where}: {path}: ") and words in text]
    assert matching, f"expected {where}: {path}: ...{words}... in {lines}"
    assert all(text.isprintable() for text in lines), "a control character reached the message"

    file.write_text(good, encoding="utf-8")
    inv, problems = check_inventory(file)
    assert inv is not None and problems == [], [str(p) for p in problems]


def test_sane_aliases_build_what_they_say():
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(SANE_ALIASES)
        f.flush()
        inv = load_inventory(f.name)
    by_name = {h.hostname: h for h in inv.hosts}
    assert by_name["master2"].roles == ["control-plane"] and str(by_name["master2"].address) == "10.0.0.102"
    assert (by_name["node2"].ssh.user, by_name["node2"].ssh.port) == ("ops", 2222)
    assert (by_name["node3"].ssh.user, by_name["node3"].ssh.port) == ("root", 22)


def test_a_merged_key_is_reported_where_it_is_written(tmp_path):
    """An error in a value a host got through `<<: *cp` names that host and the line of the value."""
    file = tmp_path / "inv.yaml"
    file.write_text(SANE_ALIASES.replace("roles: [control-plane]}", "roles: [master]}"))
    _, problems = check_inventory(file)
    shown = {str(p).split(": ", 2)[1]: p.line for p in problems}
    assert shown == {"hosts[0].roles[0]": 41, "hosts[1].roles[0]": 41, "hosts[2].roles[0]": 41}, shown


@pytest.mark.parametrize("name", ["key-twice-in-a-host", "billion-laughs", "file-over-1-MiB", "control-char-in-key",
                                  "not-a-date"])
def test_validate_command_refuses_hostile_files(name, tmp_path):
    """What a user sees: exit 2, one line per problem on stderr, no traceback - and quickly: the
    billion-laughs file took minutes before the loader counted aliases. The timeout only keeps a
    regression from hanging the suite; nothing here measures time."""
    _, bad, _, line, path, words = next(r for r in ROWS if r[0] == name)
    file = tmp_path / "inv.yaml"
    file.write_text(bad, encoding="utf-8")
    result = run_cli("validate", "-i", str(file), timeout=20)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    (shown,) = result.stderr.strip().splitlines()
    assert shown.startswith(f"{file}:{line}: {path}: " if line else f"{file}: {path}: ") and words in shown, shown
