"""JSON from the network: strict about what a shopper's browser (or an attacker) can send. Non-finite numbers
(NaN, Infinity, 1e400) and nesting deeper than any message of ours are input errors with a clear message, never
an unhandled RecursionError or a NaN that reaches the maths."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from fitmirror.errors import InputError

MAX_DEPTH = 32


def _no_constant(name: str) -> Any:
    raise InputError(f"{name} is not a number JSON allows here")


def _finite(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):
        raise InputError(f"the number {text[:20]} is out of range")
    return v


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_BRACKET = re.compile(rb"[\[\]{}]")


def _check_depth(raw: bytes, limit: int, what: str) -> None:
    """Refuse nesting deeper than `limit` before parsing: the parser's RecursionError on very deep input leaves
    CPython 3.11's recursion counters off, after which ast.parse and compile() fail in the whole process."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return  # cannot be deeper (almost every message)
    depth = 0
    for m in _BRACKET.finditer(_STRING.sub(b'""', raw)):
        depth += 1 if m.group() in b"[{" else -1
        if depth > limit:
            raise InputError(f"{what} is nested more than {limit} levels deep")


def loads(raw: str | bytes, what: str = "the request body", max_depth: int = MAX_DEPTH) -> Any:
    """json.loads that raises InputError for malformed, non-finite or too deeply nested input."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    _check_depth(data, max_depth, what)
    try:
        return json.loads(raw, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:  # not reached after _check_depth; kept so it can never be a 500
        raise InputError(f"{what} is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
        raise InputError(f"{what} is not valid JSON: {e}") from None
