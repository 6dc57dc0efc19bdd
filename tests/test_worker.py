"""The supervisor of worker processes (fitmirror.worker) with a real child process (tests/helpers/echo_worker.py):
results and binary payloads cross, a crash or a stop (SIGSTOP) fails only the call in flight and the child is
replaced, a failed start is reported at once, callers are served round-robin, and queues are bounded."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from fitmirror.errors import CapacityError, InputError
from fitmirror.worker import Supervisor, SupervisorConfig, WorkerError, describe_exit

pytestmark = pytest.mark.timeout(60)

CHILD = str(Path(__file__).parent / "helpers" / "echo_worker.py")


def supervisor(**kw) -> Supervisor:
    env = kw.pop("env", {})
    cfg = SupervisorConfig(
        name="echo", argv=[sys.executable, CHILD], what="the echo worker", hang_after_s=2.0, heartbeat_s=0.25,
        backoff_s=(0.1, 0.2), env={"PYTHONPATH": os.pathsep.join(sys.path), **env}, **kw,
    )  # fmt: skip
    events: list[tuple[str, str]] = []
    s = Supervisor(cfg, lambda n, k: events.append((n, k)))
    s.events = events  # type: ignore[attr-defined]
    return s


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def wait_in_flight(s: Supervisor, key: str, timeout_s: float = 20) -> None:
    t0 = time.monotonic()
    while s.in_flight != key:
        assert time.monotonic() - t0 < timeout_s, f"call of {key!r} never reached the worker"
        await asyncio.sleep(0.01)


async def test_calls_cross_with_payloads_and_errors_keep_their_kind():
    s = supervisor()
    try:
        result, blob = await s.call("echo", {"text": "héllo"}, b"\x00\x01binary", key="a")
        assert result["echo"] == "héllo" and blob == b"\x00\x01binary"
        pid = result["pid"]
        with pytest.raises(InputError, match="bad request"):
            await s.call("echo", {"fail": True}, key="a")
        result, _ = await s.call("echo", {"text": "again"}, key="a")
        assert result["pid"] == pid, "a handler's error must not restart the worker"
        assert s.status.state == "ready" and s.status.calls == 3 and s.status.restarts == 0
    finally:
        await s.close()
    assert not alive(pid), "close() must end the child"


async def test_a_crash_fails_only_the_call_in_flight_and_the_worker_restarts():
    s = supervisor()
    try:
        first, _ = await s.call("echo", {"text": "warm"}, key="a")
        crashing = asyncio.ensure_future(s.call("echo", {"sleep_s": 0.3, "crash": True}, key="a"))
        await wait_in_flight(s, "a")
        queued = asyncio.ensure_future(s.call("echo", {"text": "queued"}, key="b"))  # waits for the restart
        with pytest.raises(WorkerError, match="stopped; it is restarting, please try again") as e:
            await crashing
        assert e.value.code == "worker_restarting"
        assert "SIGSEGV" in s.status.last_exit and s.status.crashes == 1
        result, _ = await queued
        assert result["echo"] == "queued" and result["pid"] != first["pid"], "a queued call is served by the new child"
        assert s.status.restarts == 1 and ("echo", "crash") in s.events  # type: ignore[attr-defined]
    finally:
        await s.close()


async def test_a_stopped_worker_is_detected_by_heartbeat_and_replaced():
    s = supervisor()
    try:
        first, _ = await s.call("echo", {"text": "warm"}, key="a")
        call = asyncio.ensure_future(s.call("echo", {"sleep_s": 0.5}, key="a"))
        await wait_in_flight(s, "a")
        t0 = time.monotonic()
        os.kill(first["pid"], signal.SIGSTOP)
        with pytest.raises(WorkerError, match="stopped answering"):
            await call
        took = time.monotonic() - t0
        assert took < 2.0 + 2.0, f"a stopped worker took {took:.1f} s to detect (hang_after_s=2)"
        assert s.status.hangs == 1 and not alive(first["pid"])
        result, _ = await s.call("echo", {"text": "next"}, key="a")
        assert result["pid"] != first["pid"]
    finally:
        await s.close()


async def test_a_call_that_overruns_its_timeout_restarts_the_worker():
    s = supervisor(call_timeout_s=0.5)
    try:
        await s.call("echo", {}, key="a")
        with pytest.raises(WorkerError, match="took longer than"):
            await s.call("echo", {"sleep_s": 5}, key="a")
        result, _ = await s.call("echo", {"text": "ok"}, key="a")
        assert result["echo"] == "ok"
    finally:
        await s.close()


async def test_a_failed_start_is_reported_at_once_not_after_a_timeout():
    s = supervisor(env={"ECHO_SETUP_FAIL": "1"})
    try:
        t0 = time.monotonic()
        with pytest.raises(InputError, match="the model file is missing"):
            await s.call("echo", {}, key="a")
        assert time.monotonic() - t0 < 15
        assert s.status.state in ("failed", "starting") and "missing" in s.status.last_error
    finally:
        await s.close()


async def test_callers_are_served_round_robin_and_queues_are_bounded():
    s = supervisor(max_queued_per_key=2)
    try:
        await s.wait_ready()
        # a fills its queue behind a running call; b's one call is served before a's second
        a1 = asyncio.ensure_future(s.call("echo", {"text": "a1", "sleep_s": 0.3}, key="a"))
        await wait_in_flight(s, "a")
        a2 = asyncio.ensure_future(s.call("echo", {"text": "a2", "sleep_s": 0.1}, key="a"))
        a3 = asyncio.ensure_future(s.call("echo", {"text": "a3", "sleep_s": 0.1}, key="a"))
        await asyncio.sleep(0.02)
        with pytest.raises(CapacityError, match="busy"):
            await s.call("echo", {"text": "a4"}, key="a")
        b1 = asyncio.ensure_future(s.call("echo", {"text": "b1"}, key="b"))
        done = await asyncio.gather(a1, a2, a3, b1)
        order = [r["echo"] for r, _ in sorted(done, key=lambda rb: rb[0]["at"])]
        assert order == ["a1", "a2", "b1", "a3"] or order == ["a1", "b1", "a2", "a3"], order
        assert order.index("b1") < order.index("a3"), order
    finally:
        await s.close()


async def test_a_cancelled_caller_is_never_sent():
    s = supervisor()
    try:
        await s.wait_ready()
        running = asyncio.ensure_future(s.call("echo", {"text": "r", "sleep_s": 0.3}, key="a"))
        await wait_in_flight(s, "a")
        gone = asyncio.ensure_future(s.call("echo", {"text": "gone"}, key="b"))
        await asyncio.sleep(0.02)
        gone.cancel()
        await running
        calls = s.status.calls
        result, _ = await s.call("echo", {"text": "after"}, key="c")
        assert result["echo"] == "after" and s.status.calls == calls + 1
    finally:
        await s.close()


def test_exit_codes_are_described():
    assert describe_exit(-11) == "crashed (signal 11, SIGSEGV)"
    assert describe_exit(3) == "exited with status 3"


async def test_a_worker_that_crashes_while_loading_fails_its_callers_at_once():
    s = supervisor(env={"FITMIRROR_WORKER_FAULT": "setup:segv"})
    try:
        t0 = time.monotonic()
        with pytest.raises(WorkerError, match=r"crashed \(signal 11, SIGSEGV\) while starting"):
            await s.call("echo", {}, key="a")
        assert time.monotonic() - t0 < 10 and s.status.crashes == 1
    finally:
        await s.close()


async def test_a_pool_serves_from_a_ready_worker_while_another_restarts():
    from fitmirror.worker import WorkerPool

    pool = WorkerPool([supervisor(env={"ECHO_SETUP_S": "2"}) for _ in range(2)])
    try:
        await pool.wait_ready()
        first, second = pool.workers
        dead = first.pid
        os.kill(dead, signal.SIGKILL)
        t0 = time.monotonic()
        for _ in range(500):  # the supervisor notices the death
            if first.status.state not in ("ready", "busy"):
                break
            await asyncio.sleep(0.01)
        result, _ = await pool.call("echo", {"text": "x"}, key="a")
        assert result["pid"] == second.pid and time.monotonic() - t0 < 1.5, "served by the ready worker, not queued"
        assert pool.status.restarts == 1 and "SIGKILL" in pool.status.last_exit
        await pool.wait_ready(10)  # the dead one is back
        assert len(pool.pids) == 2 and dead not in pool.pids
    finally:
        await pool.close()
