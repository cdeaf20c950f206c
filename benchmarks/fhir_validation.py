"""FHIR profile validation speed: FR Core Patient INS resources in bulk, and ITI-65 bundles of
growing size (250 to 8,000 entries) to show that a bundle's cost grows linearly.

    python -m benchmarks.fhir_validation [--patients 10000] [--runs 5] [--jobs 2]
        [--sizes 250,500,1000,2000,4000,8000] [--out reports/fhir_validation.txt]

Patients are the reference product's export of synthetic qualified identities (valid INS keys,
birth places, all FR Core Patient INS rules apply: identifier slices, INS key check, bindings,
extensions, the fr-core-1 FHIRPath invariant). Each validation is the whole job: the R4 structure
(the quick pass over the models' element definitions, the fhir.resources model only when it
cannot call the resource certainly valid), then the profile walk. Three figures:

- in memory, one process: ``validate_resource`` over every patient, wall and CPU time; and what
  the structure costs per patient, with the quick pass and with the model alone (the old way);
- bulk, one file per patient: ``segur validate fhir`` as the command does it (read, parse, judge,
  result) with ``--jobs 1`` and ``--jobs N`` (processes), so the figure counts every core used;
- bundles: one SubmissionSet, one Patient and (N - 2) / 2 DocumentReference + Binary pairs, all
  cross-referenced by urn:uuid, validated against the PDSm provide-bundle profile (every entry
  walked by its slice's profile) plus the reference checks; best of three, wall and CPU.

On a machine shared with other work, compare CPU times, and run versions back to back.
"""

from __future__ import annotations

import argparse
import copy
import json
import resource
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from harness.content import validate
from harness.content.fhir import structure, validate_resource
from harness.content.fhir.structure import structure_issues
from harness.content.validate import ValidateOptions, validate_files
from harness.core.ins import compute_key
from harness.run.sut.reference_fhir import document_bundle, patient_resource


def identities(count: int) -> list[dict[str, Any]]:
    out = []
    for index in range(count):
        body = f"2751263{220001 + index % 700000:06d}"  # women born 12/1975 in 63220, varying order number
        out.append(
            {
                "ins": body + compute_key(body),
                "oid": "1.2.250.1.213.1.4.8",
                "nom_naissance": f"NOM{index}",
                "prenoms": ["ZOE", "MARIE"],
                "sexe": "F",
                "date_naissance": "1975-12-15",
                "lieu_naissance": "63220",
                "status": "QUAL",
            }
        )
    return out


