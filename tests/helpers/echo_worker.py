"""A worker child for the supervisor's tests (fitmirror.worker): echo, sleep and a crash on request."""

from __future__ import annotations

import os
import signal
import time

from fitmirror.errors import InputError
from fitmirror.worker import serve


def setup() -> dict:
    if os.environ.get("ECHO_SETUP_FAIL"):
        raise InputError("the model file is missing", hint="run the set-up")
    time.sleep(float(os.environ.get("ECHO_SETUP_S", "0")))
    return {"pid": os.getpid()}


def echo(args: dict, blob: bytes | None):
    time.sleep(float(args.get("sleep_s", 0)))
    if args.get("crash"):
        os.kill(os.getpid(), signal.SIGSEGV)
    if args.get("fail"):
        raise InputError("bad request")
    return {"echo": args.get("text"), "pid": os.getpid(), "at": time.monotonic()}, blob


if __name__ == "__main__":
    serve({"echo": echo}, setup)
