"""The inventory a day-two command leaves behind (without removed hosts, at an upgraded version), validated as
`up` would load it, so that the files it renders are the ones the next `up` wants.

>>> changed_inventory(Path("inventories/lab.yaml"), lambda d: {**d, "kubernetes_version": "1.37.1"}, "upgrade",
...                   "at 1.37.1").kubernetes_version                           # doctest: +SKIP
'1.37.1'
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from provisioner.errors import UsageError
from provisioner.inventory import Inventory
from provisioner.validation import check_document
from provisioner.yaml_source import YamlDocument, load_yaml_file


def changed_inventory(path: Path, change: Callable[[dict], dict], command: str, what: str) -> Inventory:
    """The inventory at ``path`` with ``change`` applied to its data; UsageError naming ``what`` if not valid."""
    doc = load_yaml_file(path)
    data = change(dict(doc.data))
    # what YAML read as numbers, where the change left the value alone (kubernetes_version: 1.36 is read as the
    # newest 1.36 patch, unless the change set it); no line numbers: they would point into the file as written
    numbers = {key: text for key, text in doc.numbers.items() if data.get(key[0]) == doc.data.get(key[0])}
    inv, problems = check_document(YamlDocument(doc.file, data, {}, numbers))
    errors = [p for p in problems if not p.warning]
    if inv is None or errors:
        raise UsageError(f"{command}: {path} {what} is not a valid inventory: {(errors or problems)[0].message}")
    return inv
