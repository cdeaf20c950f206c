"""Every finding of the FHIR validator on every example, broken variant and structural mutant the
tests hold, written one line per resource, to show that two versions of the code find the same.

    python benchmarks/fhir_findings_digest.py OUT.jsonl [--model-only]
    python benchmarks/fhir_findings_digest.py --compare OLD.jsonl NEW.jsonl

Run it once per version and compare the files (``cmp``): to run an older version, put a copy of
its ``harness/`` (with ``profiles/`` and ``fixtures/`` beside it) first on ``PYTHONPATH`` and run
this file by its path from this checkout, so that the corpus (tests/test_fhir_structure.py) is
this one's. ``--model-only`` turns the quick structure pass off (the pydantic model judges every
resource), for the same comparison within one version. The last line is a SHA-256 of the others.
``--compare`` counts the resources judged alike, those where the old version crashed and the new
one reports findings, and lists any other difference (exit 1 if there is one).
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


def compare(old_path: Path, new_path: Path) -> int:
    def lines(path: Path) -> dict[str, object]:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        return {name: outcome for name, outcome in rows if name != "sha256"}

    old, new = lines(old_path), lines(new_path)
    same = [name for name in old if new.get(name) == old[name]]
    crash_fixed = [
        name
        for name in old
        if name in new and new[name] != old[name] and old[name][0] == "crash" and new[name][0] != "crash"  # type: ignore[index]
    ]
    other = sorted((set(old) | set(new)) - set(same) - set(crash_fixed))
    print(f"{len(old)} resources: {len(same)} judged alike, {len(crash_fixed)} crashed before and are judged now")
    for name in other[:20]:
        print(f"DIFFERENT {name}\n  old: {json.dumps(old.get(name))[:300]}\n  new: {json.dumps(new.get(name))[:300]}")
    if other:
        print(f"{len(other)} other differences")
    return 1 if other else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, nargs="?")
    parser.add_argument("--model-only", action="store_true")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("OLD", "NEW"))
    args = parser.parse_args()
    if args.compare:
        return compare(*args.compare)
    if args.out is None:
        parser.error("give OUT.jsonl or --compare OLD NEW")
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
