"""What the benchmarks share: process figures and a database to run on (a SQLite file in
the bench's folder, or a fresh schema on a PostgreSQL URL)."""

from __future__ import annotations

import math
import os
import resource
import uuid
from pathlib import Path

from bot.store.db import make_engine


def rss_mb() -> float:
    """Current resident set of this process (VmRSS)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def max_rss_mb() -> float:
    """Peak resident set so far (ru_maxrss is in KiB on Linux and may lag VmRSS a little)."""
    return max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, rss_mb())


def cpu_seconds_of(pid: int) -> float:
    """User + system CPU time of another process, from /proc/PID/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def filesystem_of(path: Path) -> str:
    """The mount type under `path` (ext4, tmpfs, overlay...): fsync costs differ a lot."""
    best, kind = "", "?"
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and str(path).startswith(parts[1]) and len(parts[1]) > len(best):
                best, kind = parts[1], parts[2]
    except OSError:
        pass
    return kind


def percentile(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not ordered:
        return float("nan")
    return ordered[max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))]


async def fresh_schema(url: str, prefix: str) -> str:
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = make_engine(url)
    try:
        async with admin.begin() as conn:
            await conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    finally:
        await admin.dispose()
    return schema


async def drop_schema(url: str, schema: str) -> None:
    admin = make_engine(url)
    try:
        async with admin.begin() as conn:
            await conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await admin.dispose()


async def database(pg_url: str | None, work: Path, prefix: str) -> tuple[str, str | None, str]:
    """(URL, schema, description): a fresh schema on `pg_url`, else a SQLite file in `work`."""
    if pg_url:
        schema = await fresh_schema(pg_url, prefix)
        return pg_url, schema, f"PostgreSQL schema {schema}"
    return f"sqlite+aiosqlite:///{work / 'bot.db'}", None, f"SQLite file in {work} ({filesystem_of(work)})"
