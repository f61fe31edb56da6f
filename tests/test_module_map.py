"""docs/modules.md matches the code: every module of provisioner/ has a row, its imports column is what the
module imports from the package, and no module imports from a layer below its own."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def code_imports() -> dict[str, set[str]]:
    out = {}
    for path in sorted((ROOT / "provisioner").rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        name = "provisioner" if name == "provisioner" else name.removeprefix("provisioner.")
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("provisioner"):
                module = node.module.removeprefix("provisioner").removeprefix(".")
                deps |= {module} if module else {a.name for a in node.names if a.name != "__version__"}
        out[name] = deps - {name}
    return out


def documented() -> list[tuple[str, str, set[str]]]:
    """(layer, module, imports) per row of the table, in order (a blank layer cell continues the one above)."""
    rows, layer = [], ""
    for line in (ROOT / "docs/modules.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) != 4 or cells[1] in ("module", "---"):
            continue
        layer = cells[0] or layer
        rows.append((layer, cells[1], set(cells[3].split()) - {"-"}))
    return rows


def test_every_module_has_a_row_with_its_real_imports():
    code, rows = code_imports(), documented()
    assert sorted(m for _, m, _ in rows) == sorted(code)
    assert {m: deps for _, m, deps in rows} == code


def test_no_module_imports_from_a_layer_below_its_own():
    rows = documented()
    layers = list(dict.fromkeys(layer for layer, _, _ in rows))
    rank = {m: layers.index(layer) for layer, m, _ in rows}
    assert [(m, d) for _, m, deps in rows for d in deps if rank[d] > rank[m]] == []
