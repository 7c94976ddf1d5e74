"""The applications' session store (issue 27 §5): what reading the session costs on every page, in process
memory (one instance) and in PostgreSQL (the production topology, every instance reading one table).

    .venv/bin/python benchmarks/bench_sessions.py [--seconds 3] [--repeat 3] [--threads 8]

A throwaway local PostgreSQL is started and stopped. Each thread reads its own live session as a page does
(`get(sid)`), for `seconds`; printed: reads per second and p50 per read, and the ratio to process memory.
Numbers are printed, never asserted."""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sso_demo.sessions import SessionStore, SqlSessionStore  # noqa: E402
from tests.support.postgres import LocalPostgres  # noqa: E402


def run(store, threads: int, seconds: float) -> tuple[float, float]:
    sids = [store.create(user={"sub": f"s{i}", "username": f"u{i}"}, kc_sid=f"k{i}", id_token="t",
                         access_token="a").id for i in range(threads)]
    samples: list[list[float]] = [[] for _ in range(threads)]
    stop = time.perf_counter() + seconds

    def reader(i: int) -> None:
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            assert store.get(sids[i]) is not None
            samples[i].append(time.perf_counter() - t0)
    workers = [threading.Thread(target=reader, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    flat = [x for s in samples for x in s]
    return len(flat) / seconds, statistics.median(flat)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=8)
    args = ap.parse_args()
    pg = LocalPostgres()
    url = pg.start()
    try:
        memory, shared = SessionStore(1800), SqlSessionStore(url, 1800, "portail")
        ratios = []
        for rep in range(args.repeat):
            (m_rate, m_p50), (p_rate, p_p50) = run(memory, args.threads, args.seconds), run(shared, args.threads,
                                                                                            args.seconds)
            ratios.append(p_rate / m_rate)
            print(f"  run {rep + 1}: process memory {m_rate:,.0f} reads/s (p50 {m_p50 * 1e6:.0f} µs), PostgreSQL "
                  f"{p_rate:,.0f} reads/s (p50 {p_p50 * 1e6:.0f} µs)")
        print(f"  PostgreSQL session reads, {args.threads} threads: median {statistics.median(ratios):.3f} of process "
              "memory's rate (a page's other work, about 0.6 ms of CPU, is not in this figure)")
        shared.engine.dispose()
    finally:
        pg.stop()


if __name__ == "__main__":
    main()
