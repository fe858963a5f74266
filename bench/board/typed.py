"""Strict conversion of plain data (parsed YAML) into dataclasses.

Unknown keys and wrong types are :class:`BenchError` naming the key path and the source file,
with a did-you-mean. No interpolation, no code: YAML values are data.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Union

from bench.errors import BenchError, did_you_mean


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def convert(tp: Any, value: Any, where: str, source: str) -> Any:
    """Check ``value`` against type ``tp`` (recursively) and return the converted value."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return convert(arg, value, where, source)
            except BenchError as e:
                errors.append(e)
        raise errors[0] if errors else _wrong(tp, value, where, source)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise _wrong(tp, value, where, source, expected="a mapping")
        return from_dict(tp, value, where, source)
    if origin is list:
        if not isinstance(value, list):
            raise _wrong(tp, value, where, source, expected="a list")
        (item,) = typing.get_args(tp) or (Any,)
        return [convert(item, v, f"{where}[{i}]", source) for i, v in enumerate(value)]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise _wrong(tp, value, where, source, expected="a mapping")
        _, val_t = typing.get_args(tp) or (str, Any)
        return {str(k): convert(val_t, v, f"{where}.{k}", source) for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _wrong(tp, value, where, source)
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _wrong(tp, value, where, source)
        return value
    if tp in (str, bool):
        if not isinstance(value, tp):
            raise _wrong(tp, value, where, source)
        return value
    return value


def _wrong(tp: Any, value: Any, where: str, source: str, expected: str | None = None) -> BenchError:
    exp = expected or _type_name(tp)
    return BenchError(
        f"{source}: wrong type for '{where}': expected {exp}, got {type(value).__name__} ({value!r})"
    )


def from_dict(cls: type, data: dict, where: str, source: str):
    """Build dataclass ``cls`` from ``data``; every key must be a field of ``cls``."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise _wrong(cls, data, where or "(top level)", source, expected="a mapping")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in fields:
            raise BenchError(
                f"{source}: unknown key '{path}'. Known: {', '.join(fields)}.{did_you_mean(str(key), fields)}"
            )
        kwargs[key] = convert(hints[key], value, path, source)
    missing = [
        n
        for n, f in fields.items()
        if n not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise BenchError(f"{source}: missing key '{(where + '.') if where else ''}{missing[0]}'")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as e:
        raise BenchError(f"{source}: invalid '{where or 'board'}': {e}") from None


def to_dict(obj: Any) -> Any:
    """Dataclass (or nested containers of them) to plain data."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    return obj
