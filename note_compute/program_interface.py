"""What a program says about itself: its arguments, the records it reads, its error codes.

Pure (no I/O). A program record may carry an optional ``"interface"`` map
(:mod:`note_compute.programs`); records without one still verify. The same
structure is written as JSON beside a contract (``contracts/NAME.json``)
and published with it::

    {"summary": text,
     "args":    {NAME: FIELD, ...},        the arguments (a CBOR map); no others are accepted
     "ranges":  [[LO_ARG, HI_ARG], ...],   pairs of bounds, inclusive: LO <= HI is required
     "records": {NAME: FIELD, ...},        the fields every dataset record must have
     "errors":  {"CODE": text, ...}}       what each program error code means

    FIELD = {"type": "text" | "uint" | "int" | "bool" | "bytes",
             "doc": text, "unit": text (e.g. "cents"), "values": [allowed, ...],
             "min": int, "max": int, "max_length": uint, "required": bool}

Bounds are inclusive everywhere (``min``/``max`` here, range pairs, and the
CLI's ``--range``). :func:`check_args` and :func:`check_record` raise
:class:`InvalidArgument` / ``InvalidRecord`` with a message naming the
argument or field.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from .errors import InvalidRecord, NoteError

__all__ = ["Interface", "Field", "InvalidArgument", "parse_interface", "check_args", "check_record",
           "interface_value", "TYPES", "MAX_INTERFACE_SIZE", "describe_type"]

TYPES = ("text", "uint", "int", "bool", "bytes")
MAX_INTERFACE_SIZE = 16 * 1024
"""Largest encoded interface (the whole program value stays far below the 64 KiB record cap)."""
_FIELD_KEYS = frozenset({"type", "doc", "unit", "values", "min", "max", "max_length", "required"})
_TOP_KEYS = frozenset({"summary", "args", "ranges", "records", "errors"})
_MAX_NAMES = 64


class InvalidArgument(NoteError):
    """Program arguments that the program's interface refuses (a usage error: exit 2 on the CLI)."""

    code = "invalid-argument"
    exit_code = 2


