"""Reading the requirement table of the export: the header row found by column names, rows merged per requirement.

Plugin versions name the columns differently ("ID" or "N° exigence", "Exigence" or "Énoncé"), so
the header row is searched for among the first rows and columns are matched by a folded form of
their name (:func:`fold_header`). The requirement's columns repeat on each (scenario, proof) row,
and a row without a number continues the previous requirement (merged cells).
"""

from __future__ import annotations

import datetime
import itertools
import re
import unicodedata
from collections.abc import Iterator, Sequence

from harness.core.dsr_import.model import DsrImportError, OfficialExport, OfficialRequirement, Scenario

HEADER_SEARCH_ROWS = 30

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


def fold_header(text: str) -> str:
    """``"N° d'exigence"``, ``"Numéro exigence"`` and ``"no EXIGENCE"`` all fold to ``"n exigence"``."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    words = re.findall(r"[a-z0-9]+", plain)
    return " ".join("n" if w in _NUMBER_WORDS else w for w in words if w not in _STOP_WORDS)


def fold_ref(ref: str) -> str:
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


class NoHeader(Exception):
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
        raise NoHeader(
            f"{where}: no header row in the first {HEADER_SEARCH_ROWS} rows "
            f"(expected columns such as {' and '.join(REQUIRED_COLUMNS.values())}); is this the DSR export?",
            0,
        )
    line, _, columns = best
    missing = [label for name, label in REQUIRED_COLUMNS.items() if name not in columns]
    raise NoHeader(f"{where}: the header row (line {line}) has no column {' nor '.join(missing)}", len(columns))


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
        requirement = requirements.get(fold_ref(ref))
        if requirement is None:
            requirement = requirements[fold_ref(ref)] = OfficialRequirement(ref=ref, line=line)
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


def parse_table(rows: Iterator[tuple[int, Sequence[object]]], where: str) -> OfficialExport:
    head = list(itertools.islice(rows, HEADER_SEARCH_ROWS))
    if not any(_cell_text(c) for _, cells in head for c in cells):
        raise NoHeader(f"{where}: empty (no data in the first {HEADER_SEARCH_ROWS} rows)", 0)
    position, columns = _locate_header(head, where)
    header_line = head[position][0]
    requirements: dict[str, OfficialRequirement] = {}
    current: OfficialRequirement | None = None
    for line, cells in itertools.chain(head[position + 1 :], rows):
        current = _accumulate(requirements, columns, line, cells, current)
    if not requirements:
        raise DsrImportError(f"{where}: no requirement under the header row (line {header_line})")
    return OfficialExport(where, header_line, requirements)
