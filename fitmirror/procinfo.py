"""A process's children and their CPU time and memory, read from /proc (Linux).

The avatar pipelines render in child processes (`render/process.py`), so a server's CPU and memory are its own plus
its children's: the benchmarks measure them with these, and tests check that a render process is the server's
child."""

from __future__ import annotations

import os


def stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat's fields after the command name (field 3, the state, is item 0)."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def descendants(pid: int) -> list[int]:
    """Live child processes of `pid`, recursively (the avatar pipelines' render processes)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents.setdefault(int(stat_fields(int(entry))[1]), []).append(int(entry))
            except (OSError, IndexError, ValueError):
                continue  # exited meanwhile
    out, todo = [], [pid]
    while todo:
        kids = parents.get(todo.pop(), [])
        out += kids
        todo += kids
    return out


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process and its children: live ones, and exited ones it has waited for."""
    fields = stat_fields(pid)
    total = sum(int(x) for x in fields[11:15])  # utime, stime, cutime, cstime
    for child in descendants(pid):
        try:
            total += sum(int(x) for x in stat_fields(child)[11:13])
        except OSError:
            continue  # exited meanwhile: counted in cutime once waited for
    return total / os.sysconf("SC_CLK_TCK")


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process plus its live children; pages they share count in each."""
    total_kb = 0
    for p in [pid, *descendants(pid)]:
        try:
            with open(f"/proc/{p}/status") as f:
                total_kb += next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
        except OSError:
            continue
    return round(total_kb / 1024, 1)
