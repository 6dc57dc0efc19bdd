"""Structured logging: one JSON object per line (or key=value text), with a session id carried by contextvars."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from typing import Any

session_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("session_id", default=None)

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class _Formatter(logging.Formatter):
    def __init__(self, json_output: bool) -> None:
        super().__init__()
        self.json_output = json_output

    def format(self, record: logging.LogRecord) -> str:
        fields = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        sid = session_id_var.get()
        if sid:
            fields["session"] = sid
        fields.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED and not k.startswith("_")})
        if record.exc_info:
            fields["exc"] = self.formatException(record.exc_info)
        if self.json_output:
            return json.dumps(fields, default=str, ensure_ascii=False)
        extra = " ".join(f"{k}={v}" for k, v in fields.items() if k not in ("ts", "level", "logger", "msg"))
        return f"{fields['ts']} {fields['level']:<7} {fields['logger']}: {fields['msg']}" + (
            f" {extra}" if extra else ""
        )


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at each record: test runners swap (and close) it, and a handler bound to
    the stream of set-up time would then fail on every later record."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def setup_logging(level: str = "info", json_output: bool = False) -> None:
    handler = _StderrHandler()
    handler.setFormatter(_Formatter(json_output))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aioice", "aiortc", "urllib3", "asyncio", "faster_whisper"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name)
