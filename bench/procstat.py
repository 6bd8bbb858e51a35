"""Per-process facts from /proc/PID/stat, for the benchmarks (Linux)."""

from __future__ import annotations

import os

CLK_TCK = os.sysconf("SC_CLK_TCK")


def stat_fields(pid: int | str) -> list[str]:
    """The fields of /proc/PID/stat after the command name: [0] is the state,
    [1] the parent pid, [11] and [12] user and system clock ticks.

    :raises OSError: no such process.
    """
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int | str) -> float:
    """User + system CPU seconds of one process so far."""
    fields = stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK
