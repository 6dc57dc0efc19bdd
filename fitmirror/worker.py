"""Supervised worker processes: native code that can crash or hang (llama.cpp, whisper) runs in a child process,
so a segfault or a stuck call fails only the call in flight instead of every session of the server.

Parent side (`Supervisor`, asyncio): starts the child lazily or on `start()`, sends one call at a time, picks the
next call round-robin over callers' keys (one shopper's queued commands never stall another's), watches the child
with heartbeats (the child answers pings from its reader thread while its work thread is busy), kills a child that
misses heartbeats or overruns a call, fails the call in flight with a clear `WorkerError`, and restarts the child
with back-off. Queued calls wait for the restart; each call has its own deadline, so none is lost silently.

Child side (`serve`): a reader thread (pings, requests, parent death) and one work thread that runs `setup()`
(model loading) and then the handlers.

Wire format, both ways, over a socketpair: 4-byte header length, 4-byte blob length (big-endian), a JSON header,
then an optional binary blob (audio for speech recognition).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import queue
import re
import signal
import socket
import struct
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fitmirror.errors import CapacityError, FitmirrorError, ModelUnavailableError

log = logging.getLogger("fitmirror.worker")

_HEAD = struct.Struct(">II")
MAX_HEADER_BYTES = 1 << 20
MAX_BLOB_BYTES = 64 << 20
FD_ENV = "FITMIRROR_WORKER_FD"
FAULT_FD_ENV = "FITMIRROR_WORKER_FAULT_FD"
_FATAL_SIGNALS = {"Segmentation fault": 11, "Bus error": 7, "Floating-point exception": 8, "Aborted": 6,
                  "Illegal instruction": 4}  # fmt: skip
_FATAL = re.compile(r"Fatal Python error: (" + "|".join(_FATAL_SIGNALS) + ")")


class WorkerError(ModelUnavailableError):
    """The worker process died or stopped answering during this call; it is being restarted."""

    code = "worker_restarting"


def _sig_name(returncode: int) -> str:
    try:
        return f"signal {-returncode}, {signal.Signals(-returncode).name}"
    except ValueError:
        return f"signal {-returncode}"


def describe_exit(returncode: int | None) -> str:
    """'crashed (signal 11, SIGSEGV)' / 'exited with status 3' / 'running'."""
    if returncode is None:
        return "running"
    if returncode < 0:
        return f"crashed ({_sig_name(returncode)})"
    return f"exited with status {returncode}"


# --- framing (shared by both sides) --------------------------------------------------------------------


def encode(header: dict[str, Any], blob: bytes | None = None) -> bytes:
    h = json.dumps(header, ensure_ascii=False, allow_nan=False).encode()
    b = blob or b""
    return _HEAD.pack(len(h), len(b)) + h + b


def _sizes(head: bytes) -> tuple[int, int]:
    hl, bl = _HEAD.unpack(head)
    if hl > MAX_HEADER_BYTES or bl > MAX_BLOB_BYTES:
        raise ValueError(f"worker frame too large ({hl} + {bl} bytes)")
    return hl, bl


async def read_frame(reader: asyncio.StreamReader) -> tuple[dict[str, Any], bytes | None]:
    hl, bl = _sizes(await reader.readexactly(_HEAD.size))
    header = json.loads(await reader.readexactly(hl))
    blob = await reader.readexactly(bl) if bl else None
    return header, blob


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


def _read_frame_blocking(sock: socket.socket) -> tuple[dict[str, Any], bytes | None]:
    hl, bl = _sizes(_recv_exactly(sock, _HEAD.size))
    header = json.loads(_recv_exactly(sock, hl))
    return header, (_recv_exactly(sock, bl) if bl else None)


# --- parent side ---------------------------------------------------------------------------------------


@dataclass
class _Call:
    op: str
    args: dict[str, Any]
    blob: bytes | None
    key: str
    timeout_s: float
    deadline: float  # monotonic: queued + running must end by then
    future: asyncio.Future
    id: int = 0
    sent_at: float = 0.0


@dataclass
class WorkerStatus:
    name: str
    state: str  # idle (not started) | starting | ready | busy | restarting | failed | closed
    pid: int | None = None
    restarts: int = 0
    crashes: int = 0
    hangs: int = 0
    queued: int = 0
    calls: int = 0
    last_exit: str = ""
    last_error: str = ""
    ready_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, "")}


@dataclass
class SupervisorConfig:
    name: str  # "llm", "asr": in logs, metrics and messages
    argv: list[str]  # the child's command line, e.g. [sys.executable, "-m", "nlu.worker", "llm"]
    what: str = "the worker"  # for shoppers: "the language model"
    ready_timeout_s: float = 180.0  # model load and warm-up, on a loaded 2-core box
    call_timeout_s: float = 30.0  # one call once sent to the child
    heartbeat_s: float = 1.0
    hang_after_s: float = 5.0  # no heartbeat answer for this long: the child is stuck
    backoff_s: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
    stable_after_s: float = 60.0  # a child that ran this long resets the back-off
    max_queued: int = 16  # calls waiting across all keys
    max_queued_per_key: int = 2  # calls one caller (a session) may have waiting
    env: dict[str, str] = field(default_factory=dict)


class Supervisor:
    """One supervised child process (see the module docstring). All methods run on one event loop."""

    def __init__(self, config: SupervisorConfig, on_event: Callable[[str, str], None] | None = None) -> None:
        self.config = config
        self._status = WorkerStatus(config.name, "idle")
        self._on_event = on_event or (lambda _name, _kind: None)  # (worker, "crash" | "hang" | "timeout" | ...)
        self._queues: OrderedDict[str, deque[_Call]] = OrderedDict()  # key -> waiting calls (round-robin order)
        self._wake = asyncio.Event()
        self._ids = itertools.count(1)
        self._proc: asyncio.subprocess.Process | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._in_flight: _Call | None = None
        self._last_pong = 0.0
        self._runner: asyncio.Task | None = None
        self._closed = False
        self._failures = 0  # consecutive child failures (for back-off)
        self._failed_error: FitmirrorError | None = None  # start failure, reported to calls during the back-off
        self._fault_fd: int | None = None  # read end of the child's fatal-error pipe
        self._getter: asyncio.Task | None = None  # the pending get of the child's next frame
        self._retry_at = 0.0

    # -- public -----------------------------------------------------------------------------------------

    @property
    def status(self) -> WorkerStatus:
        """The live status; `queued` is counted from the queues at each read."""
        self._status.queued = self._waiting()
        return self._status

    def _waiting(self) -> int:
        return sum(len(q) for q in self._queues.values())

    @property
    def pid(self) -> int | None:
        return self.status.pid

    @property
    def in_flight(self) -> str | None:
        """The key of the call the child is working on (tests wait for this)."""
        return self._in_flight.key if self._in_flight else None

    @property
    def pids(self) -> list[int]:
        return [self.status.pid] if self.status.pid is not None else []

    @property
    def in_flight_pid(self) -> int | None:
        """The process working on a call right now (tests kill it)."""
        return self.status.pid if self._in_flight is not None else None

    def start(self) -> None:
        """Start the child now (preloading) rather than on the first call."""
        if self._closed:
            raise RuntimeError(f"{self.config.name} worker is closed")
        if self._runner is None or self._runner.done():
            self._runner = asyncio.ensure_future(self._run())
            self._runner.add_done_callback(self._runner_done)

    def _runner_done(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:  # a bug here must not strand callers silently
            log.error("%s supervisor failed", self.config.name, exc_info=task.exception())
            self._fail_waiting(WorkerError(f"{self.config.what} failed: {task.exception()}"))
            self.status.state = "failed"

    async def wait_ready(self, timeout_s: float | None = None) -> float:
        """Start if needed and wait until the child has loaded (raises its start error). Returns seconds."""
        t0 = time.monotonic()
        self.start()
        limit = timeout_s if timeout_s is not None else self.config.ready_timeout_s + 5
        while self.status.state not in ("ready", "busy"):
            if self._failed_error is not None and self.status.state == "failed":
                raise self._failed_error
            if time.monotonic() - t0 > limit:
                raise WorkerError(f"{self.config.what} did not start within {limit:.0f} s")
            await asyncio.sleep(0.05)
        return time.monotonic() - t0

    async def call(
        self, op: str, args: dict[str, Any] | None = None, blob: bytes | None = None, *, key: str = "",
        timeout_s: float | None = None,
    ) -> tuple[Any, bytes | None]:  # fmt: skip
        """Run `op` in the child. Raises WorkerError (crash, hang, timeout), CapacityError (too many waiting)
        or the FitmirrorError the handler raised in the child."""
        if self._closed:
            raise WorkerError(f"{self.config.what} is shut down")
        q = self._queues.get(key)
        if self._waiting() >= self.config.max_queued or (q is not None and len(q) >= self.config.max_queued_per_key):
            raise CapacityError(f"{self.config.what} is busy; try again in a moment", retry_after_s=5)
        timeout = timeout_s or self.config.call_timeout_s
        wait_budget = timeout + (self.config.ready_timeout_s if self.status.state != "ready" else 0)
        c = _Call(op, args or {}, blob, key, timeout, time.monotonic() + wait_budget + timeout,
                  asyncio.get_running_loop().create_future())  # fmt: skip
        self._queues.setdefault(key, deque()).append(c)
        self.start()
        self._wake.set()
        try:
            return await asyncio.wait_for(asyncio.shield(c.future), max(0.1, c.deadline - time.monotonic()))
        except TimeoutError:
            self._drop(c)
            if not c.future.done():
                c.future.cancel()
            raise self._late() from None
        except asyncio.CancelledError:
            self._drop(c)  # the caller went away (session closed): never send it
            raise

    async def close(self) -> None:
        self._closed = True
        self.status.state = "closed"
        self._wake.set()
        self._fail_waiting(WorkerError(f"{self.config.what} is shut down"))
        await self._kill("closed")
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._runner

    # -- internals --------------------------------------------------------------------------------------

    def _drop(self, c: _Call) -> None:
        q = self._queues.get(c.key)
        if q is not None and c in q:
            q.remove(c)
            if not q:
                del self._queues[c.key]

    def _next_call(self) -> _Call | None:
        """Round-robin over keys: the first key's oldest call, then that key moves to the back."""
        now = time.monotonic()
        while self._queues:
            key, q = next(iter(self._queues.items()))
            c = q.popleft()
            if q:
                self._queues.move_to_end(key)
            else:
                del self._queues[key]
            if c.future.done():
                continue
            if now >= c.deadline:
                c.future.set_exception(self._late())
                continue
            return c
        return None

    def _late(self) -> WorkerError:
        return WorkerError(
            f"{self.config.what} did not answer in time; please try again",
            hint="the server is overloaded or the worker is restarting",
        )

    def _fail_waiting(self, err: FitmirrorError) -> None:
        for q in self._queues.values():
            for c in q:
                if not c.future.done():
                    c.future.set_exception(err)
        self._queues.clear()

    async def _spawn(self) -> asyncio.StreamReader:
        parent, child = socket.socketpair()
        # the child's faulthandler writes a fatal signal and its Python stack here: the crash is named even when
        # the exit status is lost (another waiter reaped the child) and the log shows where it happened
        fault_r, fault_w = os.pipe()
        os.set_blocking(fault_r, False)
        env = {**os.environ, **self.config.env, FD_ENV: str(child.fileno()), FAULT_FD_ENV: str(fault_w)}
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self.config.argv, pass_fds=(child.fileno(), fault_w), env=env,
                stdin=asyncio.subprocess.DEVNULL, stdout=sys.stderr.fileno() if _has_fileno(sys.stderr) else None,
            )  # fmt: skip
        except BaseException:
            os.close(fault_r)
            raise
        finally:
            child.close()
            os.close(fault_w)
        self._fault_fd = fault_r
        reader, self._writer = await asyncio.open_unix_connection(sock=parent)
        self.status.pid = self._proc.pid
        return reader

    def _fatal_report(self) -> str:
        """What the child's faulthandler wrote (empty when it died without a fatal signal it could catch)."""
        fd, self._fault_fd = self._fault_fd, None
        if fd is None:
            return ""
        chunks = []
        try:
            while len(chunks) < 16 and (b := os.read(fd, 4096)):
                chunks.append(b)
        except BlockingIOError:
            pass
        finally:
            os.close(fd)
        return b"".join(chunks).decode(errors="replace")

    async def _kill(self, why: str, dead: bool = False) -> None:
        """Stop the child (`dead`: it already closed its end, so it is exiting: wait, do not signal it).
        Signalling a child that has just died makes Popen.poll() reap it before asyncio's child watcher, which
        then reports status 255 instead of the signal; Popen's own returncode is read as well."""
        proc, self._proc = self._proc, None
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if proc is not None and proc.returncode is None and dead:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 2)
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(proc.wait(), 5)
        if proc is not None:
            report = self._fatal_report()
            popen = getattr(getattr(proc, "_transport", None), "get_extra_info", lambda _k: None)("subprocess")
            code = proc.returncode
            if code == 255 and popen is not None and popen.returncode is not None:
                code = popen.returncode  # the watcher lost the status to Popen.poll(); Popen kept it
            fatal = _FATAL.search(report)
            if fatal and (code is None or code >= 0):  # the status was lost: the child's own report names it
                code = -_FATAL_SIGNALS[fatal.group(1)]
            if report.strip():
                log.warning("%s worker's fatal error report:\n%s", self.config.name, report.strip()[-3000:])
            self.status.last_exit = f"{describe_exit(code)} ({why})"

    async def _run(self) -> None:
        """Keep a child running while there are calls, restarting it after crashes and hangs."""
        cfg = self.config
        while not self._closed:
            delay = self._retry_at - time.monotonic()
            if delay > 0:
                self.status.state = "failed" if self._failed_error else "restarting"
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)  # a call during a failed start's back-off
                self._wake.clear()
                if self._failed_error is not None:
                    self._fail_waiting(self._failed_error)  # fail fast with the start error, never hang
                if time.monotonic() < self._retry_at:
                    continue
            self._failed_error = None
            outcome = await self._one_child()
            if self._closed:
                return
            kind, err = outcome
            self._failures += 1
            self.status.restarts += kind != "start_failed"
            self._on_event(cfg.name, kind)
            self._retry_at = time.monotonic() + cfg.backoff_s[min(self._failures - 1, len(cfg.backoff_s) - 1)]
            if kind == "start_failed":
                self._failed_error = err
                self._fail_waiting(err)
            log.warning("%s worker %s; restarting in %.1f s", cfg.name, self.status.last_exit or kind,
                        self._retry_at - time.monotonic())  # fmt: skip

    async def _one_child(self) -> tuple[str, FitmirrorError | None]:
        """Start a child, serve calls until it dies, hangs or overruns. Returns (kind, start error)."""
        cfg = self.config
        self.status.state = "starting"
        t0 = time.monotonic()
        try:
            reader = await self._spawn()
        except OSError as e:
            self.status.last_error = f"could not start: {e}"
            return "start_failed", ModelUnavailableError(f"{cfg.what} could not start: {e}")
        frames: asyncio.Queue[tuple[dict[str, Any], bytes | None] | None] = asyncio.Queue()

        async def pump() -> None:
            try:
                while True:
                    await frames.put(await read_frame(reader))
            except (asyncio.IncompleteReadError, ConnectionError, ValueError, OSError):
                await frames.put(None)

        pump_task = asyncio.ensure_future(pump())
        self._last_pong = time.monotonic()
        ping_at = 0.0
        ready = False
        try:
            while True:
                now = time.monotonic()
                # heartbeats: the child's reader thread answers even while a call runs
                if now >= ping_at:
                    self._send({"id": 0, "op": "ping"})
                    ping_at = now + cfg.heartbeat_s
                if now - self._last_pong > cfg.hang_after_s:
                    self.status.hangs += 1
                    return await self._child_lost("hang", f"stopped answering for {cfg.hang_after_s:.0f} s")
                c = self._in_flight
                if c is not None and now - c.sent_at > c.timeout_s:
                    self.status.hangs += 1
                    return await self._child_lost("timeout", f"a call ran over {c.timeout_s:.0f} s")
                if not ready and now - t0 > cfg.ready_timeout_s:
                    return await self._child_lost("start_timeout", f"did not load within {cfg.ready_timeout_s:.0f} s")
                if ready and c is None:
                    nxt = self._next_call()
                    if nxt is not None:
                        self._send_call(nxt)
                        continue
                    self.status.state = "ready"
                frame = await self._next_frame(frames, max(0.01, ping_at - now))
                if frame in ("wake", "timeout"):
                    continue
                if frame is None:  # EOF: the child died
                    if not ready:  # while loading: waiting callers learn it now, not after their deadline
                        await self._kill("start", dead=True)
                        self.status.crashes += 1
                        self.status.pid = None
                        err = WorkerError(f"{cfg.what} {self.status.last_exit.rsplit(' (', 1)[0]} while starting",
                                          hint="fitmirror doctor names the broken component and the fix")  # fmt: skip
                        self.status.last_error = err.message
                        return "start_failed", err
                    return await self._child_lost("crash", "died")
                header, blob = frame
                self._last_pong = time.monotonic()
                if header.get("op") == "pong":
                    continue
                if header.get("op") == "ready":
                    if not header.get("ok", True):
                        err = _error_from(header.get("error") or {}, cfg.what)
                        self.status.last_error = err.message
                        await self._kill("start failed")
                        return "start_failed", err
                    ready = True
                    self.status.ready_s = round(time.monotonic() - t0, 2)
                    self.status.state = "ready"
                    log.info("%s worker ready in %.1f s (pid %s)", cfg.name, self.status.ready_s, self.status.pid)
                    continue
                self._finish(header, blob)
                if time.monotonic() - t0 > cfg.stable_after_s:
                    self._failures = 0
        finally:
            if self._getter is not None:
                self._getter.cancel()
                self._getter = None
            pump_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump_task

    async def _next_frame(self, frames: asyncio.Queue, timeout_s: float) -> Any:
        """The child's next frame, "wake" (a new call) or "timeout" (time to ping). The queue's getter outlives
        a wake or a timeout: cancelling it (as an outer wait_for did) could drop a frame it had already taken,
        which lost a call's answer once in the full suite (the call then "took longer than 30 s")."""
        if self._getter is None:
            self._getter = asyncio.ensure_future(frames.get())
        wake = asyncio.ensure_future(self._wake.wait())
        try:
            done, _ = await asyncio.wait({self._getter, wake}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not wake.done():
                wake.cancel()
        if wake in done:
            self._wake.clear()
        if self._getter in done:
            getter, self._getter = self._getter, None
            return getter.result()
        return "wake" if wake in done else "timeout"

    def _send(self, header: dict[str, Any], blob: bytes | None = None) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(encode(header, blob))

    def _send_call(self, c: _Call) -> None:
        c.id = next(self._ids)
        c.sent_at = time.monotonic()
        self._in_flight = c
        self.status.state = "busy"
        self.status.calls += 1
        self._send({"id": c.id, "op": c.op, "args": c.args}, c.blob)

    def _finish(self, header: dict[str, Any], blob: bytes | None) -> None:
        c = self._in_flight
        if c is None or header.get("id") != c.id:
            return  # an answer to a call abandoned by a restart
        self._in_flight = None
        self._failures = 0
        if c.future.done():
            return
        if header.get("ok"):
            c.future.set_result((header.get("result"), blob))
        else:
            c.future.set_exception(_error_from(header.get("error") or {}, self.config.what))

    async def _child_lost(self, kind: str, what: str) -> tuple[str, None]:
        cfg = self.config
        await self._kill(kind, dead=kind == "crash")
        if kind == "crash":
            self.status.crashes += 1
        c, self._in_flight = self._in_flight, None
        if c is not None and not c.future.done():
            says = {
                "crash": "stopped",
                "hang": "stopped answering",
                "timeout": f"took longer than {c.timeout_s:.0f} s",
            }.get(kind, "stopped")
            c.future.set_exception(
                WorkerError(f"{cfg.what} {says}; it is restarting, please try again", hint=self.status.last_exit)
            )
        self.status.last_error = f"{what}: {self.status.last_exit}"
        self.status.pid = None
        self.status.state = "restarting"
        return kind, None


class WorkerPool:
    """Several supervised processes of one worker: a call goes to a ready one with the least work (in flight plus
    queued), each keeps its round-robin over callers, and one worker's crash leaves the others serving. With more
    cores than one model uses, one shopper's long command then no longer holds another's behind it."""

    def __init__(self, workers: list[Supervisor]) -> None:
        if not workers:
            raise ValueError("a worker pool needs at least one worker")
        self.workers = workers
        self.config = workers[0].config

    @property
    def pid(self) -> int | None:
        return self.workers[0].pid

    @property
    def in_flight(self) -> str | None:
        return next((w.in_flight for w in self.workers if w.in_flight is not None), None)

    @property
    def pids(self) -> list[int]:
        return [p for w in self.workers for p in w.pids]

    @property
    def in_flight_pid(self) -> int | None:
        return next((w.in_flight_pid for w in self.workers if w.in_flight_pid is not None), None)

    @property
    def status(self) -> WorkerStatus:
        """The pool as one status: ready when any worker is, counts summed."""
        ss = [w.status for w in self.workers]
        up = [x for x in ss if x.state in ("ready", "busy")]
        return WorkerStatus(
            self.config.name,
            (up[0] if up else ss[0]).state,
            pid=ss[0].pid,
            restarts=sum(x.restarts for x in ss),
            crashes=sum(x.crashes for x in ss),
            hangs=sum(x.hangs for x in ss),
            queued=sum(x.queued for x in ss),
            calls=sum(x.calls for x in ss),
            last_exit="; ".join(x.last_exit for x in ss if x.last_exit),
            last_error="; ".join(x.last_error for x in ss if x.last_error),
        )

    def start(self) -> None:
        for w in self.workers:
            w.start()

    async def wait_ready(self, timeout_s: float | None = None) -> float:
        return max(await asyncio.gather(*(w.wait_ready(timeout_s) for w in self.workers)))

    async def call(self, op: str, args: dict[str, Any] | None = None, blob: bytes | None = None, *, key: str = "",
                   timeout_s: float | None = None) -> tuple[Any, bytes | None]:  # fmt: skip
        def load(w: Supervisor) -> tuple[bool, int, int]:
            # a worker that is restarting (loading its model, 10-30 s) only gets calls when none is ready
            st = w.status
            return (st.state not in ("ready", "busy"), (w.in_flight is not None) + st.queued, st.calls)

        return await min(self.workers, key=load).call(op, args, blob, key=key, timeout_s=timeout_s)

    async def close(self) -> None:
        await asyncio.gather(*(w.close() for w in self.workers))


def _has_fileno(stream: Any) -> bool:
    try:
        stream.fileno()
        return True
    except (AttributeError, OSError, ValueError):
        return False


def _error_from(d: dict[str, Any], what: str) -> FitmirrorError:
    from fitmirror import errors

    cls = next(
        (c for c in vars(errors).values()
         if isinstance(c, type) and issubclass(c, FitmirrorError) and c.code == d.get("code")),
        FitmirrorError,
    )  # fmt: skip
    msg = str(d.get("message") or f"{what} failed")
    if cls is CapacityError:
        return CapacityError(msg, hint=d.get("hint"))
    err = cls(msg, hint=d.get("hint"))
    if cls is FitmirrorError:
        err.code = str(d.get("code") or "error")
    return err


# --- child side ----------------------------------------------------------------------------------------

Handler = Callable[[dict[str, Any], bytes | None], tuple[Any, bytes | None]]


def die_with_parent() -> None:
    """Linux: SIGKILL this process when the parent dies (the reader's EOF covers the rest)."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def serve(handlers: dict[str, Handler], setup: Callable[[], dict[str, Any]] | None = None) -> None:
    """Child main loop; never returns. `setup` loads models (its dict goes into the ready message); a
    FitmirrorError from it is sent to the parent as the start error, then the child exits."""
    fd = int(os.environ.pop(FD_ENV))
    sock = socket.socket(fileno=fd)
    die_with_parent()
    fault_fd = os.environ.pop(FAULT_FD_ENV, None)
    if fault_fd is not None:
        import faulthandler

        faulthandler.enable(open(int(fault_fd), "w"), all_threads=True)  # kept open for the process
    send_lock = threading.Lock()
    jobs: queue.Queue[tuple[dict[str, Any], bytes | None]] = queue.Queue()

    def send(header: dict[str, Any], blob: bytes | None = None) -> None:
        data = encode(header, blob)
        with send_lock:
            sock.sendall(data)

    def reader() -> None:
        try:
            while True:
                header, blob = _read_frame_blocking(sock)
                if header.get("op") == "ping":
                    send({"id": 0, "op": "pong"})
                else:
                    jobs.put((header, blob))
        except (EOFError, OSError, ValueError):
            os._exit(0)  # the parent is gone or spoke garbage: nothing to serve

    threading.Thread(target=reader, name="worker-reader", daemon=True).start()
    fault = os.environ.get("FITMIRROR_WORKER_FAULT", "")  # tests: "setup:segv" crashes during start-up
    try:
        if fault == "setup:segv":
            os.kill(os.getpid(), signal.SIGSEGV)
        info = setup() if setup else {}
        send({"id": 0, "op": "ready", "ok": True, "result": info})
    except Exception as e:  # the start error goes to the parent, then the child exits
        error = (
            e.to_dict() if isinstance(e, FitmirrorError) else {"code": "setup", "message": f"{type(e).__name__}: {e}"}
        )
        send({"id": 0, "op": "ready", "ok": False, "error": error})
        time.sleep(0.2)
        os._exit(3)
    while True:
        header, blob = jobs.get()
        fn = handlers.get(str(header.get("op")))
        try:
            if fn is None:
                raise FitmirrorError(f"unknown worker operation {header.get('op')!r}")
            result, out_blob = fn(header.get("args") or {}, blob)
            send({"id": header.get("id"), "ok": True, "result": result}, out_blob)
        except FitmirrorError as e:
            send({"id": header.get("id"), "ok": False, "error": e.to_dict()})
        except Exception as e:  # a bug in a handler: report it as this call's error, keep serving
            log.exception("worker handler %s failed", header.get("op"))
            send(
                {"id": header.get("id"), "ok": False, "error": {"code": "error", "message": f"{type(e).__name__}: {e}"}}
            )
