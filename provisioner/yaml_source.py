"""Read a YAML file once, bounded, keeping the line of every key for error messages.

Hostile input is refused with one line (an InventoryError) before it can cost time or
memory: a file over 1 MiB (before it is parsed), a key written twice at any depth, nesting
deeper than 50 levels, aliases that contain themselves, and alias expansion past a budget
("billion laughs": nine aliases of nine aliases of ... expand to 9^9 values from 500 bytes).
The text is parsed once: the composed node graph is checked, indexed and then constructed.

>>> doc = load_yaml_text("a:\\n  b: 1\\n", "x.yaml")
>>> doc.data, doc.line_of(("a", "b"))
({'a': {'b': 1}}, 2)
>>> load_yaml_text("a: 1\\nb: 2\\na: 3\\n", "x.yaml")
Traceback (most recent call last):
...
provisioner.errors.InventoryError: x.yaml:3: a: key 'a' is written twice (lines 1 and 3) - keep one
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from provisioner.errors import InventoryError, Problem

MIB = 1 << 20
# An inventory of 100 hosts takes under 20 KiB; 1 MiB holds several thousand hosts.
MAX_BYTES = 1 * MIB
# An inventory nests about 5 levels (hosts[0].ssh.key); 50 leaves room and keeps every
# recursive walk (ours, PyYAML's constructor, pydantic) far from Python's recursion limit.
MAX_DEPTH = 50
# What a document may expand to once every alias use is counted at its full size: about
# what a 1 MiB file can hold written out, so aliases never make a document costlier than
# the biggest file we read. A few merges (`<<: *defaults`) per host stay far below.
# Go's YAML decoders do the same since CVE-2019-11253 (a billion-laughs body took down the
# Kubernetes API server): go-yaml v2/v3 decode.go count alias-driven decodes against the
# document's own (alias_ratio_range_low = 400000 ... "document contains excessive aliasing").
# PyYAML has no such bound; here the graph is measured before anything is constructed.
MAX_ALIASES = 10_000
MAX_VALUES = 250_000           # nodes: mappings, lists and scalars
MAX_TEXT = 4 * MIB             # characters of all scalars together

_MERGE_TAG = "tag:yaml.org,2002:merge"

KeyPath = tuple[str | int, ...]


@dataclass
class YamlDocument:
    """Parsed data plus a map from key path to its 1-based line number."""

    file: str
    data: Any
    lines: dict[tuple[str | int, ...], int] = field(default_factory=dict)
    # The text of every value YAML read as a number (1.30 is the float 1.3: messages show "1.30").
    numbers: dict[tuple[str | int, ...], str] = field(default_factory=dict)

    def line_of(self, path: tuple[str | int, ...]) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None


class _Refused(Exception):
    """Internal: the document is refused at ``line`` (1-based or None) for ``message``."""

    def __init__(self, line: int | None, message: str, path: KeyPath = ()):
        super().__init__(message)
        self.line, self.message, self.path = line, message, path


def _line(node_or_mark) -> int | None:
    mark = getattr(node_or_mark, "start_mark", node_or_mark)
    return mark.line + 1 if mark is not None else None


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that counts alias uses and nesting while it composes (before any value is built)."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self.alias_uses = 0
        self._depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self.alias_uses += 1
            if self.alias_uses > MAX_ALIASES:
                raise _Refused(_line(self.peek_event()),
                               f"more than {MAX_ALIASES} alias uses (*name) - write the values out; "
                               "an inventory needs a few aliases at most")
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(_line(self.peek_event()), _too_deep())
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node, deep=False):
        # A value the resolver took for a date or number but that is none (2026-13-01)
        # raises a bare ValueError from datetime/int: give it its line.
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, OverflowError) as exc:
            shown = repr(node.value)[:80] if isinstance(node, yaml.ScalarNode) else "this value"
            raise _Refused(_line(node), f"{shown} cannot be read ({_one_line(exc)}) - quote it if it is text") from None


def _too_deep() -> str:
    return f"nested more than {MAX_DEPTH} levels deep - an inventory nests about 5; check the brackets and indentation"


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _measure(root: yaml.Node, alias_uses: int) -> None:
    """Refuse a node graph whose expansion (every alias use at full size) is over budget or loops.

    Each node object is measured once (an alias is the same object again), so this costs
    the size of the text, not of the expansion. Iterative: alias chains can be long.
    """
    done: dict[int, tuple[int, int, int]] = {}   # id -> (values, text, depth) once expanded
    on_path: set[int] = {id(root)}
    stack = [(root, iter(_children(root)))]
    while stack:
        node, pending = stack[-1]
        child = next(pending, None)
        if child is not None:
            if id(child) in done:
                continue
            if id(child) in on_path:
                raise _Refused(_line(child), "an alias is used inside the very node it names (a loop) "
                                             "- point the alias at a node outside it")
            on_path.add(id(child))
            stack.append((child, iter(_children(child))))
            continue
        stack.pop()
        on_path.discard(id(node))
        if isinstance(node, yaml.ScalarNode):
            values, text, depth = 1, len(node.value), 1
        else:
            kids = [done[id(c)] for c in _children(node)]
            values = 1 + sum(k[0] for k in kids)
            text = sum(k[1] for k in kids)
            depth = 1 + max((k[2] for k in kids), default=0)
        if values > MAX_VALUES or text > MAX_TEXT:
            size = (f"{values} values, over the limit of {MAX_VALUES}" if values > MAX_VALUES
                    else f"{text / MIB:.1f} MiB of text, over the limit of {MAX_TEXT // MIB} MiB")
            if alias_uses:
                raise _Refused(_line(node), f"the value at this line expands to {size} ({alias_uses} alias uses: "
                                            "a 'billion laughs' document) - write the values out or use fewer aliases")
            raise _Refused(_line(node), f"the value at this line holds {size} - an inventory is far smaller; "
                                        "check that -i names the inventory")
        if depth > MAX_DEPTH:
            raise _Refused(_line(node), _too_deep())
        done[id(node)] = (values, text, depth)


def _key_text(key_node: yaml.Node) -> str | None:
    return key_node.value if isinstance(key_node, yaml.ScalarNode) else None


def _index(node: yaml.Node, path: KeyPath, lines: dict, checked: set[int], duplicates: list[Problem]) -> None:
    """Record the line of every key path; refuse a key written twice in one mapping.

    A key that comes from a merge (``<<: *defaults``) is indexed at the line where it is
    written, unless the mapping sets it itself. Duplicates are collected (every one is
    reported); ``checked`` holds the mappings already checked, so an aliased one counts once.
    """
    if isinstance(node, yaml.MappingNode):
        if id(node) not in checked:
            checked.add(id(node))
            first: dict[tuple[str, str], int | None] = {}
            for key_node, _ in node.value:
                key = _key_text(key_node)
                if key is None:
                    continue
                ident = (key_node.tag, key)
                if ident in first:
                    where = (f"twice on line {first[ident]}" if first[ident] == _line(key_node)
                             else f"twice (lines {first[ident]} and {_line(key_node)})")
                    duplicates.append(Problem("", path + (key,), f"key {key!r} is written {where} - keep one",
                                              _line(key_node)))
                else:
                    first[ident] = _line(key_node)
        merges = []
        for key_node, value_node in node.value:
            key = _key_text(key_node)
            if key is None:
                continue
            if key_node.tag == _MERGE_TAG:
                merges.append(value_node)
                continue
            lines[path + (key,)] = _line(key_node)
            _index(value_node, path + (key,), lines, checked, duplicates)
        for merged in merges:
            for source in (merged.value if isinstance(merged, yaml.SequenceNode) else [merged]):
                extra: dict = {}
                _index(source, path, extra, checked, duplicates)
                for k, v in extra.items():
                    lines.setdefault(k, v)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[path + (i,)] = _line(item)
            _index(item, path + (i,), lines, checked, duplicates)


_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


def _number_texts(root: yaml.Node) -> dict[KeyPath, str]:
    """Key path -> written text of each plain scalar YAML resolved as a number (merged keys left out)."""
    found: dict[KeyPath, str] = {}
    stack: list[tuple[yaml.Node, KeyPath]] = [(root, ())]
    seen: set[int] = set()
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode) and node.tag in _NUMBER_TAGS:
            found[path] = node.value
        elif isinstance(node, yaml.MappingNode):
            stack.extend((v, path + (k.value,)) for k, v in node.value
                         if isinstance(k, yaml.ScalarNode) and k.tag != _MERGE_TAG)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((v, path + (i,)) for i, v in enumerate(node.value))
    return found


def _tab_hint(text: str, line: int | None) -> str:
    """A fix for a syntax error on a line holding a tab: YAML indents with spaces only."""
    lines = text.splitlines()
    if line and 0 < line <= len(lines) and "\t" in lines[line - 1]:
        return " - YAML indents with spaces, not tabs: replace the tab on this line with spaces"
    return " - fix the syntax at this line"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def load_yaml_text(text: str, file: str) -> YamlDocument:
    """Parse ``text`` once; a syntax error or hostile input becomes a one-line InventoryError."""
    if len(text) > MAX_BYTES:
        raise InventoryError([_too_big(file, len(text.encode("utf-8", "surrogatepass")))])
    loader = None
    try:
        loader = _BoundedLoader(text)   # the reader checks the characters here
        node = loader.get_single_node()
        lines: dict = {}
        numbers: dict = {}
        if node is not None:
            _measure(node, loader.alias_uses)
            duplicates: list[Problem] = []
            _index(node, (), lines, set(), duplicates)
            if duplicates:
                raise InventoryError([Problem(file, p.path, p.message, p.line)
                                      for p in sorted(duplicates, key=lambda p: p.line or 0)])
            data = loader.construct_document(node)
            numbers = _number_texts(node)
        else:
            data = None
    except _Refused as exc:
        raise InventoryError([Problem(file, exc.path, exc.message, exc.line)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        reason = exc.problem or "invalid YAML"
        if exc.context and exc.context_mark and exc.problem_mark and exc.context_mark.line != exc.problem_mark.line:
            reason = f"{exc.context} (line {exc.context_mark.line + 1}): {reason}"
        raise InventoryError(
            [Problem(file, (), f"YAML syntax error: {_one_line(reason)}{_tab_hint(text, line)}", line)]
        ) from None
    except yaml.reader.ReaderError as exc:
        # A control character in the text itself (YAML allows none but tab and newlines).
        line = text.count("\n", 0, exc.position) + 1
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        raise InventoryError([Problem(file, (), f"the control or special character U+{ord(char):04X} is not "
                                                f"allowed in YAML - remove it", line)]) from None
    except yaml.YAMLError as exc:
        raise InventoryError([Problem(file, (), f"YAML error: {_one_line(exc)} - fix the syntax")]) from None
    finally:
        if loader is not None:
            loader.dispose()
    return YamlDocument(file, data, lines, numbers)


def _too_big(file: str, size: int) -> Problem:
    shown = f"{size / MIB:.1f} MiB" if size < 100 * MIB else "over 100 MiB"
    return Problem(file, (), f"the file is {shown}; an inventory is at most {MAX_BYTES // MIB} MiB "
                             "- check that -i names the inventory (100 hosts take under 20 KiB)")


def load_yaml_file(path: str | Path) -> YamlDocument:
    """Read and parse a YAML file; a missing, unreadable or oversized file is a one-line error.

    The size is checked before anything is parsed, and at most 1 MiB + 1 byte is ever read
    (a device or a growing file has no trustworthy size).
    """
    name = str(path)
    try:
        size = Path(path).stat().st_size
        if size > MAX_BYTES:
            raise InventoryError([_too_big(name, size)])
        with open(path, "rb") as stream:
            raw = stream.read(MAX_BYTES + 1)
        if len(raw) > MAX_BYTES:
            raise InventoryError([Problem(name, (), f"the file is over {MAX_BYTES // MIB} MiB; an inventory is at most "
                                                    f"{MAX_BYTES // MIB} MiB - check that -i names the inventory")])
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise InventoryError([Problem(name, (), "file not found - check the path given with -i")]) from None
    except IsADirectoryError:
        raise InventoryError([Problem(name, (), "is a directory, not an inventory file - give the YAML file "
                                                "with -i (e.g. DIR/inventory.yaml)")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise InventoryError([Problem(name, (), f"cannot read the file ({reason}) - check its permissions and encoding")]) from None
    if not text.strip():
        raise InventoryError([Problem(name, (), "the file is empty - write the inventory into it "
                                                "(`provisioner init` writes a starter one)")])
    return load_yaml_text(text, name)
