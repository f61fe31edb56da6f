"""The small vocabulary the type modules are written in, and how each shape checks a value.

A *shape* says what JSON value a Go field accepts once YAML has been turned into
JSON (which is what kubeadm, the kubelet and kube-proxy do: sigs.k8s.io/yaml ->
encoding/json).  The mapping from Go types is:

    string, named string types        -> STRING (or Enum(...) where upstream validates a fixed set)
    bool, *bool                       -> BOOL
    int32 / *int32, int64, uint32     -> INT32, INT64, UINT32 (JSON integers; 1.0 or "1" are rejected)
    float32 / float64                 -> FLOAT (any JSON number)
    metav1.Duration / *metav1.Duration-> DURATION (a *string* Go's time.ParseDuration accepts: "4m0s", "30s", "1h")
    metav1.Time                       -> TIME (RFC 3339 string)
    resource.Quantity                 -> QUANTITY (string like "100Mi" or a number)
    []T                               -> ListOf(T)
    map[string]T                      -> MapOf(T)
    struct (embedded `json:",inline"` structs are flattened in) -> Struct(...)

A Struct's fields are a dict of JSON field name -> shape, or -> required(shape)
for fields upstream requires.  Checking a value yields error strings; nothing
here raises.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping


# --------------------------------------------------------------------------- context


@dataclass
class Context:
    """What a check needs besides the value: the apiVersion (for messages) and options."""

    api_version: str
    allow_null: bool = False
    errors: list[str] = field(default_factory=list)

    def error(self, path: str, message: str) -> None:
        self.errors.append(f"{path}: {message}")


def _q(text: str) -> str:
    """Quote like Go's %q (near enough): double quotes, escapes."""
    return json.dumps(text, ensure_ascii=False)


def describe_value(value: Any) -> str:
    """How a YAML value is named in messages: 'mapping', 'list', 'string "x"', 'int 5'..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"bool {str(value).lower()}"
    if isinstance(value, int):
        return f"int {value}"
    if isinstance(value, float):
        return f"float {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return "string " + _q(shown)
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, _dt.datetime):
        return f"timestamp {value.isoformat()}"
    if isinstance(value, _dt.date):
        return f"date {value.isoformat()} (no time of day)"
    return type(value).__name__


# --------------------------------------------------------------------------- base


class Shape:
    """Something a JSON field can be.  Subclasses implement describe() and _check()."""

    def describe(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def _check(self, value: Any, path: str, ctx: Context, hint: str) -> None:  # pragma: no cover
        raise NotImplementedError

    def mismatch(self, value: Any, path: str, ctx: Context, hint: str = "", detail: str = "") -> None:
        msg = f"expected {self.describe()} in {ctx.api_version}, got {describe_value(value)}"
        if detail:
            msg += f" ({detail})"
        if hint:
            msg += f" -- {hint}"
        ctx.error(path, msg)


def check_value(shape: Shape, value: Any, path: str, ctx: Context, hint: str = "") -> None:
    """Check one value against a shape.  Null is handled here, once, for every shape.

    encoding/json treats `null` as "leave the field alone", so upstream accepts it
    anywhere.  In a rendered template it almost always means an empty variable, so
    by default we report it; Context.allow_null=True follows upstream instead.
    """
    if value is None:
        if not ctx.allow_null:
            ctx.error(
                path,
                f"null value (expected {shape.describe()} in {ctx.api_version}; "
                "kubeadm would silently ignore it -- probably an empty template variable)",
            )
        return
    shape._check(value, path, ctx, hint)


# --------------------------------------------------------------------------- scalars


class _String(Shape):
    def describe(self) -> str:
        return "string"

    def _check(self, value, path, ctx, hint):
        if not isinstance(value, str):
            self.mismatch(value, path, ctx, hint)


class _Bool(Shape):
    def describe(self) -> str:
        return "bool"

    def _check(self, value, path, ctx, hint):
        if not isinstance(value, bool):
            self.mismatch(value, path, ctx, hint)


class Int(Shape):
    """A JSON integer within the Go type's range."""

    def __init__(self, go_type: str, lo: int, hi: int):
        self.go_type, self.lo, self.hi = go_type, lo, hi

    def describe(self) -> str:
        return f"int ({self.go_type})"

    def _check(self, value, path, ctx, hint):
        if isinstance(value, bool) or not isinstance(value, int):
            self.mismatch(value, path, ctx, hint)
        elif not self.lo <= value <= self.hi:
            self.mismatch(value, path, ctx, hint, detail=f"out of range for {self.go_type}")


