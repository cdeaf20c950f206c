"""Which couloirs a requirement applies to, from the official couloir requirement lists.

ANS publishes one requirement list (REM) per couloir project; the shared rules (socle commun) appear
in each list that takes them, under ``reference socle`` = ``SC.<id>``. A catalog requirement applies
to a couloir when one of its official rules is in that couloir's list: its ``official_ref`` ids, or,
when no official statement matches ours, the official rules that make a product do what the
requirement judges (its *anchors*, ``suites/couloir-anchors.csv``: "calls INSi", "feeds the DMP"...).

Three committed files hold the data, so that CI checks the catalog without the official workbook:
``suites/couloirs.csv`` (our couloir codes, the official project of each, or none found),
``suites/couloir-lists.csv`` (for each official id used, the couloirs whose list holds it, with the
sheet rows), ``suites/couloir-anchors.csv``. ``read_official_lists`` rebuilds the second from the
workbook (``segur requirements --official-couloirs FILE.xlsx``).

Ids of the vague-1 rules that did not become socle rules are local to their list (``DMP/va1.10`` is
a masking rule in the RIS list and another rule elsewhere), so they are keyed ``<REM>:<id>``.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.core.catalog import Catalog
from harness.core.errors import UsageError
from harness.core.paths import suites_dir

# The sheets of the Squash import workbook that hold the couloir lists, and the columns read from them.
LIST_SHEETS = ("prepub_va2_avec_scenarios", "prepub_avec_scenarios")
REM_COLUMN, STATUS_COLUMN, REFERENCE_COLUMN, SOCLE_COLUMN = "REM", "arbitrage", "reference", "reference socle"
WITHDRAWN = "obsolète"  # an ``arbitrage`` saying the row left the list


class CouloirListError(UsageError):
    """The couloir tables or the official workbook cannot be read as expected."""


@dataclass(frozen=True)
class Couloir:
    code: str  # our code, as in the catalog's ``couloirs`` column
    official_rem: str  # the REM code of its official list, empty when no official list was found
    official_project: str
    note: str

    @property
    def has_official_list(self) -> bool:
        return bool(self.official_rem)


def normalise_official_id(value: object) -> str:
    """``SC.MSS/CONF.05`` and ``MSS/CONF.05`` name the same socle rule; spreadsheet spaces are dropped."""
    text = str(value or "").replace("\xa0", " ").strip()
    return re.sub(r"^SC\.", "", text)


def _read_csv(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(handle))
    except OSError as exc:
        raise CouloirListError(f"{path}: {exc.strerror}") from None


def load_couloirs(path: Path | None = None) -> dict[str, Couloir]:
    rows = _read_csv(path or suites_dir() / "couloirs.csv")
    return {r["code"]: Couloir(r["code"], r["official_rem"], r["official_project"], r["note"]) for r in rows}


def load_lists(path: Path | None = None) -> dict[str, frozenset[str]]:
    """Official id -> the couloir codes whose official list holds it."""
    rows = _read_csv(path or suites_dir() / "couloir-lists.csv")
    return {r["official_id"]: frozenset(c for c in r["couloirs"].split("|") if c) for r in rows}


def load_anchors(path: Path | None = None) -> dict[str, tuple[str, ...]]:
    rows = _read_csv(path or suites_dir() / "couloir-anchors.csv")
    return {r["requirement_id"]: tuple(a for a in r["anchors"].split("|") if a) for r in rows}


def official_ids(official_ref: str, anchors: Iterable[str] = ()) -> tuple[str, ...]:
    ids = [normalise_official_id(ref) for ref in official_ref.split("|") if ref.strip()]
    return tuple(dict.fromkeys([*ids, *anchors]))


def derive_couloirs(
    requirement_id: str,
    official_ref: str,
    current: Iterable[str],
    *,
    couloirs: Mapping[str, Couloir],
    lists: Mapping[str, frozenset[str]],
    anchors: Mapping[str, tuple[str, ...]],
) -> tuple[str, ...] | None:
    """The couloirs the official lists give; None when the requirement has no official rule to go by.

    Couloirs without an official list keep what the catalog says (a provisional choice of ours).
    """
    ids = official_ids(official_ref, anchors.get(requirement_id, ()))
    if not ids:
        return None
    unknown = [i for i in ids if i not in lists]
    if unknown:
        raise CouloirListError(
            f"{requirement_id}: official ids {unknown} are not in suites/couloir-lists.csv; "
            "rebuild it with `segur requirements --official-couloirs FILE.xlsx`"
        )
    official = set().union(*(lists[i] for i in ids))
    kept = {c for c in current if c in couloirs and not couloirs[c].has_official_list}
    return tuple(c for c in couloirs if c in official | kept)


def catalog_problems(
    catalog: Catalog,
    *,
    couloirs: Mapping[str, Couloir] | None = None,
    lists: Mapping[str, frozenset[str]] | None = None,
    anchors: Mapping[str, tuple[str, ...]] | None = None,
) -> list[str]:
    """Every catalog row whose ``couloirs`` column differs from what the official lists give."""
    couloirs = load_couloirs() if couloirs is None else couloirs
    lists = load_lists() if lists is None else lists
    anchors = load_anchors() if anchors is None else anchors
    problems = [f"couloir-anchors.csv names {rid}, which the catalog lacks" for rid in anchors if rid not in catalog]
    for req in catalog:
        expected = derive_couloirs(
            req.id, req.official_ref, req.couloirs, couloirs=couloirs, lists=lists, anchors=anchors
        )
        if expected is None:
            if "provisional" not in req.source:
                problems.append(f"{req.id}: no official rule gives its couloirs, and its source does not say so")
        elif set(expected) != set(req.couloirs):
            problems.append(f"{req.id}: couloirs {'|'.join(req.couloirs)}, official lists give {'|'.join(expected)}")
    return problems


def read_official_lists(path: Path, couloirs: Mapping[str, Couloir] | None = None) -> dict[str, dict[str, list[str]]]:
    """Official id -> couloir code -> the sheet rows (``sheet!row``) that put it in that couloir's list."""
    from openpyxl import load_workbook

    by_rem = {c.official_rem: c.code for c in (couloirs or load_couloirs()).values() if c.has_official_list}
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # BadZipFile, InvalidFileException, KeyError...: all mean "not that workbook"
        raise CouloirListError(f"{path}: not a readable .xlsx workbook ({type(exc).__name__}: {exc})") from None
    found: dict[str, dict[str, list[str]]] = {}
    try:
        missing = [name for name in LIST_SHEETS if name not in workbook.sheetnames]
        if missing:
            raise CouloirListError(f"{path}: no sheet {missing}; this is not the Squash import workbook")
        for name in LIST_SHEETS:
            rows = workbook[name].iter_rows(values_only=True)
            header = [str(h or "").strip() for h in next(rows, ())]
            try:
                rem_at, status_at, ref_at, socle_at = (
                    header.index(c) for c in (REM_COLUMN, STATUS_COLUMN, REFERENCE_COLUMN, SOCLE_COLUMN)
                )
            except ValueError:
                raise CouloirListError(
                    f"{path}: sheet {name} lacks one of the columns {REM_COLUMN!r}, {STATUS_COLUMN!r}, "
                    f"{REFERENCE_COLUMN!r}, {SOCLE_COLUMN!r}"
                ) from None
            for number, row in enumerate(rows, start=2):
                cell = {i: row[i] if i < len(row) else None for i in (rem_at, status_at, ref_at, socle_at)}
                if str(cell[status_at] or "").strip().lower() == WITHDRAWN:
                    continue
                rem = str(cell[rem_at] or "").strip()
                if rem not in by_rem:
                    raise CouloirListError(
                        f"{path}: sheet {name} row {number}: REM {rem!r} is not in suites/couloirs.csv "
                        f"(known: {', '.join(sorted(by_rem))})"
                    )
                keys = []
                if cell[socle_at]:
                    keys.append(normalise_official_id(cell[socle_at]))
                if cell[ref_at]:
                    reference = str(cell[ref_at]).replace("\xa0", " ").strip()
                    local = not reference.startswith("SC.")
                    keys.append(f"{rem}:{reference}" if local else normalise_official_id(reference))
                for key in keys:
                    found.setdefault(key, {}).setdefault(by_rem[rem], []).append(f"{name}!{number}")
    finally:
        workbook.close()
    return found


def _sheet_row_order(where: str) -> tuple[str, int]:
    sheet, row = where.split("!")
    return sheet, int(row)


def render_lists(found: Mapping[str, Mapping[str, list[str]]], ids: Iterable[str], order: Iterable[str]) -> str:
    """The ``couloir-lists.csv`` rows for ``ids`` (an id no list holds gets an empty couloir set)."""
    order = list(order)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["official_id", "couloirs", "rows"])
    for official_id in sorted(set(ids)):
        where = found.get(official_id, {})
        couloir_codes = [c for c in order if c in where]
        rows = sorted({r for c in couloir_codes for r in where[c]}, key=_sheet_row_order)
        writer.writerow([official_id, "|".join(couloir_codes), " ".join(rows)])
    return out.getvalue()


def ids_in_use(catalog: Catalog, anchors: Mapping[str, tuple[str, ...]] | None = None) -> list[str]:
    anchors = load_anchors() if anchors is None else anchors
    return sorted({i for req in catalog for i in official_ids(req.official_ref, anchors.get(req.id, ()))})
