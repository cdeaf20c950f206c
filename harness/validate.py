"""``segur validate KIND FILE...``: validators as a command (contract in the blueprint).

Exit status: 0 no error-level finding, 1 at least one, 2 an input cannot be read or parsed
as the kind asked. Output: text, or JSON ``{"results": [{"file", "valid", "findings": [...]}]}``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TextIO

from harness.results import Severity

KINDS = ("cda",)
PLANNED_KINDS = ("fhir", "xds", "xdm")


def _validate_cda_file(path: Path, target: str | None) -> dict[str, Any]:
    from harness.cda import NotACda, validate_cda

    try:
        report = validate_cda(path.read_bytes(), target)
    except (NotACda, OSError) as exc:
        return {"file": str(path), "valid": False, "error": str(exc), "findings": []}
    result: dict[str, Any] = {
        "file": str(path),
        "valid": report.valid,
        "findings": [_finding_json(f.to_dict()) for f in report.findings],
    }
    if report.wrapper:
        result["wrapper"] = report.wrapper
    if report.format_code:
        result["format_code"] = report.format_code
    return result


def _finding_json(data: dict[str, Any]) -> dict[str, Any]:
    keys = ("rule", "severity", "message", "location", "line", "requirement", "expected", "received")
    return {k: data[k] for k in keys if data.get(k) is not None}


VALIDATORS: dict[str, Callable[[Path, str | None], dict[str, Any]]] = {"cda": _validate_cda_file}


def validate_files(kind: str, files: list[Path], target: str | None = None, jobs: int = 1) -> list[dict[str, Any]]:
    validator = VALIDATORS[kind]
    if jobs <= 1 or len(files) <= 1:
        return [validator(f, target) for f in files]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(lambda f: validator(f, target), files))


def render_text(results: list[dict[str, Any]], out: TextIO) -> None:
    for result in results:
        if "error" in result:
            out.write(f"{result['file']}: UNREADABLE: {result['error']}\n")
            continue
        errors = sum(1 for f in result["findings"] if f["severity"] == Severity.ERROR.value)
        out.write(
            f"{result['file']}: {'valid' if result['valid'] else 'INVALID'} ({errors} error(s), "
            f"{len(result['findings']) - errors} other finding(s))\n"
        )
        for f in result["findings"]:
            where = f"{f.get('location', '')}" + (f":{f['line']}" if f.get("line") else "")
            detail = f" expected {f['expected']}, received {f['received']}" if "expected" in f else ""
            out.write(
                f"  {f['severity']:<7} {f['rule']:<22} {f['message']}.{detail} [{where}] ({f.get('requirement')})\n"
            )


def exit_status(results: list[dict[str, Any]]) -> int:
    if any("error" in r for r in results):
        return 2
    return 0 if all(r["valid"] for r in results) else 1


def run(kind: str, files: list[str], fmt: str, target: str | None, jobs: int, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    results = validate_files(kind, [Path(f) for f in files], target, jobs)
    if fmt == "json":
        out.write(json.dumps({"results": results}, ensure_ascii=False, indent=2) + "\n")
    else:
        render_text(results, out)
    return exit_status(results)