class _Float(Shape):
    def describe(self) -> str:
        return "number"

    def _check(self, value, path, ctx, hint):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.mismatch(value, path, ctx, hint)


# Go's time.ParseDuration, transcribed: [-+]?([0-9]*(\.[0-9]*)?[a-z]+)+ , or "0".
_DURATION_UNITS_NS = {
    "ns": 1,
    "us": 10**3,
    "\u00b5s": 10**3,  # micro sign
    "\u03bcs": 10**3,  # Greek mu
    "ms": 10**6,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
}
_DURATION_PART = re.compile(r"(\d*)(?:\.(\d*))?([^\d.]+)")
_MAX_DURATION_NS = 2**63 - 1


def parse_go_duration(text: str) -> int:
    """Return the duration in nanoseconds, or raise ValueError with Go's wording."""
    s = text
    if s and s[0] in "+-":
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(f"time: invalid duration {_q(text)}")
    total = 0
    pos = 0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if not m:
            if s[pos:].replace(".", "").isdigit():
                raise ValueError(f"time: missing unit in duration {_q(text)}")
            raise ValueError(f"time: invalid duration {_q(text)}")
        whole, frac, unit = m.group(1), m.group(2), m.group(3)
        if not whole and not frac:
            # Go: "time: invalid duration" when there are no digits before the unit
            raise ValueError(f"time: invalid duration {_q(text)}")
        if unit not in _DURATION_UNITS_NS:
            raise ValueError(f"time: unknown unit {_q(unit)} in duration {_q(text)}")
        scale = _DURATION_UNITS_NS[unit]
        ns = int(whole or "0") * scale
        if frac:
            ns += int(frac) * scale // (10 ** len(frac))
        total += ns
        if total > _MAX_DURATION_NS:
            raise ValueError(f"time: invalid duration {_q(text)}")
        pos = m.end()
    return -total if text.startswith("-") else total


class _Duration(Shape):
    """metav1.Duration: JSON *string* parsed by time.ParseDuration.  A bare YAML number is rejected."""

    def describe(self) -> str:
        return 'duration (Go duration string like "4m0s", "30s", "1h")'

    def _check(self, value, path, ctx, hint):
        if not isinstance(value, str):
            self.mismatch(value, path, ctx, hint)
            return
        # A digits-only string ("30") has no unit: ParseDuration rejects it.
        try:
            parse_go_duration(value)
        except ValueError as exc:
            self.mismatch(value, path, ctx, hint, detail=str(exc))


class _DurationOrNanos(Shape):
    """component-base logs TimeOrMetaDuration: a duration string, or an integer of nanoseconds."""

    def describe(self) -> str:
        return "duration string or integer nanoseconds"

    def _check(self, value, path, ctx, hint):
        if isinstance(value, bool):
            self.mismatch(value, path, ctx, hint)
        elif isinstance(value, int):
            return
        elif isinstance(value, str):
            try:
                parse_go_duration(value)
            except ValueError as exc:
                self.mismatch(value, path, ctx, hint, detail=str(exc))
        else:
            self.mismatch(value, path, ctx, hint)


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


class _Time(Shape):
    """metav1.Time: an RFC 3339 timestamp.  PyYAML turns unquoted ones into datetime, which is fine."""

    def describe(self) -> str:
        return 'RFC 3339 timestamp (e.g. "2030-01-01T00:00:00Z")'

    def _check(self, value, path, ctx, hint):
        if isinstance(value, _dt.datetime):
            return
        if isinstance(value, str) and _RFC3339.match(value):
            return
        self.mismatch(value, path, ctx, hint)


_QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?\d+)?$")


class _Quantity(Shape):
    """resource.Quantity: a string like "100Mi", "0.5", "1e3", or a JSON number."""

    def describe(self) -> str:
        return 'quantity (e.g. "100Mi", "500m", 2)'

    def _check(self, value, path, ctx, hint):
        if isinstance(value, bool):
            self.mismatch(value, path, ctx, hint)
        elif isinstance(value, (int, float)):
            return
        elif not (isinstance(value, str) and _QUANTITY.match(value)):
            self.mismatch(value, path, ctx, hint)


class Pattern(Shape):
    """A string that must match a regular expression (e.g. a bootstrap token)."""

    def __init__(self, what: str, regex: str):
        self.what, self.regex = what, re.compile(regex)

    def describe(self) -> str:
        return self.what

    def _check(self, value, path, ctx, hint):
        if not isinstance(value, str) or not self.regex.match(value):
            self.mismatch(value, path, ctx, hint)


class Enum(Shape):
    """A named string type whose values upstream validates against a fixed set."""

    def __init__(self, *values: str):
        self.values = values

    def describe(self) -> str:
        shown = ", ".join(f'"{v}"' for v in self.values)
        return f"one of [{shown}]"

    def _check(self, value, path, ctx, hint):
        if not isinstance(value, str) or value not in self.values:
            self.mismatch(value, path, ctx, hint)


STRING = _String()
BOOL = _Bool()
INT32 = Int("int32", -(2**31), 2**31 - 1)
INT64 = Int("int64", -(2**63), 2**63 - 1)
UINT32 = Int("uint32", 0, 2**32 - 1)
FLOAT = _Float()
DURATION = _Duration()
DURATION_OR_NANOS = _DurationOrNanos()
TIME = _Time()
QUANTITY = _Quantity()


# --------------------------------------------------------------------------- containers


class ListOf(Shape):
    def __init__(self, item: Shape):
        self.item = item

    def describe(self) -> str:
        return f"list of {self.item.describe()}"

    def _check(self, value, path, ctx, hint):
        if not isinstance(value, list):
            self.mismatch(value, path, ctx, hint)
            return
        for i, item in enumerate(value):
            check_value(self.item, item, f"{path}[{i}]", ctx)


class MapOf(Shape):
    """map[string]T.  Keys must be strings in YAML too (`1: x` is an int key and fails in Go)."""

    def __init__(self, value: Shape):
        self.value = value

    def describe(self) -> str:
        return f"map string->{self.value.describe()}"

    def _check(self, value, path, ctx, hint):
        if not isinstance(value, Mapping):
            self.mismatch(value, path, ctx, hint)
            return
        for key, item in value.items():
            if not isinstance(key, str):
                ctx.error(f"{path}[{key!r}]", f"map key must be a string in {ctx.api_version}, got {describe_value(key)}")
                continue
            check_value(self.value, item, f"{path}[{key}]", ctx)


@dataclass(frozen=True)
class Field:
    """One JSON field of a struct: its shape, whether upstream requires it, and an optional hint
    appended to type-mismatch messages (e.g. how the field changed between API versions)."""

    shape: Shape
    required: bool = False
    hint: str = ""


def required(shape: Shape, hint: str = "") -> Field:
    return Field(shape, required=True, hint=hint)


def optional(shape: Shape, hint: str = "") -> Field:
    return Field(shape, required=False, hint=hint)


# A struct-level rule: (struct value, path, ctx) -> None, reporting via ctx.error.
Rule = Callable[[Mapping[str, Any], str, Context], None]


