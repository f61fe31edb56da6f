"""Pass 1 of validation: pydantic's errors about keys and types, as one plain line each.

>>> _describe({"type": "missing", "loc": ("hosts", 0, "address"), "input": {}})
(('hosts', 0, 'address'), 'required - add this key')
"""

from __future__ import annotations

import difflib
import typing

from pydantic import BaseModel, ValidationError

from provisioner.inventory import Inventory, show_value

Finding = tuple[tuple[str | int, ...], str, bool]  # (path, message, is_warning)


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The pydantic model whose fields live at ``loc`` (for did-you-mean hints)."""
    model: type[BaseModel] | None = Inventory
    for part in loc:
        if model is None:
            return None
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        model = _first_model(field.annotation)
    return model


def _first_model(annotation) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _first_model(arg)
        if found:
            return found
    return None


def _input_loc(loc: tuple, data) -> tuple:
    """``loc`` without pydantic's own entries (union tags like ``function-after[...]``).

    A part is kept when it indexes the input: a key the file wrote may hold '[' too.
    """
    out = []
    for part in loc:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        elif isinstance(part, str) and ("[" in part or "(" in part):
            continue
        else:
            data = None
        out.append(part)
    return tuple(out)


def _describe(error: dict, data=None, numbers: dict | None = None) -> tuple[tuple, str]:
    loc = _input_loc(tuple(error["loc"]), data)
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    if kind == "extra_forbidden":
        key = loc[-1]
        model = _model_at(loc[:-1])
        known = list(model.model_fields) if model else []
        close = difflib.get_close_matches(str(key), known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"
        return loc, f"unknown key {key!r} - {hint}"
    if kind == "missing":
        return loc, "required - add this key"
    if kind == "value_error":
        return loc, str(ctx.get("error", error["msg"]))
    if kind == "literal_error":
        return loc, f"{show_value(value)} is not one of {ctx.get('expected')} - pick one of them"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return loc, f"{show_value(value)} is not a whole number - write a number without quotes or decimals"
    if kind in ("greater_than_equal", "less_than_equal"):
        return loc, f"{show_value(value)} is out of range ({error['msg'].lower()}) - pick a value in range"
    if kind == "too_short":
        return loc, "is empty - list at least one entry"
    if kind in ("bool_parsing", "bool_type"):
        return loc, f"{show_value(value)} is not true or false - write true or false"
    if kind in ("ip_v4_address", "ip_any_address"):
        return loc, f"{show_value(value)} is not an IPv4 address - write it like 10.0.0.101"
    if kind in ("ip_v4_network", "ip_any_network"):
        return loc, f"{show_value(value)} is not an IPv4 network - write it like 10.244.0.0/16, with no host bits set"
    if kind in ("string_type",):
        written = (numbers or {}).get(loc)
        if written is not None:
            return loc, f"{written} is read by YAML as a number - write it in quotes: \"{written}\""
        return loc, f"expected text, got {type(value).__name__} {show_value(value)} - quote it or write a name"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return loc, f"expected a mapping of keys, got {type(value).__name__} - see `provisioner inventory schema`"
    if kind == "list_type":
        return loc, f"expected a list, got {type(value).__name__} - write it as a YAML list"
    return loc, f"{error['msg']} - see `provisioner inventory schema`"


def shape_findings(exc: ValidationError, data=None, numbers: dict | None = None) -> list[Finding]:
    seen: set = set()
    out: list[Finding] = []
    for error in exc.errors():
        loc, message = _describe(error, data, numbers)
        if (loc, message) not in seen:
            seen.add((loc, message))
            out.append((loc, message, False))
    return out
