"""CDA validation speed over the ANS kit's example documents.

Per document: bare lxml parse, the own rules (parse included), and the official kit warm (XSD +
every schematron, compiled beforehand); plus the one-off compile time of the kit's schematrons.
Usage: python -m benchmarks.cda_validation [KIT_DIR]  (default ../shared/reference/ans-cda-kit)
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from lxml import etree

from harness.content.cda import read_cda, validate_cda
from harness.content.cda.kit import PROFILES, OfficialKit

REPEAT = 5


def best_of(action, repeat: int = REPEAT) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return min(timings)


def main() -> int:
    default = Path(__file__).resolve().parents[2] / "shared" / "reference" / "ans-cda-kit"
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    examples = sorted((folder / "ExemplesCDA").glob("*.xml"))
    if not examples:
        print(f"no examples under {folder}/ExemplesCDA", file=sys.stderr)
        return 2
    kit = OfficialKit(folder)
    started = time.perf_counter()
    kit.xml_schema()
    volets = {kit.volet_for(read_cda(raw), raw) for raw in (p.read_bytes() for p in examples)}
    for _, relative, _ in PROFILES:
        kit.schematron(relative)
    profiles_compile = time.perf_counter() - started
    for volet in volets - {None}:
        kit.schematron(volet.name)
    all_compile = time.perf_counter() - started
    parse, own, official = [], [], []
    print(f"{'document':60} {'parse ms':>9} {'own ms':>8} {'kit ms':>8}")
    for path in examples:
        raw = path.read_bytes()
        doc = read_cda(raw)
        kit.validate(doc, raw)  # warm: first run of each volet's executable
        parse.append(best_of(lambda raw=raw: etree.fromstring(raw)) * 1000)
        own.append(best_of(lambda raw=raw: validate_cda(raw)) * 1000)
        official.append(best_of(lambda raw=raw, doc=doc: kit.validate(doc, raw), repeat=2) * 1000)
        print(f"{path.name[:60]:60} {parse[-1]:9.2f} {own[-1]:8.2f} {official[-1]:8.1f}")
    p, o, k = statistics.median(parse), statistics.median(own), statistics.median(official)
    print(f"\n{len(examples)} documents; medians: parse {p:.2f} ms, own rules {o:.2f} ms, official kit {k:.1f} ms")
    print(f"ratios: own/parse {o / p:.1f}x, official/own {k / o:.0f}x")
    print(
        f"one-off compile: 5 profile schematrons + XSD {profiles_compile:.1f} s; with {len(volets - {None})} volets "
        f"{all_compile:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
