"""Read the official DSR requirement export and map its requirements onto the catalog.

ANS publishes each DSR's requirements as a spreadsheet made by its Squash TM plugin
("convergence-export", sheet ``Exigences``): one row per (requirement, scenario, proof), the
requirement's columns repeated on each row. Plugin versions name the columns differently ("ID" or
"N° exigence", "Exigence" or "Énoncé") and people re-save the file as CSV, so the header row is
searched for among the first rows and columns are matched by a folded form of their name.

An official requirement is mapped to catalog requirements through the catalog's ``official_ref``
and through a mapping file (``official_ref,requirement_id,note``). Its status is ``automated`` when
one of them is cited by a suite test, ``attested`` when the only coverage is an attestation, and
``not covered`` otherwise: an automated catalog requirement that no test cites covers nothing.
"""

from __future__ import annotations

import csv
import datetime
import html
import io
import itertools
import json
import re
import unicodedata
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.catalog import Catalog, default_catalog, unknown_id_message
from harness.core.coverage import coverage_rows
from harness.core.errors import UsageError
from harness.core.paths import suites_dir

MAPPING_FILE = "dsr-mapping.csv"
HEADER_SEARCH_ROWS = 30
CSV_DELIMITERS = (";", ",", "\t")
REQUIREMENTS_SHEET = "exigences"  # folded name of the sheet the Squash plugin writes

STATUSES = ("automated", "attested", "not covered")
NOT_IN_EXPORT = "not in export"

# Folded header names (see fold_header) of each column the importer uses.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "perimeter": ("perimetre",),
    "ref": ("n exigence", "id", "id exigence", "reference", "reference exigence", "exigence n"),
    "chapter": ("chapitre", "chapitre section", "section"),
    "block": ("bloc",),
    "function": ("fonction",),
    "statement": ("enonce", "enonce exigence", "exigence"),
    "comment": ("commentaire", "commentaires"),
    "profile": ("profil",),
    "scenario_ref": ("n scenario", "scenario n"),
    "scenario": ("scenario conformite", "scenario"),
    "proof_ref": ("n preuve", "preuve n"),
    "proof": ("preuve",),
    "historical_profile": ("profil historique",),
    "criticite": ("criticite",),
    "order": ("ordre",),
}
REQUIRED_COLUMNS = {"ref": '"N° exigence" (or "ID")', "statement": '"Énoncé" (or "Exigence")'}
_ALIAS_TO_FIELD = {alias: name for name, aliases in COLUMN_ALIASES.items() for alias in aliases}
_NUMBER_WORDS = {"no", "num", "numero", "nr"}
_STOP_WORDS = {"de", "d", "du", "l", "la", "le", "des"}

# Squash stores MINOR/MAJOR/CRITICAL/UNDEFINED; the export writes them in French.
_CRITICITES = {
    "minor": "MINOR",
    "mineure": "MINOR",
    "major": "MAJOR",
    "majeure": "MAJOR",
    "critical": "CRITICAL",
    "critique": "CRITICAL",
    "undefined": "UNDEFINED",
    "non definie": "UNDEFINED",
}
# The export drops the project prefix of a requirement number (SC.INS.01 is written INS.01).
_PROJECT_PREFIXES = ("SC.", "CH.")

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # encrypted OOXML and legacy .xls are OLE files
_ZIP_MAGIC = b"PK\x03\x04"


class DsrImportError(UsageError):
    """The export or the mapping file cannot be used; the message says why."""


@dataclass
class Scenario:
    ref: str
    text: str
    proofs: list[tuple[str, str]] = field(default_factory=list)  # (N° preuve, Preuve)


@dataclass
class OfficialRequirement:
    ref: str
    line: int
    statement: str = ""
    perimeter: str = ""
    chapter: str = ""
    function: str = ""
    criticite: str = ""
    profiles: list[str] = field(default_factory=list)
    scenarios: list[Scenario] = field(default_factory=list)


@dataclass
class OfficialExport:
    source: str
    header_line: int
    requirements: dict[str, OfficialRequirement]  # by folded ref, in file order


@dataclass(frozen=True)
class MappingEntry:
    official_ref: str
    requirement_id: str
    note: str
    line: int


@dataclass(frozen=True)
class Link:
    requirement_id: str
    via: str  # "official_ref", "official_ref without prefix" or "mapping line N"
    coverage: str  # the catalog requirement's coverage: automated, attestation, not covered
    applies: bool  # to the couloir asked for (always True without one)


@dataclass(frozen=True)
class OfficialCoverage:
    requirement: OfficialRequirement
    status: str
    links: tuple[Link, ...]


