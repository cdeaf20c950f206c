"""K concurrent ``segur run --host`` against one shared host: PostgreSQL with N workers vs SQLite single process.

python -m benchmarks.shared_host_load [--k 1,4,16] [--workers 2] [--suites ins,cda,dmp,mss,fhir] [--store URL]

For each engine a ``segur serve`` is started on loopback (ports 0, a control token; PostgreSQL: a
throw-away cluster as the tests start it, tests/pg_cluster.py, with fsync on, unless ``--store``
names a database), then for each K, K runs of the reference SUT are started at once against it.
Printed per engine and K: every run's exit status, the wall time per run (median, max), the burst's
wall time, the exchanges the host recorded for the burst (the sum over the runs' evidence packs:
each pack holds exactly its run's exchanges) and that count per second of burst.

The default suites are all of them (``segur run --suite all``); the host serves what they need
(``harness.run.remote.SUITE_SERVICES``); the same suites run on both engines.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from benchmarks.pg_throwaway import postgresql_store
from harness.run.remote import SUITE_SERVICES

DEFAULT_SUITES = "ins,psc,cda,dmp,mss,fhir,sas"  # every suite: segur run --suite all


@dataclass
class Burst:
    engine: str
    k: int
    statuses: list[int]
    walls: list[float]
    burst_seconds: float
    exchanges: int

    def line(self) -> str:
        return (
            f"{self.engine:<22} K={self.k:<3} exit {sorted(set(self.statuses))} "
            f"per run median {statistics.median(self.walls):6.1f} s max {max(self.walls):6.1f} s  "
            f"burst {self.burst_seconds:6.1f} s  {self.exchanges:6d} exchanges  "
            f"{self.exchanges / self.burst_seconds:6.1f} exchanges/s"
        )


@contextmanager
def serving(folder: Path, token: str, services: str, *options: str) -> Iterator[str]:
    """A segur serve subprocess; yields the base URL of its INSi mock."""
    endpoints = folder / "endpoints.json"
    command = [sys.executable, "-m", "harness.cli", "serve", "--no-console", "--control-token", token]
    command += ["--data-dir", str(folder / "data"), "--endpoints-file", str(endpoints), "--services", services]
    process = subprocess.Popen(
        [*command, *options], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "SEGUR_STORE": "", "SEGUR_CONTROL_TOKEN": ""},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not endpoints.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"segur serve did not start: {process.stderr.read() if process.stderr else ''}")
            time.sleep(0.2)
        document = json.loads(endpoints.read_text(encoding="utf-8"))
        yield str(document["insi"]["url"]).removesuffix("/lps")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def one_run(url: str, token: str, suites: str, report: Path) -> tuple[int, float, int]:
    """(exit status, wall seconds, exchanges in its pack)."""
    command = [sys.executable, "-m", "harness.cli", "run", "--host", url, "--suite", suites]
    command += ["--report-dir", str(report)]
    started = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=3600,
        env={**os.environ, "SEGUR_TENANT_TOKEN": token, "SEGUR_STORE": ""},
    )  # fmt: skip
    wall = time.perf_counter() - started
    exchanges_file = report / "evidence" / "exchanges.json"
    count = len(json.loads(exchanges_file.read_text(encoding="utf-8"))) if exchanges_file.is_file() else 0
    if done.returncode != 0:
        tail = done.stdout[-1500:] + done.stderr[-1500:]
        print(f"  run {report.parent.name}: exit {done.returncode}\n{tail}", flush=True)
    return done.returncode, wall, count


def burst(engine: str, url: str, token: str, suites: str, k: int, folder: Path) -> Burst:
    reports = [folder / f"k{k}-run{n}" / "report" for n in range(k)]
    for report in reports:
        report.parent.mkdir(parents=True)
    started = time.perf_counter()
    with ThreadPoolExecutor(k) as pool:
        results = list(pool.map(lambda r: one_run(url, token, suites, r), reports))
    seconds = time.perf_counter() - started
    return Burst(engine, k, [r[0] for r in results], [r[1] for r in results], seconds, sum(r[2] for r in results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--k", default="1,4,16", help="concurrent runs per burst, comma-separated (default 1,4,16)")
    parser.add_argument("--workers", type=int, default=2, help="workers of the PostgreSQL host (default 2)")
    parser.add_argument("--suites", default=DEFAULT_SUITES, help=f"suites of each run (default {DEFAULT_SUITES})")
    parser.add_argument("--store", default=None, help="a PostgreSQL URL (default: a throw-away local cluster)")
    parser.add_argument("--engines", default="postgresql,sqlite", help="which hosts to measure (default both)")
    args = parser.parse_args()
    ks = [int(k) for k in args.k.split(",")]
    suites = args.suites
    needed = {service for suite in suites.split(",") for service in SUITE_SERVICES.get(suite, ())}
    services = ",".join(sorted(needed)) or "insi"
    token = secrets.token_urlsafe(24)
    print(f"suites {suites}; host services {services}; load average before: {os.getloadavg()}", flush=True)
    results: list[Burst] = []
    store = args.store
    engines = args.engines.split(",")
    with contextlib.ExitStack() as stack:
        if "postgresql" in engines and store is None:
            store = stack.enter_context(postgresql_store(None))
        with tempfile.TemporaryDirectory(prefix="segur-shared-host-") as scratch:
            for engine in engines:
                folder = Path(scratch) / engine
                folder.mkdir()
                if engine == "postgresql":
                    assert store is not None
                    options: tuple[str, ...] = ("--store", store, "--workers", str(args.workers))
                    label = f"postgresql {args.workers} workers"
                else:
                    options, label = (), "sqlite 1 process"
                with serving(folder, token, services, *options) as host_url:
                    for k in ks:
                        result = burst(label, host_url, token, suites, k, folder)
                        print(result.line(), f"(load average after: {os.getloadavg()[0]:.1f})", flush=True)
                        results.append(result)
    print("\nsummary:")
    for result in results:
        print(" ", result.line())


if __name__ == "__main__":
    main()
