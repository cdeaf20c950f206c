"""FHIR profile validation speed: 10,000 FR Core Patient INS resources, and ITI-65 bundles of
growing size (1,000 entries and around it) to show that reference resolution grows linearly.

    python -m benchmarks.fhir_validation [--patients 10000] [--runs 5]

Patients are the reference product's export of synthetic qualified identities (valid INS keys,
birth places, all FR Core Patient INS rules apply: identifier slices, INS key check, bindings,
extensions, the fr-core-1 FHIRPath invariant). Each validation is the whole job: R4 structure
through the fhir.resources model, then the profile walk. A bundle of N entries holds one
SubmissionSet, one Patient and (N - 2) / 2 DocumentReference + Binary pairs, all cross-referenced
by urn:uuid, validated against the PDSm provide-bundle profile (every entry walked by its slice's
profile) plus the reference checks.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
import uuid
from typing import Any

from harness.content.fhir import validate_resource
from harness.content.fhir.structure import structure_issues
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


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    patients = [patient_resource(identity) for identity in identities(args.patients)]
    errors = [r for r in (validate_resource(p) for p in patients[:50]) if not r.valid]
    if errors:
        print("the generated patients are not valid:", errors[0].errors()[:3])
        return 1
    rates = []
    for run in range(args.runs):
        elapsed = timed(lambda: [validate_resource(p) for p in patients])
        rates.append(len(patients) / elapsed)
        print(f"run {run + 1}: {len(patients)} patients in {elapsed:.2f} s = {rates[-1]:.0f} resources/s")
    print(f"median: {statistics.median(rates):.0f} patients/s ({1e6 / statistics.median(rates):.0f} µs each)")
    structure = timed(lambda: [structure_issues(p) for p in patients[:2000]]) / 2000
    print(f"of which R4 structure (fhir.resources model): {structure * 1e6:.0f} µs per patient")

    for size in (250, 500, 1000, 2000):
        bundle = big_bundle(size)
        report = validate_resource(bundle)
        problems = [i for i in report.issues if i.severity == "error"]
        best = min(timed(lambda b=bundle: validate_resource(b)) for _ in range(3))
        count = len(bundle["entry"])
        print(
            f"bundle of {count} entries: {best * 1000:.0f} ms "
            f"({best / count * 1e6:.0f} µs per entry), {len(problems)} errors"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
