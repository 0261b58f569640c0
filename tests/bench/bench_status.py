"""Status checking through the client against the sandbox (run in its own process):
10,000 orders -> status calls made (must be 100) and orders per second.

    python tests/bench/bench_status.py [--orders 10000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bot.panel.client import PanelClient  # noqa: E402

KEY = "bench-key-0123456789"


def start_sandbox() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "sandbox", "--port", "0", "--key", KEY, "--balance", "100000000", "--speed", "0"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert process.stdout is not None
    for line in process.stdout:
        match = re.search(r"(http://\S+/api/v2)", line)
        if match:
            return process, match.group(1)
    raise RuntimeError("the sandbox did not start")


async def run(orders: int, rounds: int) -> None:
    process, url = start_sandbox()
    try:
        async with httpx.AsyncClient() as http:
            client = PanelClient(url, KEY, http=http)
            services = await client.services()
            service = next(s for s in services if s.type == "Default" and not s.dripfeed)
            semaphore = asyncio.Semaphore(32)

            async def place(i: int) -> int:
                async with semaphore:
                    return await client.add({"service": str(service.id), "link": f"https://example.com/p/{i}",
                                             "quantity": str(service.min)})

            started = time.perf_counter()
            ids = await asyncio.gather(*(place(i) for i in range(orders)))
            placing = time.perf_counter() - started
            print(f"placed {orders:,} orders in {placing:.1f} s ({orders / placing:,.0f}/s, setup only)")

            timings = []
            for _ in range(rounds):
                client.calls = 0
                cpu = time.process_time()
                started = time.perf_counter()
                result = await client.statuses(ids)
                elapsed = time.perf_counter() - started
                cpu = time.process_time() - cpu
                assert len(result) == orders and all(r.status for r in result.values())
                timings.append((elapsed, client.calls, cpu))
            best = min(t[0] for t in timings)
            median = statistics.median(t[0] for t in timings)
            calls = timings[-1][1]
            cpu_per_order = statistics.median(t[2] for t in timings) / orders * 1e6
            print(f"status of {orders:,} orders: {calls} status calls per pass (target {-(-orders // 100)})")
            print(f"  median {median * 1000:.0f} ms, best {best * 1000:.0f} ms per pass "
                  f"-> {orders / median:,.0f} orders/s (median), {orders / best:,.0f} orders/s (best)")
            print(f"  client CPU {cpu_per_order:.1f} µs per order; client max RSS "
                  f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    finally:
        process.terminate()
        process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(run(args.orders, args.rounds))


if __name__ == "__main__":
    main()
