"""The requirement catalog: one CSV row per requirement, modelled on the ANS requirement export.

``official_ref`` is filled only when the official DSR number is known for sure; the harness's
own ids (``INS-01``...) never pretend to be official numbers.
"""

from __future__ import annotations

import csv
import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from harness.core.errors import UsageError
from harness.core.paths import suites_dir

COLUMNS = (
    "id",
    "official_ref",
    "domain",
    "nature",
    "criticite",
    "statement",
    "statement_en",
    "couloirs",
    "evidence",
    "evidence_en",
    "automation",
    "source",
)
OPTIONAL_COLUMNS = {"statement_en", "evidence_en"}
NATURES = {"EXIGENCE", "PRÉCONISATION"}
CRITICITES = {"MINOR", "MAJOR", "CRITICAL"}
AUTOMATIONS = {"automated", "attestation"}
# suites/couloirs.csv says which couloirs have an official requirement list, and which list.
COULOIRS = {"DPI", "LGC", "SGL", "RIS", "PFI", "DRIM-M", "DUI", "OFFICINE"}


def normalise_couloir(couloir: str | None) -> str | None:
    """The catalog's spelling of a couloir given in any case ("dpi", "Officine"); unknown is a usage error."""
    if not couloir:
        return None
    if couloir.strip().upper() not in COULOIRS:
        raise UsageError(f"unknown couloir {couloir!r}; known: {', '.join(sorted(COULOIRS))} (any case)")
    return couloir.strip().upper()


class CatalogError(UsageError):
    """The catalog file, or a reference to it, is wrong."""


@dataclass(frozen=True)
class Requirement:
    id: str
    official_ref: str
    domain: str
    nature: str
    criticite: str
    statement: str
    couloirs: tuple[str, ...]
    evidence: str
    automation: str
    source: str
    statement_en: str = ""  # the statement in English, for reports in English
    evidence_en: str = ""  # the evidence a reviewer looks at, in English

    def applies_to(self, couloir: str | None) -> bool:
        return couloir is None or couloir in self.couloirs


class Catalog:
    def __init__(self, requirements: list[Requirement], path: Path | None = None):
        self.path = path
        self._by_id: dict[str, Requirement] = {}
        for req in requirements:
            if req.id in self._by_id:
                raise CatalogError(f"{path}: requirement id {req.id!r} appears twice")
            self._by_id[req.id] = req

    def __iter__(self) -> Iterator[Requirement]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, req_id: object) -> bool:
        return req_id in self._by_id

    def get(self, req_id: str) -> Requirement:
        try:
            return self._by_id[req_id]
        except KeyError:
            raise CatalogError(unknown_id_message(req_id, self._by_id)) from None

    def in_domains(self, domains: set[str]) -> list[Requirement]:
        return [r for r in self._by_id.values() if r.domain in domains]


def unknown_id_message(req_id: str, known: object) -> str:
    close = difflib.get_close_matches(req_id, list(known), n=3)  # type: ignore[call-overload]
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return f"unknown requirement id {req_id!r}{hint} (ids are listed by `segur requirements`)"


def _parse_row(row: dict[str, str], line: int, path: Path) -> Requirement:
    where = f"{path}:{line}"
    missing = [c for c in COLUMNS if c not in row and c not in OPTIONAL_COLUMNS]
    if missing:
        raise CatalogError(f"{where}: missing columns {missing}")
    nature, criticite, automation = row["nature"].strip(), row["criticite"].strip(), row["automation"].strip()
    if nature not in NATURES:
        raise CatalogError(f"{where}: nature {nature!r} is not one of {sorted(NATURES)}")
    if criticite not in CRITICITES:
        raise CatalogError(f"{where}: criticite {criticite!r} is not one of {sorted(CRITICITES)}")
    if automation not in AUTOMATIONS:
        raise CatalogError(f"{where}: automation {automation!r} is not one of {sorted(AUTOMATIONS)}")
    couloirs = tuple(c.strip() for c in row["couloirs"].split("|") if c.strip())
    unknown = set(couloirs) - COULOIRS
    if unknown:
        raise CatalogError(f"{where}: unknown couloirs {sorted(unknown)}; known: {sorted(COULOIRS)}")
    if not row["id"].strip() or not row["statement"].strip():
        raise CatalogError(f"{where}: id and statement are mandatory")
    return Requirement(
        id=row["id"].strip(),
        official_ref=row["official_ref"].strip(),
        domain=row["domain"].strip(),
        nature=nature,
        criticite=criticite,
        statement=row["statement"].strip(),
        couloirs=couloirs,
        evidence=row["evidence"].strip(),
        automation=automation,
        source=row["source"].strip(),
        statement_en=(row.get("statement_en") or "").strip(),
        evidence_en=(row.get("evidence_en") or "").strip(),
    )


def load_catalog(path: Path | None = None) -> Catalog:
    """Read and check the catalog (default: ``suites/requirements.csv``)."""
    path = path or default_catalog_path()
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        reqs = [_parse_row(row, index + 2, path) for index, row in enumerate(reader)]
    return Catalog(reqs, path)


def default_catalog_path() -> Path:
    return suites_dir() / "requirements.csv"


@lru_cache(maxsize=1)
def default_catalog() -> Catalog:
    return load_catalog()
