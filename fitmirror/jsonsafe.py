"""JSON from the network: strict about what a shopper's browser (or an attacker) can send. Non-finite numbers
(NaN, Infinity, 1e400) and nesting deeper than any message of ours are input errors with a clear message, never
an unhandled RecursionError or a NaN that reaches the maths."""

from __future__ import annotations

import json
import math
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


def _depth(obj: Any, limit: int) -> None:
    stack = [(obj, 1)]
    while stack:
        o, d = stack.pop()
        if d > limit:
            raise InputError(f"the JSON is nested more than {limit} levels deep")
        if isinstance(o, dict):
            stack.extend((v, d + 1) for v in o.values())
        elif isinstance(o, list):
            stack.extend((v, d + 1) for v in o)


def loads(raw: str | bytes, what: str = "the request body", max_depth: int = MAX_DEPTH) -> Any:
    """json.loads that raises InputError for malformed, non-finite or too deeply nested input."""
    try:
        obj = json.loads(raw, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise InputError(f"{what} is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
        if isinstance(e, InputError):
            raise
        raise InputError(f"{what} is not valid JSON: {e}") from None
    _depth(obj, max_depth)
    return obj