def big_bundle(entries: int) -> dict[str, Any]:
    template = document_bundle(identities(1)[0], "Compte rendu")
    submission, docref, binary, patient = (e for e in template["entry"])
    out = [submission, patient]
    submission["resource"]["entry"] = []
    for _ in range((entries - 2) // 2):
        doc, bin_ = copy.deepcopy(docref), copy.deepcopy(binary)
        doc["fullUrl"], bin_["fullUrl"] = f"urn:uuid:{uuid.uuid4()}", f"urn:uuid:{uuid.uuid4()}"
        doc["resource"]["content"][0]["attachment"]["url"] = bin_["fullUrl"]
        submission["resource"]["entry"].append({"item": {"reference": doc["fullUrl"]}})
        out += [doc, bin_]
    template["entry"] = out
    return template


def timed(action) -> tuple[float, float]:
    """(wall, CPU of this process) seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    action()
    return time.perf_counter() - wall, time.process_time() - cpu


class Output:
    def __init__(self, path: Path | None) -> None:
        self.lines: list[str] = []
        self.path = path

    def __call__(self, line: str) -> None:
        print(line, flush=True)
        self.lines.append(line)

    def save(self) -> None:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text("\n".join(self.lines) + "\n", encoding="utf-8")


def in_memory(patients: list[dict[str, Any]], runs: int, say: Output) -> None:
    walls, cpus = [], []
    for run in range(runs):
        wall, cpu = timed(lambda: [validate_resource(p) for p in patients])
        walls.append(len(patients) / wall)
        cpus.append(len(patients) / cpu)
        say(f"  run {run + 1}: {len(patients)} patients in {wall:.2f} s = {walls[-1]:.0f}/s wall, {cpus[-1]:.0f}/s CPU")
    cpu_rate = statistics.median(cpus)
    say(
        f"  median: {statistics.median(walls):.0f} patients/s wall, {cpu_rate:.0f} patients/s CPU "
        f"({1e6 / cpu_rate:.0f} µs CPU each)"
    )
    sample = patients[:2000]
    quick = timed(lambda: [structure_issues(p) for p in sample])[1] / len(sample)
    had = getattr(structure, "USE_QUICK_PASS", None)
    structure.USE_QUICK_PASS = False  # type: ignore[attr-defined]
    try:
        model = timed(lambda: [structure_issues(p) for p in sample])[1] / len(sample)
    finally:
        structure.USE_QUICK_PASS = had  # type: ignore[attr-defined]
    label = "quick pass" if had is not None else "this version has no quick pass: fhir.resources model"
    say(f"  of which R4 structure: {quick * 1e6:.0f} µs CPU per patient ({label}); model alone {model * 1e6:.0f} µs")


def bulk_files(patients: list[dict[str, Any]], jobs: int, runs: int, say: Output) -> None:
    with tempfile.TemporaryDirectory(prefix="fhir-bulk-") as folder:
        paths = []
        for index, patient in enumerate(patients):
            path = Path(folder) / f"patient-{index:06d}.json"
            path.write_text(json.dumps(patient), encoding="utf-8")
            paths.append(path)
        for workers in sorted({1, jobs}):
            rates, per_cpu = [], []
            for _ in range(runs):
                started, cpu = time.perf_counter(), _cpu_with_children()
                results = validate_files("fhir", paths, ValidateOptions(jobs=workers))
                rates.append(len(paths) / (time.perf_counter() - started))
                per_cpu.append(len(paths) / (_cpu_with_children() - cpu))
                if not all(r.get("valid") for r in results):
                    say("  the patient files are not all valid")
            in_processes = "fhir" in getattr(validate, "IN_PROCESSES", ())
            cores = workers if in_processes else 1  # threads: the GIL runs one at a time
            say(
                f"  --jobs {workers}: {statistics.median(rates):.0f} files/s wall "
                f"(median of {runs}; runs {', '.join(f'{r:.0f}' for r in rates)}); "
                f"{statistics.median(per_cpu):.0f} files per CPU-second of all its processes, "
                f"so {cores * statistics.median(per_cpu):.0f} files/s on {workers} free core(s)"
                + ("" if workers == 1 else " (processes)" if in_processes else " (threads: one core at a time)")
            )


def _cpu_with_children() -> float:
    """CPU seconds of this process and of its finished children (the pool's workers, once joined)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def bundles(sizes: list[int], say: Output) -> None:
    say("  entries | errors | wall ms | CPU ms | CPU µs per entry")
    per_entry = []
    for size in sizes:
        bundle = big_bundle(size)
        report = validate_resource(bundle)
        problems = [i for i in report.issues if i.severity == "error"]
        runs = [timed(lambda b=bundle: validate_resource(b)) for _ in range(3)]
        best_wall, best_cpu = min(r[0] for r in runs), min(r[1] for r in runs)
        count = len(bundle["entry"])
        per_entry.append(best_cpu / count)
        say(
            f"  {count:>7} | {len(problems):>6} | {best_wall * 1000:>7.0f} | {best_cpu * 1000:>6.0f} | "
            f"{best_cpu / count * 1e6:>6.0f}"
        )
    say(f"  CPU per entry, largest / smallest bundle: {per_entry[-1] / per_entry[0]:.2f} (1.00 = linear)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2, help="worker processes of the bulk figure (default 2)")
    parser.add_argument("--sizes", default="250,500,1000,2000,4000,8000", help="bundle entries, comma-separated")
    parser.add_argument("--out", type=Path, help="also write the figures to this file")
    parser.add_argument("--skip", default="", help="comma-separated parts not to run: memory, files, bundles")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    say = Output(args.out)
    say(f"harness: {Path(structure.__file__).parent.parent.parent}, Python {sys.version.split()[0]}")
    patients = [patient_resource(identity) for identity in identities(args.patients)]
    errors = [r for r in (validate_resource(p) for p in patients[:50]) if not r.valid]
    if errors:
        print("the generated patients are not valid:", errors[0].errors()[:3])
        return 1
    if "memory" not in skip:
        say(f"FR Core Patient INS, in memory, one process ({args.runs} runs):")
        in_memory(patients, args.runs, say)
    if "files" not in skip:
        say(f"FR Core Patient INS, one file each, segur validate fhir ({max(1, args.runs // 2)} runs):")
        bulk_files(patients, args.jobs, max(1, args.runs // 2), say)
    if "bundles" not in skip:
        say("ITI-65 provide bundles (PDSm), best of 3:")
        bundles([int(s) for s in args.sizes.split(",")], say)
    say.save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
