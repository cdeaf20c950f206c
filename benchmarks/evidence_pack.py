"""Cost of the evidence pack: trace signing per exchange, export, sealing and verification.

python -m benchmarks.evidence_pack [--exchanges 5000] [--body-bytes 8192]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from harness.core import pki
from harness.core.recorder import Exchange, ExchangeStore
from harness.core.signing import Signer
from harness.evidence import pack as evidence


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exchanges", type=int, default=5000)
    parser.add_argument("--body-bytes", type=int, default=8192)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        layout = pki.load_or_create_pki(base / "pki")
        store = ExchangeStore(base / "exchanges.sqlite3", synchronous="NORMAL", signer=Signer(layout.signers["trace"]))
        unsigned = ExchangeStore(base / "unsigned.sqlite3", synchronous="NORMAL")
        timings = {}
        for name, target in (("record (no trace)", unsigned), ("record + trace", store)):
            start = time.perf_counter()
            for index in range(args.exchanges):
                body = index.to_bytes(8, "big") * (args.body_bytes // 8)
                target.record(Exchange("insi", "bench", "op", "ok", body, body[::-1], time.time(), time.time()))
            timings[name] = time.perf_counter() - start
        report = base / "report"
        start = time.perf_counter()
        evidence.export_exchanges(store.exchanges(), report, layout.signers["trace"].cert_pem.read_text())
        timings["export"] = time.perf_counter() - start
        start = time.perf_counter()
        evidence.seal(report, Signer(layout.signers["evidence"]), run={"bench": True})
        timings["seal"] = time.perf_counter() - start
        start = time.perf_counter()
        verification = evidence.verify_pack(report)
        timings["verify"] = time.perf_counter() - start
        assert verification.intact, verification.altered
    n = args.exchanges
    print(f"{n} exchanges, bodies of {args.body_bytes} bytes")
    for name, seconds in timings.items():
        print(f"  {name:<18} {seconds:7.3f} s  ({seconds / n * 1e6:7.1f} µs per exchange)")
    overhead = (timings["record + trace"] - timings["record (no trace)"]) / n * 1e6
    print(f"  trace signing adds {overhead:.1f} µs per recorded exchange")


if __name__ == "__main__":
    main()
