"""Mapping the export's requirements onto the catalog, through ``official_ref`` and the mapping file.

An official requirement links to the catalog requirements whose ``official_ref`` names it (also
without the project prefix that the export drops) and to those the mapping file
(``official_ref,requirement_id,note``) gives. Its status is ``automated`` when one of them is cited
by a suite test, ``attested`` when the only coverage is an attestation, and ``not covered``
otherwise: an automated catalog requirement that no test cites covers nothing.
"""

from __future__ import annotations

import csv
from pathlib import Path

from harness.core.catalog import Catalog, default_catalog, unknown_id_message
from harness.core.coverage import coverage_rows
from harness.core.dsr_import.model import (
    DsrImportError,
    ImportReport,
    Link,
    MappingEntry,
    OfficialCoverage,
    OfficialExport,
)
from harness.core.dsr_import.read import read_export
from harness.core.dsr_import.table import fold_ref
from harness.core.paths import suites_dir

MAPPING_FILE = "dsr-mapping.csv"

# The export drops the project prefix of a requirement number (SC.INS.01 is written INS.01).
_PROJECT_PREFIXES = ("SC.", "CH.")


def default_mapping_path() -> Path:
    return suites_dir() / MAPPING_FILE


def load_mapping(path: Path, catalog: Catalog) -> list[MappingEntry]:
    """Read ``official_ref,requirement_id,note`` lines (``#`` starts a comment line)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DsrImportError(f"mapping file {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DsrImportError(f"mapping file {path}: cannot read it ({exc})") from None
    header: list[str] | None = None
    entries: list[MappingEntry] = []
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        cells = [c.strip() for c in next(csv.reader([raw]))]
        if header is None:
            header = cells
            missing = [c for c in ("official_ref", "requirement_id") if c not in header]
            if missing:
                raise DsrImportError(
                    f"{path}:{number}: the header must name the columns official_ref,requirement_id,note "
                    f"(missing {', '.join(missing)})"
                )
            continue
        row = dict(zip(header, cells, strict=False))
        official_ref, req_id = row.get("official_ref", ""), row.get("requirement_id", "")
        if not official_ref or not req_id:
            raise DsrImportError(f"{path}:{number}: official_ref and requirement_id are both needed")
        if req_id not in catalog:
            raise DsrImportError(f"{path}:{number}: {unknown_id_message(req_id, [r.id for r in catalog])}")
        entries.append(MappingEntry(official_ref, req_id, row.get("note", ""), number))
    return entries


def _without_prefix(ref: str) -> str | None:
    upper = ref.upper()
    return next((ref[len(p) :] for p in _PROJECT_PREFIXES if upper.startswith(p)), None)


def map_export(
    export: OfficialExport,
    catalog: Catalog,
    mapping: list[MappingEntry],
    couloir: str | None = None,
    mapping_source: str | None = None,
) -> ImportReport:
    coverage = {row["id"]: row["coverage"] for row in coverage_rows(catalog)}
    by_ref: dict[str, list[str]] = {}
    by_bare_ref: dict[str, list[str]] = {}
    for req in catalog:
        for ref in filter(None, (r.strip() for r in req.official_ref.split("|"))):
            by_ref.setdefault(fold_ref(ref), []).append(req.id)
            bare = _without_prefix(ref)
            if bare:
                by_bare_ref.setdefault(fold_ref(bare), []).append(req.id)
    by_mapping: dict[str, list[MappingEntry]] = {}
    for entry in mapping:
        by_mapping.setdefault(fold_ref(entry.official_ref), []).append(entry)

    official: list[OfficialCoverage] = []
    linked: set[str] = set()
    for key, requirement in export.requirements.items():
        sources: list[tuple[str, str]] = [(req_id, "official_ref") for req_id in by_ref.get(key, [])]
        if not sources and _without_prefix(requirement.ref) is None:
            sources = [(req_id, "official_ref without prefix") for req_id in by_bare_ref.get(key, [])]
        sources += [(e.requirement_id, f"mapping line {e.line}") for e in by_mapping.get(key, [])]
        links: dict[str, Link] = {}
        for req_id, via in sources:
            if req_id not in links:
                applies = catalog.get(req_id).applies_to(couloir)
                links[req_id] = Link(req_id, via, coverage[req_id], applies)
        counted = {link.coverage for link in links.values() if link.applies}
        if "automated" in counted:
            status = "automated"
        elif "attestation" in counted:
            status = "attested"
        else:
            status = "not covered"
        linked.update(links)
        official.append(OfficialCoverage(requirement, status, tuple(links.values())))

    catalog_not_in_export = [
        {"id": req.id, "domain": req.domain, "criticite": req.criticite, "coverage": coverage[req.id]}
        for req in catalog
        if req.applies_to(couloir) and req.id not in linked
    ]
    unused = [entry for entry in mapping if fold_ref(entry.official_ref) not in export.requirements]
    return ImportReport(export.source, couloir, mapping_source, official, catalog_not_in_export, unused)


def import_report(
    export_path: Path,
    mapping_path: Path | None = None,
    couloir: str | None = None,
    catalog: Catalog | None = None,
) -> ImportReport:
    """Read the export and the mapping (default ``suites/dsr-mapping.csv``, if present) and map them."""
    catalog = catalog or default_catalog()
    if mapping_path is None and default_mapping_path().is_file():
        mapping_path = default_mapping_path()
    mapping = load_mapping(mapping_path, catalog) if mapping_path else []
    export = read_export(export_path)
    return map_export(export, catalog, mapping, couloir, str(mapping_path) if mapping_path else None)
