"""CPU time and memory of the processes a benchmark starts, read from Linux /proc."""

from __future__ import annotations

import os
from pathlib import Path


def process_tree(pid: int) -> list[int]:
    """The process and its live descendants (Rasa's Sanic workers, say); gone ones are skipped."""
    children: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            children += [int(child) for child in (task / "children").read_text().split()]
    except OSError:
        return []
    return [pid] + [descendant for child in children for descendant in process_tree(child)]


def cpu_seconds(pid: int, with_descendants: bool = True) -> float:
    """User + system CPU time used so far by a process and (unless told otherwise) its live
    descendants; 0 for a process that is gone."""
    total = 0.0
    for member in process_tree(pid) if with_descendants else [pid]:
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def memory_mb(pid: int) -> tuple[float, float]:
    """RSS and PSS of a process and its descendants, in MB. Forked Sanic workers share pages with
    their parent; RSS counts a shared page in each process, PSS divides it among them, so the PSS
    sum is the server's real footprint."""
    rss = pss = 0.0
    for member in process_tree(pid):
        for line in Path(f"/proc/{member}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss += int(line.split()[1]) / 1024
            elif line.startswith("Pss:"):
                pss += int(line.split()[1]) / 1024
    return rss, pss
