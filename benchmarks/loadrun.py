"""What the throughput benchmarks share: client threads on loopback, repeated runs, the median."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable


def threaded_rate(
    clients: int, per_client: int, connect: Callable[[], tuple[Callable[[], bool], Callable[[], None]]]
) -> tuple[float, int]:
    """Run ``per_client`` operations in each of ``clients`` threads; (operations per second, errors).

    ``connect()`` is called once per thread and returns the operation (True on success) and a
    close function for its connection, called when the thread is done.
    """
    errors = [0]
    lock = threading.Lock()

    def worker() -> None:
        operation, close = connect()
        try:
            for _ in range(per_client):
                if not operation():
                    with lock:
                        errors[0] += 1
        finally:
            close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return per_client * clients / (time.perf_counter() - started), errors[0]


def report_runs(runs: int, one_run: Callable[[], tuple[float, int]], unit: str, label: str) -> int:
    """Print each run and the median; exit status 1 as soon as a run has errors."""
    rates = []
    for index in range(runs):
        rate, errors = one_run()
        rates.append(rate)
        print(f"run {index + 1}: {rate:8.1f} {unit}, {errors} errors")
        if errors:
            return 1
    print(f"median: {statistics.median(rates):.1f} {unit} ({label})")
    return 0
