"""DMP mock throughput on loopback: TD2.1 submissions per second, as the mock really handles them.

    python -m benchmarks.dmp_feeds [--requests 300] [--clients 4] [--runs 5]

Each submission is a complete reference-client feed built beforehand (so building and signing
are not timed): a N1 CDA with its XAdES signature document, MTOM/XOP, a VIHF signed with the
CPS-like key, over mutual TLS with keep-alive. For each one the mock parses the MTOM message,
verifies the VIHF signature against the test PKI, checks its attributes, runs the XDS metadata
and CDA header rules (recorded as advice), stores the documents in SQLite in one transaction
and records the exchange (both WAL, synchronous=FULL) before answering. Any answer other than
an XDS Success counts as an error.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import httpx

from benchmarks.loadrun import report_runs, threaded_rate
from harness.core import pki
from harness.protocols.vihf import VihfSigner
from harness.protocols.xades import DocumentSigner
from harness.run.environment import HarnessEnvironment
from harness.run.sut.reference_dmp import PreparedCall, ReferenceDmpClient
from suites.dmp.patients import identity


def prepared_feeds(env: HarnessEnvironment, count: int) -> list[PreparedCall]:
    signing = env.pki.client("cps-signature")
    client = ReferenceDmpClient(
        url=env.endpoint("dmp", env.new_session_key("bench")),
        ssl_context=None,
        signer=VihfSigner.from_files(signing.key_pem, signing.cert_pem),
        document_signer=DocumentSigner.from_files(signing.key_pem, signing.cert_pem),
    )
    return [client.prepare_feed(identity("VIDE"), f"Compte rendu {n}") for n in range(count)]


def one_run(env: HarnessEnvironment, requests: int, clients: int) -> tuple[float, int]:
    feeds = iter(prepared_feeds(env, requests))
    lock = threading.Lock()

    def connect() -> tuple[Callable[[], bool], Callable[[], None]]:
        http = httpx.Client(verify=pki.client_ssl_context(env.pki, "dmp-org"), timeout=30)

        def feed() -> bool:
            with lock:
                call = next(feeds)
            try:
                response = http.post(call.url, content=call.content, headers={"content-type": call.content_type})
            except httpx.HTTPError:
                return False
            return response.status_code == 200 and b"ResponseStatusType:Success" in response.content

        return feed, http.close

    return threaded_rate(clients, requests // clients, connect)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, HarnessEnvironment(Path(tmp)) as env:
        one_run(env, 20, 1)  # warm-up: imports, value sets, first TLS handshakes
        label = f"{args.requests} TD2.1 submissions, {args.clients} clients"
        return report_runs(args.runs, lambda: one_run(env, args.requests, args.clients), "submissions/s", label)


if __name__ == "__main__":
    sys.exit(main())
