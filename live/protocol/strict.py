"""Input refuses fields it does not know; stored records do not.

A record a store keeps (a product, a brand, a segment of the run-of-show...) must
decode even when a newer release added a field to it: an older release rolled back
onto the same data has to start and read it. So record types tolerate unknown fields
(`live/protocol/records.py` says why), and the same types, when they come in as input
(a command, an import, an admin's PUT), are held to what this release knows here, in
one place: `decode` and `convert` refuse an unknown field at any depth, with msgspec's
own message and path, and name it before any other error of its object, exactly as a
type that forbids unknown fields would.

Types that are input only (every client message, the webhook's body) forbid unknown
fields themselves; the extra walk runs only for an input that holds a tolerant record
somewhere inside it (a `set_show`, not a `claim`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
import msgspec.inspect as mi

T = TypeVar("T")
_raw = msgspec.json.Decoder()


def decode(data: bytes | str, kind: type[T]) -> T:
    """JSON `data` as `kind`; raises `msgspec.ValidationError` for an unknown field."""
    try:
        value = msgspec.json.decode(data, type=kind)
    except msgspec.ValidationError:
        _refuse_unknown(kind, lambda: _raw.decode(data))
        raise
    _refuse_unknown(_type_of(value, kind), lambda: _raw.decode(data))
    return value


def convert(obj: Any, kind: type[T]) -> T:
    """Builtins (a CSV row, a JSON item) as `kind`; an unknown field is refused."""
    try:
        value = msgspec.convert(obj, kind)
    except msgspec.ValidationError:
        _refuse_unknown(kind, lambda: obj)
        raise
    _refuse_unknown(_type_of(value, kind), lambda: obj)
    return value


def _type_of(value: Any, kind: Any) -> Any:
    """The struct decoded (of a union, the member chosen), else the type asked for."""
    return type(value) if isinstance(value, msgspec.Struct) else kind


def _refuse_unknown(kind: Any, raw: Callable[[], Any]) -> None:
    if holds_tolerant(kind):
        refuse_unknown(_info(kind), raw())


def refuse_unknown(t: mi.Type, raw: Any, path: str = "$") -> None:
    """Raise `msgspec.ValidationError` for the first key of `raw` (builtins) that the
    struct of type `t` it would decode into does not know, at any depth."""
    while isinstance(t, mi.Metadata):
        t = t.type
    if isinstance(t, mi.UnionType):
        t = _member(t, raw)
    if isinstance(t, mi.StructType) and isinstance(raw, dict):
        fields = _fields(t.cls)
        for name, item in raw.items():
            field = fields.get(name)
            if field is not None:
                refuse_unknown(field, item, f"{path}.{name}")
            elif name != t.tag_field and not t.forbid_unknown_fields:  # (msgspec named those)
                where = "" if path == "$" else f" - at `{path}`"
                raise msgspec.ValidationError(f"Object contains unknown field `{name}`{where}")
    elif isinstance(t, (mi.ListType, mi.VarTupleType, mi.SetType, mi.FrozenSetType)) and isinstance(raw, list):
        for i, item in enumerate(raw):
            refuse_unknown(t.item_type, item, f"{path}[{i}]")
    elif isinstance(t, mi.TupleType) and isinstance(raw, list):
        for i, (item_type, item) in enumerate(zip(t.item_types, raw)):
            refuse_unknown(item_type, item, f"{path}[{i}]")
    elif isinstance(t, mi.DictType) and isinstance(raw, dict):
        for item in raw.values():
            refuse_unknown(t.value_type, item, f"{path}[...]")


def _member(union: mi.UnionType, raw: Any) -> mi.Type | None:
    """The member of a union that `raw` decodes as (msgspec allows one object type in a
    union, or structs told apart by their tag)."""
    if isinstance(raw, dict):
        for t in union.types:
            if isinstance(t, mi.StructType) and (t.tag is None or raw.get(t.tag_field) == t.tag):
                return t
            if isinstance(t, mi.DictType):
                return t
    if isinstance(raw, list):
        return next((t for t in union.types if isinstance(t, (mi.ListType, mi.VarTupleType, mi.TupleType))), None)
    return None


@functools.cache
def _info(kind: Any) -> mi.Type:
    return mi.type_info(kind)


@functools.cache
def _fields(cls: type) -> dict[str, mi.Type]:
    info = _info(cls)
    return {f.encode_name: f.type for f in info.fields}


@functools.cache
def holds_tolerant(kind: Any) -> bool:
    """Whether a value of `kind` may hold a struct that lets unknown fields through."""
    seen: set[type] = set()

    def tolerant(t: mi.Type) -> bool:
        if isinstance(t, mi.StructType):
            if t.cls in seen:
                return False
            seen.add(t.cls)
            return not t.forbid_unknown_fields or any(tolerant(f.type) for f in t.fields)
        inner = [getattr(t, a) for a in ("item_type", "key_type", "value_type", "type") if hasattr(t, a)]
        inner += [*getattr(t, "types", ()), *getattr(t, "item_types", ())]
        return any(tolerant(i) for i in inner)

    return tolerant(_info(kind))
