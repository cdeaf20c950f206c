"""What the PSC -> VIHF proxy adds to a DMP call: TD3.1 latency direct to the DMP mock and through the proxy.

    python -m benchmarks.vihf_proxy_latency [--requests 100]

Both kinds of request are built beforehand by the reference DMP client (so the product's own VIHF
signature is not timed): direct, with the VIHF signed by the CPS-like key; through the proxy,
without a VIHF, with the PSC access token of one login. Through the proxy each call also costs the
proxy's userinfo request to the PSC mock, building and signing its VIHF, and the forward over
mutual TLS; each side records its exchange before answering. One client, keep-alive, sequential.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from harness.core import pki
from harness.protocols import xds
from harness.protocols.vihf import VihfSigner
from harness.run import useragent
from harness.run.environment import HarnessEnvironment
from harness.run.sut.reference_dmp import PreparedCall, PscCall, ReferenceDmpClient
from harness.run.sut.reference_dmp.metadata import stored_query
from harness.run.sut.reference_psc import ReferencePscClient
from suites.dmp.patients import identity

QUERY = "urn:ihe:iti:2007:RegistryStoredQuery"


def psc_call(env: HarnessEnvironment, key: str) -> PscCall:
    tls = pki.client_ssl_context(env.pki, None)
    client = ReferencePscClient(env.endpoint("psc", key), tls)
    client.callback(useragent.psc_login(client.authorization_url()["url"], "899900000011", tls))
    assert client.session is not None, "the PSC login failed"
    tokens = client.session.tokens
    return PscCall(env.endpoint("vihf_proxy", key), tokens["access_token"], tokens["id_token"], "899900000011", "10C")


def prepared(env: HarnessEnvironment, count: int, through_proxy: bool) -> list[PreparedCall]:
    key = env.new_session_key("bench-proxy" if through_proxy else "bench-direct")
    signing = env.pki.client("cps-signature")
    client = ReferenceDmpClient(
        url=env.endpoint("dmp", key),
        ssl_context=None,
        signer=VihfSigner.from_files(signing.key_pem, signing.cert_pem),
    )
    patient = identity("OUVERT")
    params = {"$XDSDocumentEntryPatientId": [f"'{xds.format_cx(patient['ins'], patient['oid'])}'"]}
    psc = psc_call(env, key) if through_proxy else None
    return [
        client.prepare("DocumentRegistry_Service", QUERY, stored_query(xds.FIND_DOCUMENTS, params), patient, None, psc)
        for _ in range(count)
    ]


def latencies(env: HarnessEnvironment, calls: list[PreparedCall]) -> list[float]:
    timings = []
    with httpx.Client(verify=pki.client_ssl_context(env.pki, "dmp-org"), timeout=30) as http:
        for call in calls:
            started = time.perf_counter()
            response = http.post(
                call.url, content=call.content, headers={"content-type": call.content_type, **call.headers}
            )
            timings.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{call.url} answered HTTP {response.status_code}: {response.text[:200]}")
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100, help="TD3.1 calls of each kind (default 100)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-proxy-") as folder, HarnessEnvironment(Path(folder)) as env:
        env.start("vihf_proxy")
        for label, through_proxy in (("direct to the DMP", False), ("through the proxy", True)):
            calls = prepared(env, args.requests, through_proxy)
            latencies(env, calls[:5])  # warm connections and code paths
            timings = latencies(env, calls)
            p95 = statistics.quantiles(timings, n=20)[-1]
            print(f"{label:18}: median {statistics.median(timings):6.1f} ms, p95 {p95:6.1f} ms ({len(timings)} calls)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
