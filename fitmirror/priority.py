"""Thread priorities: the threads that prepare the next frame run nicer than the one finishing the frame in flight,
so on a saturated CPU a frame is finished before the next one is started (measured: docs/e2e.md, "Session 6")."""

from __future__ import annotations

import logging
import os
import threading

__all__ = ["lower_named_threads", "lower_thread_priority"]

log = logging.getLogger("fitmirror.priority")


def lower_thread_priority(nice: int, tid: int | None = None) -> bool:
    """Make a thread (default: the calling one) `nice` steps nicer than the process's main thread; Linux nice
    values are per thread. Never raises the priority back (that needs privileges). False where it cannot."""
    if nice <= 0:
        return False
    tid = threading.get_native_id() if tid is None else tid
    try:
        target = min(19, os.getpriority(os.PRIO_PROCESS, os.getpid()) + nice)
        if os.getpriority(os.PRIO_PROCESS, tid) < target:
            os.setpriority(os.PRIO_PROCESS, tid, target)
        return True
    except OSError as e:  # not Linux, or the thread is gone
        log.debug("thread %s keeps its priority: %s", tid, e)
        return False


def lower_named_threads(comm: str, nice: int) -> int:
    """`lower_thread_priority` for every thread of this process whose kernel name starts with `comm` (threads that
    libraries start, such as MediaPipe's graph threads). Returns how many it lowered."""
    n = 0
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return 0
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                name = f.read().strip()
        except OSError:
            continue
        if name.startswith(comm) and lower_thread_priority(nice, int(tid)):
            n += 1
    return n
