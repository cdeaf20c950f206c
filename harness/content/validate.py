"""``segur validate KIND FILE...``: validators as a command (contract in the blueprint).

Exit status: 0 no error-level finding, 1 at least one, 2 an input cannot be read or parsed
as the kind asked (or a bad option), 4 nothing is invalid but something was not judged (a FHIR
resource claims a profile the harness does not hold; as ``segur run``'s 4, "incomplete").
The worst wins: 2 > 1 > 4 > 0. Output: text, or JSON
``{"results": [{"file", "valid", "findings": [...]}], "kit": {...}}`` (``kit`` with ``--kit``);
a FHIR result also has ``verdict`` (``valid`` | ``invalid`` | ``not_judged``) and ``not_held``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from harness.content import validate_parallel as parallel
from harness.content.validate_parallel import Progress, StreamProgress
from harness.core.results import Finding, Severity

if TYPE_CHECKING:
    from harness.content.cda.kit import OfficialKit

KINDS = ("cda", "xds", "xdm", "fhir")
PLANNED_KINDS: tuple[str, ...] = ()


@dataclass
class ValidateOptions:
    target: str | None = None
    kit: OfficialKit | None = None
    volet: str | None = None  # kit volet schematron to use instead of the one the document implies
    own_rules: bool = True
    jobs: int = 1  # files judged at once (the caller turns "auto" into the number of cores)
    profile: str | None = None  # FHIR profile URL to apply instead of meta.profile


def _validate_cda_file(path: Path, options: ValidateOptions) -> dict[str, Any]:
    from harness.content.cda import NotACda, read_cda, validate_document
    from harness.content.schematron import SchematronError

    try:
        raw = path.read_bytes()
        doc = read_cda(raw)
    except (NotACda, OSError) as exc:
        return _unreadable(path, str(exc))
    report = validate_document(doc, options.target)
    findings: list[Finding] = report.findings if options.own_rules else []
    result: dict[str, Any] = {"file": str(path)}
    if options.kit is not None:
        try:
            kit_report = options.kit.validate(doc, raw, options.volet)
        except SchematronError as exc:
            return _unreadable(path, f"the ANS kit could not run: {exc}")
        findings = findings + kit_report.findings
        result["kit_schematrons"] = kit_report.schematrons
    result["valid"] = not any(f.severity is Severity.ERROR for f in findings)
    result["findings"] = [_finding_json(f.to_dict()) for f in findings]
    if report.wrapper:
        result["wrapper"] = report.wrapper
    if report.format_code:
        result["format_code"] = report.format_code
    return result


def _unreadable(path: Path, reason: str) -> dict[str, Any]:
    return {"file": str(path), "valid": False, "error": reason, "findings": []}


def _finding_json(data: dict[str, Any]) -> dict[str, Any]:
    keys = ("rule", "severity", "message", "location", "line", "requirement", "expected", "received", "rule_origin")
    out = {k: data[k] for k in keys if data.get(k) is not None}
    if data.get("evidence"):
        out["source"] = data["evidence"][0]
    return out


def _validate_xds_file(path: Path, options: ValidateOptions) -> dict[str, Any]:
    from harness.content.xds_metadata import validate_submission
    from harness.content.xds_transport import NotASubmission, check_document_transport, read_provide_request

    try:
        request = read_provide_request(path.read_bytes())
    except (NotASubmission, OSError) as exc:
        return _unreadable(path, str(exc))
    submission = request.submission
    findings = check_document_transport(request.root, "submission") + validate_submission(submission, request.documents)
    return {
        "file": str(path),
        "valid": not any(f.severity is Severity.ERROR for f in findings),
        "findings": [_finding_json(f.to_dict()) for f in findings],
        "documents": len(submission.documents),
    }


def _validate_fhir_file(path: Path, options: ValidateOptions) -> dict[str, Any]:
    from harness.content.fhir import NotFhir, read_resource, validate_resource

    try:
        resource = read_resource(path.read_bytes())
    except (NotFhir, OSError) as exc:
        return _unreadable(path, str(exc))
    report = validate_resource(resource, options.profile)
    return {
        "file": str(path),
        "valid": report.valid,
        "verdict": report.verdict,
        "not_held": report.not_held,
        "findings": [_finding_json(f.to_dict()) for f in report.findings],
        "resource_type": report.resource_type,
        "profiles": report.profiles,
    }


def _validate_xdm_file(path: Path, options: ValidateOptions) -> dict[str, Any]:
    """An MSSanté IHE_XDM.ZIP: opened safely, then judged by every XDM, XDS and CDA rule (``error`` = exit 2)."""
    from harness.content.xdm_check import check_xdm, zip_format_finding
    from harness.protocols.xdm import NotAnXdm, UnsupportedArchive, read_xdm

    try:
        package = read_xdm(path.read_bytes())
    except UnsupportedArchive as exc:
        finding = zip_format_finding(exc)
        return {
            "file": str(path),
            "valid": False,
            "findings": [_finding_json(finding.to_dict())],
            "subsets": 0,
            "documents": 0,
        }
    except (NotAnXdm, OSError) as exc:
        return _unreadable(path, str(exc))
    findings = check_xdm(package)
    return {
        "file": str(path),
        "valid": not any(f.severity is Severity.ERROR for f in findings),
        "findings": [_finding_json(f.to_dict()) for f in findings],
        "subsets": len(package.subsets),
        "documents": sum(len(s.submission.documents) for s in package.subsets if s.submission is not None),
    }


VALIDATORS: dict[str, Callable[[Path, ValidateOptions], dict[str, Any]]] = {
    "cda": _validate_cda_file,
    "xds": _validate_xds_file,
    "xdm": _validate_xdm_file,
    "fhir": _validate_fhir_file,
}


# Kinds judged by pure Python (the GIL lets one thread run at a time): --jobs runs them in processes.
IN_PROCESSES = frozenset({"fhir"})


def validate_files(
    kind: str, files: list[Path], options: ValidateOptions, progress: Progress | None = None
) -> list[dict[str, Any]]:
    """Each file's result, in the files' order, whatever ``options.jobs`` (see validate_parallel)."""
    validator = VALIDATORS[kind]
    if options.jobs <= 1 or len(files) <= 1:
        return parallel.serially(validator, files, options, progress)
    if kind == "cda" and options.kit is not None:
        return parallel.with_kit_workers(validator, files, options, progress)
    if kind in IN_PROCESSES:
        return parallel.in_forked_processes(validator, files, options)
    return parallel.in_threads(validator, files, options)


def render_text(results: list[dict[str, Any]], out: TextIO) -> None:
    for result in results:
        if "error" in result:
            out.write(f"{result['file']}: UNREADABLE: {result['error']}\n")
            continue
        errors = sum(1 for f in result["findings"] if f["severity"] == Severity.ERROR.value)
        verdict = "valid" if result["valid"] else "INVALID"
        if result.get("verdict") == NOT_JUDGED:
            verdict = f"NOT JUDGED (profiles not held: {', '.join(result['not_held'])})"
        out.write(
            f"{result['file']}: {verdict} ({errors} error(s), {len(result['findings']) - errors} other finding(s))\n"
        )
        for f in result["findings"]:
            where = f"{f.get('location', '')}" + (f":{f['line']}" if f.get("line") else "")
            received = f", received {f['received']}" if "received" in f else ""
            detail = f" expected {f['expected']}{received}" if "expected" in f and "received" in f else ""
            origin = " (harness rule, beyond the guide)" if f.get("rule_origin") == "harness" else ""
            out.write(
                f"  {f['severity']:<7} {f['rule']:<22} {f['message']}.{detail} [{where}] "
                f"({f.get('requirement')}){origin}\n"
            )


NOT_JUDGED = "not_judged"  # harness.content.fhir.NOT_JUDGED, without importing the FHIR engine here
EXIT_NOT_JUDGED = 4


def exit_status(results: list[dict[str, Any]]) -> int:
    if any("error" in r for r in results):
        return 2
    if any(not r["valid"] and r.get("verdict") != NOT_JUDGED for r in results):
        return 1
    return EXIT_NOT_JUDGED if any(r.get("verdict") == NOT_JUDGED for r in results) else 0


def run(kind: str, files: list[str], fmt: str, options: ValidateOptions, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    paths = [Path(f) for f in files]
    progress = None
    if options.kit is not None and len(paths) > 1:  # a kit run of many files takes minutes: say how far it is
        workers = min(options.jobs, len(paths))
        where = f"in each of {workers} worker processes" if workers > 1 else "once"
        sys.stderr.write(f"segur validate: compiling the ANS kit's schematrons {where} for {len(paths)} files...\n")
        progress = StreamProgress(sys.stderr, len(paths))
    results = validate_files(kind, paths, options, progress)
    kit = options.kit
    if fmt == "json":
        document: dict[str, Any] = {"results": results}
        if kit is not None:
            document["kit"] = {
                "path": str(kit.root),
                "version": kit.version,
                "diagnostics": [
                    {"severity": d.severity, "message": d.message, "file": d.file} for d in kit.diagnostics
                ],
            }
        out.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
    else:
        if kit is not None:
            out.write(f"ANS kit: {kit.root} — {kit.version}\n")
            for d in kit.diagnostics:
                out.write(f"  kit {d.severity}: {d.message} [{Path(d.file).name}]\n")
        render_text(results, out)
    return exit_status(results)