class Struct(Shape):
    """A Go struct: known JSON fields, nothing else.

    fields            name -> Shape (optional field) or Field (use required()/optional()).
    exactly_one_of    groups of field names of which exactly one must be set (non-null).
    at_most_one_of    groups of mutually exclusive field names.
    unknown_hints     name -> explanation used when that (unknown) field is present,
                      typically "this moved in vX" notes.
    rules             extra checks, e.g. our own policy on top of upstream.
    short             how to name the struct in messages; defaults to "{a,b}" for
                      structs of up to 3 fields, else "<Name> (mapping)".
    """

    def __init__(
        self,
        name: str,
        fields: Mapping[str, Shape | Field],
        *,
        exactly_one_of: Iterable[tuple[str, ...]] = (),
        at_most_one_of: Iterable[tuple[str, ...]] = (),
        unknown_hints: Mapping[str, str] | None = None,
        rules: Iterable[Rule] = (),
        short: str | None = None,
    ):
        self.name = name
        self.fields: dict[str, Field] = {
            k: (v if isinstance(v, Field) else Field(v)) for k, v in fields.items()
        }
        self.exactly_one_of = tuple(exactly_one_of)
        self.at_most_one_of = tuple(at_most_one_of)
        self.unknown_hints = dict(unknown_hints or {})
        self.rules = tuple(rules)
        self._short = short
        for group in self.exactly_one_of + self.at_most_one_of:
            for f in group:
                assert f in self.fields, f"{name}: rule names unknown field {f}"

    def describe(self) -> str:
        if self._short:
            return self._short
        if len(self.fields) <= 3:
            return "{" + ",".join(self.fields) + "}"
        return f"{self.name} (mapping)"

    def field_names(self) -> list[str]:
        return list(self.fields)

    def _check(self, value, path, ctx, hint, extra_allowed: Iterable[str] = ()):
        if not isinstance(value, Mapping):
            self.mismatch(value, path, ctx, hint)
            return
        allowed_extra = set(extra_allowed)
        for key, item in value.items():
            sub = f"{path}.{key}"
            if key in allowed_extra:
                continue
            if not isinstance(key, str):
                ctx.error(f"{path}[{key!r}]", f"field names must be strings, got {describe_value(key)}")
                continue
            f = self.fields.get(key)
            if f is None:
                msg = f"unknown field {_q(key)} in {ctx.api_version} {self.name}"
                if key in self.unknown_hints:
                    msg += f" -- {self.unknown_hints[key]}"
                else:
                    close = _close_matches(key, self.fields)
                    if close:
                        msg += f" (did you mean {' or '.join(_q(c) for c in close)}?)"
                ctx.error(sub, msg)
                continue
            check_value(f.shape, item, sub, ctx, f.hint)
        for name, f in self.fields.items():
            if f.required and value.get(name) is None:
                ctx.error(f"{path}.{name}", f"missing required field {_q(name)} of {self.name} in {ctx.api_version}")
        for group in self.exactly_one_of:
            present = [g for g in group if value.get(g) is not None]
            if len(present) != 1:
                names = " or ".join(_q(g) for g in group)
                got = f"got {', '.join(present)}" if present else "got none"
                ctx.error(path, f"exactly one of {names} must be set in {ctx.api_version} {self.name} ({got})")
        for group in self.at_most_one_of:
            present = [g for g in group if value.get(g) is not None]
            if len(present) > 1:
                ctx.error(path, f"{' and '.join(_q(g) for g in present)} are mutually exclusive in {ctx.api_version} {self.name}")
        for rule in self.rules:
            rule(value, path, ctx)


def _close_matches(key: str, candidates: Iterable[str]) -> list[str]:
    import difflib

    lower = {c.lower(): c for c in candidates}
    if key.lower() in lower and lower[key.lower()] != key:
        return [lower[key.lower()]]  # wrong case: Go's decoder is case-insensitive but strict mode rejects it
    return difflib.get_close_matches(key, list(candidates), n=2, cutoff=0.8)


def inline(*parts: Mapping[str, Shape | Field] | Struct) -> dict[str, Shape | Field]:
    """Flatten embedded (`json:",inline"`) structs into one field dict, later parts winning."""
    out: dict[str, Shape | Field] = {}
    for p in parts:
        out.update(p.fields if isinstance(p, Struct) else p)
    return out
