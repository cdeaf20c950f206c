"""Rendering the DSR import report as text (a table for people), JSON or CSV.

Each official requirement is one row with its status, criticité and catalog links; catalog
requirements that no official requirement maps to and mapping lines whose number is not in the
export follow, then the counts per status.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from typing import Any

from harness.core.dsr_import.model import STATUSES, ImportReport, OfficialCoverage

NOT_IN_EXPORT = "not in export"


def _one_line(text: str, width: int) -> str:
    # Older exports carry the requirement text as HTML.
    plain = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())
    return plain if len(plain) <= width else plain[: width - 1] + "…"


def _as_dict(item: OfficialCoverage) -> dict[str, Any]:
    req = item.requirement
    return {
        "official_ref": req.ref,
        "status": item.status,
        "criticite": req.criticite,
        "statement": req.statement,
        "perimeter": req.perimeter,
        "chapter": req.chapter,
        "function": req.function,
        "profiles": req.profiles,
        "line": req.line,
        "catalog": [
            {"id": link.requirement_id, "via": link.via, "coverage": link.coverage, "applies": link.applies}
            for link in item.links
        ],
        "scenarios": [
            {"ref": s.ref, "text": s.text, "proofs": [{"ref": ref, "text": text} for ref, text in s.proofs]}
            for s in req.scenarios
        ],
    }


def render_report(report: ImportReport, fmt: str) -> str:
    counts = report.counts()
    if fmt == "json":
        document = {
            "source": report.source,
            "couloir": report.couloir,
            "mapping": report.mapping,
            "counts": counts,
            "official": [_as_dict(item) for item in report.official],
            "catalog_not_in_export": report.catalog_not_in_export,
            "mapping_refs_not_in_export": [
                {"official_ref": e.official_ref, "requirement_id": e.requirement_id, "line": e.line}
                for e in report.mapping_refs_not_in_export
            ],
        }
        return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    if fmt == "csv":
        buffer = io.StringIO()
        columns = ["official_ref", "status", "criticite", "catalog_ids", "outside_couloir", "scenarios", "proofs"]
        writer = csv.DictWriter(buffer, fieldnames=[*columns, "statement"], lineterminator="\n")
        writer.writeheader()
        for item in report.official:
            req = item.requirement
            writer.writerow(
                {
                    "official_ref": req.ref,
                    "status": item.status,
                    "criticite": req.criticite,
                    "catalog_ids": " ".join(link.requirement_id for link in item.links if link.applies),
                    "outside_couloir": " ".join(link.requirement_id for link in item.links if not link.applies),
                    "scenarios": " ".join(s.ref for s in req.scenarios if s.ref),
                    "proofs": " ".join(ref for s in req.scenarios for ref, _ in s.proofs if ref),
                    "statement": req.statement,
                }
            )
        for row in report.catalog_not_in_export:
            writer.writerow({"status": NOT_IN_EXPORT, "criticite": row["criticite"], "catalog_ids": row["id"]})
        return buffer.getvalue()

    width = max([len("official_ref"), *(len(item.requirement.ref) for item in report.official)]) + 2
    lines = [f"{'official_ref':<{width}}{'status':<13}{'criticité':<10}{'catalog':<24}statement"]
    for item in report.official:
        catalog_ids = " ".join(link.requirement_id + ("" if link.applies else " (omit)") for link in item.links) or "-"
        lines.append(
            f"{item.requirement.ref:<{width}}{item.status:<13}{item.requirement.criticite:<10}"
            f"{catalog_ids:<24}{_one_line(item.requirement.statement, 60)}"
        )
    scope = f" of couloir {report.couloir}" if report.couloir else ""
    lines.append(
        f"\nCatalog requirements{scope} that no official requirement maps to: {len(report.catalog_not_in_export)}"
    )
    ids = [row["id"] for row in report.catalog_not_in_export]
    lines.extend("  " + " ".join(ids[i : i + 10]) for i in range(0, len(ids), 10))
    if report.mapping_refs_not_in_export:
        lines.append("\nMapping lines whose official_ref is not in the export:")
        lines.extend(
            f"  {report.mapping}:{e.line} {e.official_ref} -> {e.requirement_id}"
            for e in report.mapping_refs_not_in_export
        )
    summary = ", ".join(f"{counts[status]} {status}" for status in STATUSES)
    lines.append(f"\n{len(report.official)} official requirements in {report.source}: {summary}")
    return "\n".join(lines) + "\n"
