"""What the DSR import reads and produces: the official requirements, the mapping lines and the report.

An :class:`OfficialExport` holds the export's requirements (with their scenarios and proofs);
an :class:`ImportReport` holds, for each of them, its status (``STATUSES``) and the catalog
requirements it links to, plus what the catalog and the mapping file have that the export lacks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.core.errors import UsageError

STATUSES = ("automated", "attested", "not covered")


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
