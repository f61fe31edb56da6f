"""Read a YAML file once, keeping the line of every key for error messages.

>>> doc = load_yaml_text("a:\\n  b: 1\\n", "x.yaml")
>>> doc.data, doc.line_of(("a", "b"))
({'a': {'b': 1}}, 2)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from provisioner.errors import InventoryError, Problem


@dataclass
class YamlDocument:
    """Parsed data plus a map from key path to its 1-based line number."""

    file: str
    data: Any
    lines: dict[tuple[str | int, ...], int] = field(default_factory=dict)

    def line_of(self, path: tuple[str | int, ...]) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None


def _index_lines(node: yaml.Node, path: tuple, lines: dict) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            lines[path + (key,)] = key_node.start_mark.line + 1
            _index_lines(value_node, path + (key,), lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[path + (i,)] = item.start_mark.line + 1
            _index_lines(item, path + (i,), lines)


def load_yaml_text(text: str, file: str) -> YamlDocument:
    """Parse ``text``; a syntax error becomes an InventoryError with its line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        reason = exc.problem or "invalid YAML"
        raise InventoryError(
            [Problem(file, (), f"YAML syntax error: {reason} - fix the syntax at this line", line)]
        ) from None
    except yaml.YAMLError as exc:
        raise InventoryError([Problem(file, (), f"YAML error: {exc} - fix the syntax")]) from None
    lines: dict = {}
    if node is not None:
        _index_lines(node, (), lines)
    return YamlDocument(file, data, lines)


def load_yaml_file(path: str | Path) -> YamlDocument:
    """Read and parse a YAML file; a missing or unreadable file is a one-line error."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InventoryError([Problem(name, (), "file not found - check the path given with -i")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise InventoryError([Problem(name, (), f"cannot read the file ({reason}) - check its permissions and encoding")]) from None
    return load_yaml_text(text, name)
