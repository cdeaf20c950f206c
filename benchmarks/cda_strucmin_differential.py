"""Differential of the own CDA rules against the kit's StrucMin schematron on one-defect variants.

For each ANS example (or those named), every variant of harness.content.cda.strucmin_variants is
run through the kit's structuration minimale schematron (warm, in-process) and the own rules; the
table of every variant and its outcome is written as CSV, and with ``--differences`` the
disagreements (kit-only, own-only) with their reason category, the file the bounded test reads.

Usage: python -m benchmarks.cda_strucmin_differential [--kit DIR] [--jobs N] [--limit N]
       [--max-variants N (default 40, 0 all)] [--table reports/cda_strucmin_differential.csv]
       [--differences FILE] [--without-strucmin-rules] [NAME ...]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from lxml import etree

from harness.content.cda import read_cda
from harness.content.cda import strucmin_variants as sv
from harness.content.cda.kit import OfficialKit
from harness.content.cda.rules import RULES
from harness.content.cda.rules_strucmin import DATATYPE_RULE_ID, RULE_ID
from harness.core.paths import reference_dir

_KIT: dict[str, OfficialKit] = {}
# Variants per example (spread over the header): the kit takes 0.1 to 1 s a run on 2 cores.
SAMPLE = 40


def sampled(variants: list[sv.Variant], limit: int | None) -> list[sv.Variant]:
    """Every ``len/limit``-th variant: deterministic and spread over the whole header."""
    if not limit or len(variants) <= limit:
        return variants
    step = len(variants) / limit
    return [variants[int(i * step)] for i in range(limit)]


def run_example(
    kit_dir: str, path: str, max_variants: int | None, without_strucmin_rules: bool = False
) -> list[tuple[str, str, str, str, str, str]]:
    rule_ids = set(RULES) - {RULE_ID, DATATYPE_RULE_ID} if without_strucmin_rules else None
    kit = _KIT.setdefault(kit_dir, OfficialKit(kit_dir))
    schematron = kit.schematron(sv.STRUCMIN)
    doc = read_cda(Path(path).read_bytes())
    base = etree.tostring(doc.root, encoding="UTF-8", xml_declaration=True)
    base_kit, base_own = sv.kit_errors(schematron, base), sv.own_errors(base, rule_ids)
    rows = []
    for variant in sampled(list(sv.variants(doc)), max_variants):
        result = sv.compare_detailed(schematron, variant, base_kit, base_own, rule_ids)
        why = sv.reason(result) if result.outcome in ("kit-only", "own-only") else ""
        detail = "; ".join(k.split("|", 1)[0] + ":" + k.split("|", 1)[1][:80] for k in result.kit_new + result.own_new)
        rows.append((Path(path).name, variant.key, variant.kind, result.outcome, why, detail[:300]))
    return rows


def main(argv: list[str] | None = None) -> int:
    reference = reference_dir()
    default = reference / "ans-cda-kit" if reference else Path("ans-cda-kit")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kit", type=Path, default=default)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--limit", type=int, default=None, help="first N examples, smallest first")
    parser.add_argument("--max-variants", type=int, default=SAMPLE, help="0: every variant")
    parser.add_argument("--table", type=Path, default=Path("reports/cda_strucmin_differential.csv"))
    parser.add_argument("--differences", type=Path, default=None)
    parser.add_argument(
        "--without-strucmin-rules", action="store_true", help="the own rules as before this differential"
    )
    parser.add_argument("names", nargs="*")
    args = parser.parse_args(argv)
    examples = sorted((args.kit / "ExemplesCDA").glob("*.xml"), key=lambda p: (p.stat().st_size, p.name))
    if args.names:
        examples = [p for p in examples if p.name in args.names]
    examples = examples[: args.limit] if args.limit else examples
    if not examples:
        print(f"no examples under {args.kit}/ExemplesCDA", file=sys.stderr)
        return 2
    started = time.perf_counter()
    args.table.parent.mkdir(parents=True, exist_ok=True)
    totals: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    with args.table.open("w", newline="", encoding="utf-8") as table, ProcessPoolExecutor(args.jobs) as pool:
        writer = csv.writer(table)
        writer.writerow(["example", "variant", "kind", "outcome", "reason", "new errors"])
        futures = [
            pool.submit(run_example, str(args.kit), str(p), args.max_variants, args.without_strucmin_rules)
            for p in examples
        ]
        differences = []
        for path, future in zip(examples, futures, strict=True):
            try:
                rows = future.result()
            except Exception as exc:  # a defect of the differential itself: reported, the run goes on
                print(f"{path.name[:50]:50} FAILED: {type(exc).__name__}: {exc}", flush=True)
                totals["failed examples"] += 1
                continue
            writer.writerows(rows)
            table.flush()
            counts = Counter(r[3] for r in rows)
            totals.update(counts)
            reasons.update(r[4] for r in rows if r[4])
            differences += [r[:5] for r in rows if r[4]]
            print(
                f"{path.name[:50]:50} {len(rows):5} variants "
                + " ".join(f"{k} {v}" for k, v in sorted(counts.items())),
                flush=True,
            )
    if args.differences:
        with args.differences.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(["example", "variant", "kind", "outcome", "reason"])
            writer.writerows(sorted(differences))
    variants = sum(totals.values())
    agree = totals["agree-reject"] + totals["agree-accept"]
    print(
        f"\n{len(examples)} examples, {variants} variants: {agree} agreements, {variants - agree} disagreements "
        f"({', '.join(f'{k} {v}' for k, v in sorted(totals.items()))}) in {time.perf_counter() - started:.0f} s"
    )
    print("disagreement reasons: " + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
