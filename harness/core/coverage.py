"""The coverage matrix: which suite tests cite each requirement, read statically from the code.

Reading the suites' source (``ast``) rather than collecting them keeps ``segur requirements``
instant and lets CI compare the committed ``suites/coverage.csv`` with the code.
"""

from __future__ import annotations

import ast
import csv
import io
import json
from pathlib import Path
from typing import Any

from harness.core.catalog import Catalog, default_catalog
from harness.core.paths import suites_dir

COVERAGE_FILE = "coverage.csv"


def _requirement_args(decorator: ast.expr) -> list[str]:
    # Matches pytest.mark.requirement("A", "B") and mark.requirement(...)
    if not isinstance(decorator, ast.Call):
        return []
    func = decorator.func
    if isinstance(func, ast.Attribute) and func.attr == "requirement":
        return [a.value for a in decorator.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    return []


def cited_requirements(root: Path | None = None) -> dict[str, list[str]]:
    """requirement id -> test ids (``suite/file.py::test``) citing it, in file order."""
    root = root or suites_dir()
    cited: dict[str, list[str]] = {}
    for path in sorted(root.glob("*/test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                test_id = f"{path.parent.name}/{path.name}::{node.name}"
                for decorator in node.decorator_list:
                    for req_id in _requirement_args(decorator):
                        cited.setdefault(req_id, []).append(test_id)
    return cited


def coverage_rows(
    catalog: Catalog | None = None, root: Path | None = None, couloir: str | None = None
) -> list[dict[str, Any]]:
    """One row per requirement; with ``couloir``, only those that apply to it (the others are omit)."""
    catalog = catalog or default_catalog()
    cited = cited_requirements(root)
    rows = []
    for req in catalog:
        if not req.applies_to(couloir):
            continue
        tests = cited.get(req.id, [])
        if tests:
            status = "automated"
        elif req.automation == "attestation":
            status = "attestation"
        else:
            status = "not covered"
        rows.append(
            {
                "id": req.id,
                "official_ref": req.official_ref,
                "domain": req.domain,
                "criticite": req.criticite,
                "automation": req.automation,
                "coverage": status,
                "couloirs": "|".join(req.couloirs),
                "tests": tests,
                "statement": req.statement,
            }
        )
    return rows


def render(rows: list[dict[str, Any]], fmt: str, couloir: str | None = None) -> str:
    if fmt == "json":
        return json.dumps({"requirements": rows}, ensure_ascii=False, indent=2) + "\n"
    if fmt == "csv":
        buffer = io.StringIO()
        columns = ["id", "official_ref", "domain", "criticite", "automation", "coverage", "couloirs", "tests"]
        writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "tests": " ".join(row["tests"])})
        return buffer.getvalue()
    lines = [f"{'id':<9}{'domain':<7}{'criticité':<10}{'coverage':<13}tests"]
    for row in rows:
        lines.append(f"{row['id']:<9}{row['domain']:<7}{row['criticite']:<10}{row['coverage']:<13}{len(row['tests'])}")
    covered = sum(1 for r in rows if r["coverage"] != "not covered")
    scope = f" for couloir {couloir}" if couloir else ""
    lines.append(f"\n{covered}/{len(rows)} requirements automated or attested{scope}")
    return "\n".join(lines) + "\n"
