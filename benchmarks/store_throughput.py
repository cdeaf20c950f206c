"""Exchanges recorded per second, SQLite against PostgreSQL (signed traces, each exchange committed).

python -m benchmarks.store_throughput [--exchanges 2000] [--threads 1,4] [--body-bytes 4096] [--store URL]

Without ``--store``, a throw-away PostgreSQL cluster is started as the tests do (tests/pg_cluster.py),
with fsync on so that both engines pay for durability: SQLite WAL ``synchronous=FULL``, PostgreSQL
``synchronous_commit=on``.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.pg_throwaway import throwaway_cluster
from harness.core import pki
from harness.core.recorder import Exchange, ExchangeStore
from harness.core.signing import Signer
from harness.core.storage import Database, SqliteDatabase, open_postgresql


def _rate(store: ExchangeStore, total: int, threads: int, body_bytes: int) -> float:
    def work(worker: int) -> None:
        for index in range(total // threads):
            body = (worker * total + index).to_bytes(8, "big") * (body_bytes // 8)
            store.record(Exchange("insi", f"bench-{worker}", "op", "ok", body, body[::-1], time.time(), time.time()))

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return (total // threads * threads) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exchanges", type=int, default=2000)
    parser.add_argument("--threads", default="1,4")
    parser.add_argument("--body-bytes", type=int, default=4096)
    parser.add_argument("--store", default=None, help="a PostgreSQL URL (default: a throw-away local cluster)")
    args = parser.parse_args()
    thread_counts = [int(n) for n in args.threads.split(",")]
    with contextlib.ExitStack() as stack:
        cluster = stack.enter_context(throwaway_cluster()) if args.store is None else None
        with tempfile.TemporaryDirectory() as folder:
            base = Path(folder)
            signer = Signer(pki.load_or_create_pki(base / "pki").signers["trace"])
            engines: dict[str, Callable[[int], Database]] = {
                "SQLite (WAL, synchronous=FULL)": lambda n: SqliteDatabase(base / f"x{n}.sqlite3"),
                "PostgreSQL (pool, synchronous_commit=on)": lambda n: open_postgresql(
                    args.store or cluster.create_database()  # type: ignore[union-attr]
                ),
            }
            print(f"{args.exchanges} exchanges of {args.body_bytes}-byte bodies, each signed and committed")
            for name, open_database in engines.items():
                for threads in thread_counts:
                    database = open_database(threads)
                    try:
                        rate = _rate(
                            ExchangeStore(signer=signer, database=database), args.exchanges, threads, args.body_bytes
                        )
                    finally:
                        database.close()
                    print(f"  {name:<42} {threads} thread(s): {rate:8.0f} exchanges/s")


if __name__ == "__main__":
    main()
