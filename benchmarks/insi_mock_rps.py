"""INSi mock throughput on loopback: requests per second over mutual TLS, keep-alive.

    python benchmarks/insi_mock_rps.py [--requests 2000] [--clients 4] [--runs 5]

Each run sends ``--requests`` traits searches (CNDA person ADRUN ZOE, CR 00) split across
``--clients`` threads, each with its own keep-alive connection; the mock records every
exchange in SQLite (WAL, synchronous=FULL) before answering, as in production use.
Prints each run and the median; any non-200 answer or error counts and is reported.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from harness import pki
from harness.environment import HarnessEnvironment
from harness.sut.reference_insi import ReferenceInsiClient
from suites.ins.persons import traits


def one_run(env: HarnessEnvironment, requests: int, clients: int) -> tuple[float, int]:
    url = env.endpoint("insi", env.new_session_key("bench"))
    builder = ReferenceInsiClient(url=url, ssl_context=None)
    p = traits("ADRUN-ZOE")
    body = builder._traits_body(p["nom_naissance"], p["prenoms"][:1], p["sexe"], p["date_naissance"], "")
    payload = builder._envelope("rechercherInsAvecTraitsIdentite", body)
    action = "urn:ServiceIdentiteCertifiee:1.0.0:rechercherInsAvecTraitsIdentite"
    headers = {"Content-Type": f'application/soap+xml; charset=utf-8; action="{action}"'}
    errors = [0]
    per_client = requests // clients

    def worker() -> None:
        context = pki.client_ssl_context(env.pki, "insi-auto")
        with httpx.Client(verify=context, timeout=10) as client:
            for _ in range(per_client):
                try:
                    if client.post(url, content=payload, headers=headers).status_code != 200:
                        errors[0] += 1
                except httpx.HTTPError:
                    errors[0] += 1

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return per_client * clients / (time.perf_counter() - started), errors[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, HarnessEnvironment(Path(tmp)) as env:
        env.start("insi")
        one_run(env, 100, 1)  # warm-up: imports, first TLS handshakes
        rates = []
        for index in range(args.runs):
            rate, errors = one_run(env, args.requests, args.clients)
            rates.append(rate)
            print(f"run {index + 1}: {rate:8.1f} req/s, {errors} errors")
            if errors:
                return 1
        print(f"median: {statistics.median(rates):.1f} req/s ({args.requests} requests, {args.clients} clients)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
