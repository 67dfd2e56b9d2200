"""Memory before allocation: what a request would need, what the machine has, and the one refusal
("X would need N (how), above LIMIT of M") every size guard in seqtool raises.

No numpy or torch here, so the CLI can check a request before it pays for either.
"""
from __future__ import annotations

import os
from typing import Sequence

from seqtool.errors import ConfigError, SeqtoolError

GiB = 1 << 30


def human_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def available_bytes() -> int | None:
    """Memory a new allocation can get without swapping: Linux's MemAvailable, else free physical pages; None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # reported in kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None  # not Linux or macOS: no check


def refuse_if_over(need: int, limit: int | None, what: str, how: str, limit_name: str, fixes: Sequence[str] = (),
                   kind: type[SeqtoolError] = ConfigError) -> None:
    """Raise ``kind`` when ``need`` bytes exceed ``limit`` (None: unknown, allowed): '{what} would need
    {need} ({how}), above {limit_name} of {limit}; {fixes}'."""
    if limit is not None and need > limit:
        raise kind(f"{what} would need {human_bytes(need)} ({how}), above {limit_name} of {human_bytes(limit)}", fixes=fixes)
