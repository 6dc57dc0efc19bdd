"""Compiled patterns kept for the life of the process.

The stdlib's `re` keeps 512 compiled patterns and drops the oldest first. A server compiles more than that after
start-up (SDP, HTTP, model tokenizers...), so the rules' ~150 patterns, warmed at start-up, were compiled again
inside the first shopper's command: 40-100 ms on the event loop. The rules (and the parser around them) compile
through `rx` instead."""

from __future__ import annotations

import functools
import re


@functools.lru_cache(maxsize=4096)
def rx(pattern: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile(pattern, flags)