@dataclass(frozen=True)
class ImportReport:
    source: str
    couloir: str | None
    mapping: str | None
    official: list[OfficialCoverage]
    catalog_not_in_export: list[dict[str, str]]
    mapping_refs_not_in_export: list[MappingEntry]

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for item in self.official:
            counts[item.status] += 1
        return counts


# --- reading the export ------------------------------------------------------------------------


def fold_header(text: str) -> str:
    """``"N° d'exigence"``, ``"Numéro exigence"`` and ``"no EXIGENCE"`` all fold to ``"n exigence"``."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    words = re.findall(r"[a-z0-9]+", plain)
    return " ".join("n" if w in _NUMBER_WORDS else w for w in words if w not in _STOP_WORDS)


def _fold_ref(ref: str) -> str:
    return "".join(ref.split()).casefold()


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return str(value).strip()


def _header_fields(cells: Sequence[object]) -> dict[str, int]:
    """Known column -> index in the row (first occurrence wins)."""
    found: dict[str, int] = {}
    for index, cell in enumerate(cells):
        name = _ALIAS_TO_FIELD.get(fold_header(_cell_text(cell)))
        if name is not None and name not in found:
            found[name] = index
    return found


class _NoHeader(Exception):
    """No header row in this sheet or with this CSV separator; ``score`` ranks the diagnostics."""

    def __init__(self, message: str, score: int):
        super().__init__(message)
        self.score = score


def _locate_header(head: list[tuple[int, Sequence[object]]], where: str) -> tuple[int, dict[str, int]]:
    best: tuple[int, int, dict[str, int]] | None = None
    for position, (line, cells) in enumerate(head):
        columns = _header_fields(cells)
        if all(name in columns for name in REQUIRED_COLUMNS):
            return position, columns
        if len(columns) >= 2 and (best is None or len(columns) > len(best[2])):
            best = (line, position, columns)
    if best is None:
        raise _NoHeader(
            f"{where}: no header row in the first {HEADER_SEARCH_ROWS} rows "
            f"(expected columns such as {' and '.join(REQUIRED_COLUMNS.values())}); is this the DSR export?",
            0,
        )
    line, _, columns = best
    missing = [label for name, label in REQUIRED_COLUMNS.items() if name not in columns]
    raise _NoHeader(f"{where}: the header row (line {line}) has no column {' nor '.join(missing)}", len(columns))


def _accumulate(
    requirements: dict[str, OfficialRequirement],
    columns: dict[str, int],
    line: int,
    cells: Sequence[object],
    current: OfficialRequirement | None,
) -> OfficialRequirement | None:
    """Add one data row; a row without a number continues the previous requirement (merged cells)."""
    values = {name: _cell_text(cells[index]) if index < len(cells) else "" for name, index in columns.items()}
    if not any(values.values()):
        return current
    ref = " ".join(values["ref"].split())
    if ref:
        requirement = requirements.get(_fold_ref(ref))
        if requirement is None:
            requirement = requirements[_fold_ref(ref)] = OfficialRequirement(ref=ref, line=line)
    elif current is not None:
        requirement = current
    else:
        return None
    get = values.get
    for attribute, value in (
        ("statement", get("statement", "")),
        ("perimeter", get("perimeter", "")),
        ("chapter", " ".join(v for v in (get("chapter", ""), get("block", "")) if v)),
        ("function", get("function", "")),
        ("criticite", _CRITICITES.get(fold_header(get("criticite", "")), get("criticite", ""))),
    ):
        if value and not getattr(requirement, attribute):
            setattr(requirement, attribute, value)
    profile = get("profile", "")
    if profile and profile not in requirement.profiles:
        requirement.profiles.append(profile)
    scenario_ref, scenario_text = get("scenario_ref", ""), get("scenario", "")
    proof = (get("proof_ref", ""), get("proof", ""))
    scenario: Scenario | None = None
    if scenario_ref or scenario_text:
        key = scenario_ref or scenario_text
        scenario = next((s for s in requirement.scenarios if (s.ref or s.text) == key), None)
        if scenario is None:
            scenario = Scenario(scenario_ref, scenario_text)
            requirement.scenarios.append(scenario)
        elif scenario_text and not scenario.text:
            scenario.text = scenario_text
    elif any(proof):
        if not requirement.scenarios:
            requirement.scenarios.append(Scenario("", ""))
        scenario = requirement.scenarios[-1]
    if scenario is not None and any(proof) and proof not in scenario.proofs:
        scenario.proofs.append(proof)
    return requirement


def _parse_table(rows: Iterator[tuple[int, Sequence[object]]], where: str) -> OfficialExport:
    head = list(itertools.islice(rows, HEADER_SEARCH_ROWS))
    if not any(_cell_text(c) for _, cells in head for c in cells):
        raise _NoHeader(f"{where}: empty (no data in the first {HEADER_SEARCH_ROWS} rows)", 0)
    position, columns = _locate_header(head, where)
    header_line = head[position][0]
    requirements: dict[str, OfficialRequirement] = {}
    current: OfficialRequirement | None = None
    for line, cells in itertools.chain(head[position + 1 :], rows):
        current = _accumulate(requirements, columns, line, cells, current)
    if not requirements:
        raise DsrImportError(f"{where}: no requirement under the header row (line {header_line})")
    return OfficialExport(where, header_line, requirements)


def _guarded(rows: Iterable[Any], path: Path, what: str) -> Iterator[Any]:
    """Turn a reader's failure in the middle of the file into a usage error naming the file."""
    iterator = iter(rows)
    while True:
        try:
            row = next(iterator)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:
            raise DsrImportError(
                f"{path}: not UTF-8 text (byte {exc.start}); save the export as CSV UTF-8 or give the .xlsx"
            ) from None
        except Exception as exc:  # openpyxl and csv raise many types on a damaged file; all mean "bad input"
            raise DsrImportError(f"{path}: {what} ({type(exc).__name__}: {exc})") from None
        yield row


