"""Canonical JSON and its SHA-256: the one byte form that plan hashes, approvals and the audit
chain are computed over.  Floats are refused: money in this project is int or Decimal-as-text."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def _check(value: Any, path: str = "$") -> None:
    """The rules, and the refusal that names where they are broken: no float anywhere, text keys only."""
    if isinstance(value, float):
        raise TypeError(f"float at {path}: canonical JSON carries money as int or text, never float")
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"non-text key {k!r} at {path}")
            _check(v, f"{path}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check(v, f"{path}[{i}]")


_PLAIN = frozenset({str, int, bool, type(None)})  # exactly these types: nothing to look into, never a float


def _clean(value: Any) -> bool:
    """Whether :func:`_check` passes ``value``, without building the path of every element (most of
    its time): the same rules, with a shortcut for the exact types that hold nothing to check."""
    kind = type(value)
    if kind in _PLAIN:
        return True
    if kind is not dict and kind is not list and kind is not tuple:  # a subclass or another type: as _check
        if isinstance(value, float):
            return False
        if not isinstance(value, (dict, list, tuple)):
            return True
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str) or (type(v) not in _PLAIN and not _clean(v)):
                return False
        return True
    for v in value:
        if type(v) not in _PLAIN and not _clean(v):
            return False
    return True


# what json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False) builds per call, built once
_ENCODE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def canonical_json(value: Any) -> str:
    if not _clean(value):
        _check(value)  # raises, naming the first offending place
    return _ENCODE(value)


def sha256_text(text: str) -> str:
    """The SHA-256 (hex) of canonical JSON already made: ``sha256_hex(v) == sha256_text(canonical_json(v))``."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sha256_hex(value: Any) -> str:
    return sha256_text(canonical_json(value))
