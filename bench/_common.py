"""Helpers every benchmark shares: the machine header, tables, percentiles, the real base.

Kept here so each script stays about what it measures, and so every script reports the
machine it ran on the same way (figures without a machine are not comparable).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import platform
import re
import sqlite3
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from bot.config import PROJECT_ROOT
from bot.knowledge import KnowledgeBase, load_knowledge

KNOWLEDGE_DIR = PROJECT_ROOT / "knowledge"
EXAMPLES_DIR = KNOWLEDGE_DIR / "examples"  # the labelled questions the bot learns from


def real_knowledge() -> KnowledgeBase:
    """The knowledge base the bot ships with (what the team edits under knowledge/)."""
    return load_knowledge(KNOWLEDGE_DIR)


# ----------------------------------------------------------------------------- machine


def cpu_model() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else what platform knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def total_memory() -> str:
    """Total RAM as `free -h` would round it, read from /proc/meminfo."""
    meminfo = Path("/proc/meminfo")
    if not meminfo.is_file():
        return "unknown"
    found = re.search(r"MemTotal:\s+(\d+) kB", meminfo.read_text(encoding="utf-8"))
    return f"{int(found.group(1)) / 1024 / 1024:.1f} GiB" if found else "unknown"


def library_versions() -> str:
    """Versions of what the figures depend on besides our code."""
    names = ("python-telegram-bot", "rapidfuzz", "bm25s", "SQLAlchemy", "aiosqlite")
    found: list[str] = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} (absent)")
    return ", ".join([*found, f"SQLite {sqlite3.sqlite_version}"])


def machine_lines() -> list[str]:
    """Date, CPU, cores, RAM, Python and load: the context needed to compare two runs."""
    cores = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return [
        f"date:    {dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"cpu:     {cpu_model()} · {usable} usable core(s) (nproc), {cores} online",
        f"memory:  {total_memory()} total",
        f"python:  {platform.python_implementation()} {platform.python_version()} "
        f"({sys.executable})",
        f"libs:    {library_versions()}",
        f"load:    {load:.2f} (1-minute load average at start: other processes share the CPU)",
    ]


def print_header(title: str, command: str) -> None:
    """Title, the command to reproduce the run, and the machine."""
    print(f"== {title} ==")
    print(f"command: {command}")
    for line in machine_lines():
        print(line)
    print()


# ----------------------------------------------------------------------------- figures


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (p99 = a real observed call)."""
    if not sorted_values:
        return math.nan
    rank = math.ceil(fraction * len(sorted_values))
    return sorted_values[min(max(rank, 1), len(sorted_values)) - 1]


def pct(part: int, whole: int) -> str:
    """`92.4% (134/145)`: the rate with the counts it comes from."""
    rate = part / whole if whole else 0.0
    return f"{rate:.1%} ({part}/{whole})"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, labels: int = 1) -> str:
    """A plain-text table (also valid Markdown) with columns padded to their widest cell.

    The first `labels` columns are left-aligned, the others right-aligned: they hold figures.
    """
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.ljust(width) if index < labels else cell.rjust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join(
            (":" + "-" * (w + 1)) if i < labels else ("-" * (w + 1) + ":")
            for i, w in enumerate(widths)
        )
        + "|"
    )
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])
