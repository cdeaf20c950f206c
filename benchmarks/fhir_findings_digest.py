"""Every finding of the FHIR validator on every example, broken variant and structural mutant the
tests hold, written one line per resource, to show that two versions of the code find the same.

    python benchmarks/fhir_findings_digest.py OUT.jsonl [--model-only]

Run it once per version and compare the files (``cmp``): to run an older version, put a copy of
its ``harness/`` (with ``profiles/`` and ``fixtures/`` beside it) first on ``PYTHONPATH`` and run
this file by its path from this checkout, so that the corpus (tests/test_fhir_structure.py) is
this one's. ``--model-only`` turns the quick structure pass off (the pydantic model judges every
resource), for the same comparison within one version. The last line is a SHA-256 of the others.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run by its path: this checkout's tests/ holds the corpus
    sys.path.append(str(Path(__file__).resolve().parent.parent))

from harness.content.fhir import structure, validate_resource
from tests.fhir_corpus import CORPUS, MUTATED, mutants


def findings(resource: dict) -> list:
    try:
        report = validate_resource(resource)
    except Exception as exc:  # a crash is an outcome too: two versions must crash alike
        return ["crash", type(exc).__name__, str(exc)]
    issues = [
        [
            i.severity,
            i.code,
            i.rule,
            i.message,
            i.expression,
            i.element,
            i.profile,
            i.expected,
            i.received,
            i.message_fr,
        ]
        for i in report.issues
    ]
    return [report.verdict, report.profiles, report.not_held, issues]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--model-only", action="store_true")
    args = parser.parse_args()
    if args.model_only:
        structure.USE_QUICK_PASS = False  # type: ignore[attr-defined]
    print("harness from", structure.__file__, file=sys.stderr)
    digest = hashlib.sha256()
    started, count = time.process_time(), 0
    with args.out.open("w", encoding="utf-8") as out:

        def write(name: str, resource: dict) -> None:
            nonlocal count
            line = json.dumps([name, findings(resource)], ensure_ascii=False, sort_keys=True, default=str)
            digest.update(line.encode())
            out.write(line + "\n")
            count += 1

        for name, resource in CORPUS:
            write(name, resource)
        for name, resource in MUTATED:
            for number, mutant in enumerate(mutants(resource)):
                write(f"{name}#{number}", mutant)
        out.write(json.dumps(["sha256", digest.hexdigest()]) + "\n")
    print(f"{count} resources, {time.process_time() - started:.0f} s CPU, sha256 {digest.hexdigest()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