def _read_xlsx(path: Path) -> OfficialExport:
    from openpyxl import load_workbook

    # A file object, not a name: openpyxl refuses names without an Excel extension.
    with path.open("rb") as handle, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # openpyxl warns about styles and extensions it does not read
        try:
            workbook = load_workbook(handle, read_only=True, data_only=True)
        except Exception as exc:  # BadZipFile, KeyError, InvalidFileException, XML errors...
            raise DsrImportError(
                f"{path}: not a readable .xlsx workbook ({type(exc).__name__}: {exc}); "
                "open it in a spreadsheet program and save it again as .xlsx, or export CSV"
            ) from None
        try:
            sheets = sorted(workbook.worksheets, key=lambda s: fold_header(s.title) != REQUIREMENTS_SHEET)
            failures: list[_NoHeader] = []
            for sheet in sheets:
                sheet.reset_dimensions()  # a wrong declared size would cut rows or columns in read-only mode
                rows = _guarded(enumerate(sheet.iter_rows(min_row=1, values_only=True), 1), path, "damaged workbook")
                try:
                    return _parse_table(rows, f"{path} (sheet {sheet.title!r})")
                except _NoHeader as exc:
                    failures.append(exc)
            if not failures:
                raise DsrImportError(f"{path}: the workbook has no worksheet")
            raise DsrImportError(str(max(failures, key=lambda f: f.score)))
        finally:
            workbook.close()


def _read_csv(path: Path) -> OfficialExport:
    failures: list[_NoHeader] = []
    for delimiter in CSV_DELIMITERS:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, delimiter=delimiter)
            numbered = ((reader.line_num, row) for row in reader)
            try:
                return _parse_table(_guarded(numbered, path, "unreadable CSV"), str(path))
            except _NoHeader as exc:
                failures.append(exc)
    raise DsrImportError(str(max(failures, key=lambda f: f.score)))


def read_export(path: Path) -> OfficialExport:
    """Read the official export (.xlsx, or CSV in UTF-8 with ``;`` or ``,``); rows are streamed."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            start = handle.read(4096)
    except FileNotFoundError:
        raise DsrImportError(f"{path}: no such file") from None
    except OSError as exc:
        raise DsrImportError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if size == 0 or not start.strip():
        raise DsrImportError(f"{path}: empty file")
    if start.startswith(_OLE_MAGIC):
        raise DsrImportError(
            f"{path}: a password-protected (encrypted) workbook or a legacy .xls file; "
            "save it without a password as .xlsx, or export CSV"
        )
    if start.startswith(_ZIP_MAGIC):
        return _read_xlsx(path)
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        raise DsrImportError(f"{path}: not a valid .xlsx workbook (it is not a zip archive); is the file damaged?")
    if b"\x00" in start:
        raise DsrImportError(f"{path}: a binary file, not a spreadsheet (give the .xlsx export or a CSV)")
    return _read_csv(path)


# --- the mapping file --------------------------------------------------------------------------


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


# --- mapping the export onto the catalog -------------------------------------------------------


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
            by_ref.setdefault(_fold_ref(ref), []).append(req.id)
            bare = _without_prefix(ref)
            if bare:
                by_bare_ref.setdefault(_fold_ref(bare), []).append(req.id)
    by_mapping: dict[str, list[MappingEntry]] = {}
    for entry in mapping:
        by_mapping.setdefault(_fold_ref(entry.official_ref), []).append(entry)

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
    unused = [entry for entry in mapping if _fold_ref(entry.official_ref) not in export.requirements]
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


# --- output ------------------------------------------------------------------------------------


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
