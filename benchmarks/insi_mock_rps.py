"""INSi mock throughput on loopback: requests per second over mutual TLS, keep-alive.

    python -m benchmarks.insi_mock_rps [--requests 2000] [--clients 4] [--runs 5]

Each run sends ``--requests`` traits searches (CNDA person ADRUN ZOE, CR 00) split across
``--clients`` threads, each with its own keep-alive connection; the mock records every
exchange in SQLite (WAL, synchronous=FULL) before answering, as in production use.
Prints each run and the median; any non-200 answer or error counts and is reported.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import httpx

from benchmarks.loadrun import report_runs, threaded_rate
from harness.core import pki
from harness.run.environment import HarnessEnvironment
from harness.run.sut.reference_insi import ReferenceInsiClient
from suites.ins.persons import traits

ACTION = "urn:ServiceIdentiteCertifiee:1.0.0:rechercherInsAvecTraitsIdentite"


def one_run(env: HarnessEnvironment, requests: int, clients: int) -> tuple[float, int]:
    url = env.endpoint("insi", env.new_session_key("bench"))
    builder = ReferenceInsiClient(url=url, ssl_context=None)
    p = traits("ADRUN-ZOE")
    body = builder._traits_body(p["nom_naissance"], p["prenoms"][:1], p["sexe"], p["date_naissance"], "")
    payload = builder._envelope("rechercherInsAvecTraitsIdentite", body)
    headers = {"Content-Type": f'application/soap+xml; charset=utf-8; action="{ACTION}"'}

    def connect() -> tuple[Callable[[], bool], Callable[[], None]]:
        client = httpx.Client(verify=pki.client_ssl_context(env.pki, "insi-auto"), timeout=10)

        def search() -> bool:
            try:
                return client.post(url, content=payload, headers=headers).status_code == 200
            except httpx.HTTPError:
                return False

        return search, client.close

    return threaded_rate(clients, requests // clients, connect)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, HarnessEnvironment(Path(tmp)) as env:
        one_run(env, 100, 1)  # warm-up: imports, first TLS handshakes
        label = f"{args.requests} requests, {args.clients} clients"
        return report_runs(args.runs, lambda: one_run(env, args.requests, args.clients), "req/s", label)


if __name__ == "__main__":
    sys.exit(main())