@dataclass(frozen=True)
class Field:
    """One argument or record field."""

    name: str
    type: str
    doc: str = ""
    unit: str | None = None
    values: tuple[Any, ...] | None = None
    min: int | None = None
    max: int | None = None
    max_length: int | None = None
    required: bool = False

    def to_value(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.doc:
            out["doc"] = self.doc
        for k in ("unit", "min", "max", "max_length"):
            if getattr(self, k) is not None:
                out[k] = getattr(self, k)
        if self.values is not None:
            out["values"] = list(self.values)
        if self.required:
            out["required"] = True
        return out


@dataclass(frozen=True)
class Interface:
    """A parsed interface (see the module docstring)."""

    summary: str
    args: tuple[Field, ...]
    ranges: tuple[tuple[str, str], ...]
    records: tuple[Field, ...]
    errors: tuple[tuple[int, str], ...]

    def arg(self, name: str) -> Field | None:
        return next((f for f in self.args if f.name == name), None)

    def error_meaning(self, code: int) -> str | None:
        return dict(self.errors).get(code)

    def to_value(self) -> dict[str, Any]:
        out: dict[str, Any] = {"summary": self.summary, "args": {f.name: f.to_value() for f in self.args},
                               "records": {f.name: f.to_value() for f in self.records},
                               "errors": {str(c): m for c, m in self.errors}}
        if self.ranges:
            out["ranges"] = [list(p) for p in self.ranges]
        return out


def _bad(message: str) -> InvalidRecord:
    return InvalidRecord(f"bad program interface: {message}", reason="interface")


def _text(v: Any, what: str, limit: int = 1000) -> str:
    if type(v) is not str or len(v) > limit:
        raise _bad(f"{what} must be text of at most {limit} characters")
    return v


def _int(v: Any, what: str) -> int:
    if type(v) is not int or not -(2**63) <= v < 2**64:
        raise _bad(f"{what} must be an integer")
    return v


def _field(name: Any, spec: Any, where: str) -> Field:
    if type(name) is not str or not 0 < len(name) <= 64:
        raise _bad(f"{where}: names are text of 1..64 characters")
    if type(spec) is not dict or not set(spec) <= _FIELD_KEYS:
        extra = sorted(str(k) for k in set(spec) - _FIELD_KEYS) if type(spec) is dict else []
        raise _bad(f"{where} {name!r}: a field is a map of {sorted(_FIELD_KEYS)}"
                   + (f" (unknown {extra})" if extra else ""))
    t = spec.get("type")
    if t not in TYPES:
        raise _bad(f"{where} {name!r}: type must be one of {', '.join(TYPES)}")
    values = spec.get("values")
    if values is not None:
        if type(values) is not list or not 0 < len(values) <= 64:
            raise _bad(f"{where} {name!r}: values is a list of 1..64 allowed values")
        for v in values:
            if not _has_type(v, t):
                raise _bad(f"{where} {name!r}: allowed value {v!r} is not {describe_type(t)}")
    lo = _int(spec["min"], f"{where} {name!r} min") if "min" in spec else None
    hi = _int(spec["max"], f"{where} {name!r} max") if "max" in spec else None
    if (lo is not None or hi is not None) and t not in ("uint", "int"):
        raise _bad(f"{where} {name!r}: min/max apply to integers only")
    if lo is not None and hi is not None and lo > hi:
        raise _bad(f"{where} {name!r}: min {lo} is above max {hi}")
    ml = spec.get("max_length")
    if ml is not None and (type(ml) is not int or ml < 0 or t not in ("text", "bytes")):
        raise _bad(f"{where} {name!r}: max_length is a non-negative integer, for text or bytes")
    req = spec.get("required", False)
    if type(req) is not bool:
        raise _bad(f"{where} {name!r}: required is true or false")
    return Field(name, t, _text(spec.get("doc", ""), f"{where} {name!r} doc"),
                 _text(spec["unit"], f"{where} {name!r} unit", 32) if "unit" in spec else None,
                 tuple(values) if values is not None else None, lo, hi, ml, req)


def parse_interface(value: Any) -> Interface:
    """Check and parse an interface map (decoded CBOR or JSON). Raises InvalidRecord(reason="interface")."""
    if type(value) is not dict or not set(value) <= _TOP_KEYS:
        extra = sorted(str(k) for k in set(value) - _TOP_KEYS) if type(value) is dict else []
        raise _bad(f"an interface is a map of {sorted(_TOP_KEYS)}" + (f" (unknown {extra})" if extra else ""))
    summary = _text(value.get("summary", ""), "summary")
    groups = {}
    for key in ("args", "records"):
        m = value.get(key, {})
        if type(m) is not dict or len(m) > _MAX_NAMES:
            raise _bad(f"{key} is a map of at most {_MAX_NAMES} fields")
        groups[key] = tuple(_field(n, s, key[:-1] if key == "args" else "record field") for n, s in sorted(m.items()))
    names = {f.name for f in groups["args"]}
    ranges = []
    for pair in value.get("ranges", []) or []:
        if (type(pair) is not list or len(pair) != 2 or not all(type(p) is str and p in names for p in pair)
                or pair[0] == pair[1]):
            raise _bad("ranges is a list of [lo argument, hi argument] pairs naming two different arguments")
        ranges.append((pair[0], pair[1]))
    errs = value.get("errors", {})
    if type(errs) is not dict or len(errs) > _MAX_NAMES:
        raise _bad(f"errors is a map of at most {_MAX_NAMES} codes")
    errors = []
    for code, meaning in errs.items():
        if type(code) is not str or not code.isdigit() or not 0 < int(code) < 2**31:
            raise _bad(f"error code {code!r} must be a positive integer written as text")
        errors.append((int(code), _text(meaning, f"error {code} meaning")))
    return Interface(summary, groups["args"], tuple(ranges), groups["records"], tuple(sorted(errors)))


def interface_value(interface: Interface) -> dict[str, Any]:
    """The canonical map stored in a program record (a round trip of :func:`parse_interface`)."""
    return interface.to_value()


def describe_type(t: str) -> str:
    return {"text": "text", "uint": "a non-negative integer", "int": "an integer", "bool": "true or false",
            "bytes": "bytes"}[t]


def _has_type(v: Any, t: str) -> bool:
    if t == "text":
        return type(v) is str
    if t == "uint":
        return type(v) is int and v >= 0
    if t == "int":
        return type(v) is int
    if t == "bool":
        return type(v) is bool
    return type(v) is bytes


def _type_of(v: Any) -> str:
    names = {str: "text", int: "an integer", bool: "a boolean", bytes: "bytes", list: "a list", dict: "a map",
             float: "a float", type(None): "null"}
    return names.get(type(v), type(v).__name__)


def _show(v: Any) -> str:
    import json

    try:
        return json.dumps(v)[:60]
    except (TypeError, ValueError):
        return repr(v)[:60]


def _check_value(f: Field, v: Any, what: str) -> str | None:
    """Why ``v`` does not fit field ``f`` (None when it does)."""
    if not _has_type(v, f.type):
        if f.type == "uint" and type(v) is int:
            return f"{what} must be {describe_type(f.type)}, got {v}"
        return f"{what} must be {describe_type(f.type)}, got {_type_of(v)} {_show(v)}"
    if f.values is not None and v not in f.values:
        return f"{what} must be one of {', '.join(_show(x) for x in f.values)}; got {_show(v)}"
    if f.min is not None and v < f.min:
        return f"{what} must be at least {f.min}, got {v}"
    if f.max is not None and v > f.max:
        return f"{what} must be at most {f.max}, got {v}"
    if f.max_length is not None and len(v) > f.max_length:
        return f"{what} is {len(v)} long; at most {f.max_length} allowed"
    return None


def check_args(interface: Interface, args: Any) -> None:
    """Raise InvalidArgument unless ``args`` (decoded) is what the interface accepts."""
    accepted = ", ".join(f.name for f in interface.args) or "none"
    if type(args) is not dict:
        raise InvalidArgument(f"the arguments are a JSON object ({{...}}), got {_type_of(args)}; accepted: {accepted}",
                              reason="not-a-map")
    for name in args:
        if interface.arg(name) is None:
            close = difflib.get_close_matches(str(name), [f.name for f in interface.args], n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise InvalidArgument(f"unknown argument '{name}' (accepted: {accepted}){hint}", reason="unknown")
    for f in interface.args:
        if f.name not in args:
            if f.required:
                raise InvalidArgument(f"missing argument '{f.name}' ({f.doc or describe_type(f.type)})",
                                      reason="missing")
            continue
        why = _check_value(f, args[f.name], f"argument '{f.name}'")
        if why is not None:
            raise InvalidArgument(why, reason="type")
    for lo, hi in interface.ranges:
        if lo in args and hi in args and args[lo] > args[hi]:
            raise InvalidArgument(f"'{lo}' ({args[lo]}) is above '{hi}' ({args[hi]}): the range [{lo}, {hi}] is "
                                  "inclusive and would be empty (bounds reversed?)", reason="reversed")


def check_record(interface: Interface, record: Any, where: str = "record") -> None:
    """Raise InvalidRecord (reason ``record-field``) unless ``record`` has every field the program reads."""
    if type(record) is not dict:
        raise InvalidRecord(f"{where}: a record is a JSON object", reason="record-field")
    for f in interface.records:
        if f.name not in record:
            raise InvalidRecord(f"{where}: field '{f.name}' is missing ({f.doc or describe_type(f.type)})",
                                reason="record-field")
        why = _check_value(f, record[f.name], f"field '{f.name}'")
        if why is not None:
            raise InvalidRecord(f"{where}: {why}", reason="record-field")
