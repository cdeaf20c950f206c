"""`segur requirements --dsr FILE`: the official requirement export mapped onto the catalog.

Official numbers here are synthetic (EXEMPLE.*): the tests never state a real DSR number.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import zipfile
from pathlib import Path

import openpyxl
import pytest

from harness import cli
from harness.core.catalog import Catalog, load_catalog
from harness.core.dsr_import import DsrImportError, default_mapping_path, fold_header, load_mapping, read_export
from harness.core.dsr_import import mapping as dsr_mapping

# The column names of the Squash "convergence-export" template (template-export-convergence.xlsx).
SQUASH_HEADER = [
    "Périmètre",
    "ID",
    "Chapitre",
    "Fonction",
    "Exigence",
    "Commentaire",
    "Profil",
    "N° scénario",
    "Scénario de conformité",
    "N° preuve",
    "Preuve",
    "Profil historique",
    "Criticité",
    "Ordre",
]
# The same columns as the requirement record describes them, in other spellings.
VARIANT_HEADER = [
    "PERIMETRE",
    "Numéro d'exigence",
    "chapitre / section",
    "Fonction",
    "ÉNONCÉ",
    "Commentaire",
    "profil",
    "No scenario",
    "Scenario de conformite",
    "Nº Preuve",
    "preuve",
    "Profil historique",
    "CRITICITE",
    "Ordre",
]


def data_rows() -> list[list[object]]:
    """EXEMPLE.INS.01 spans three rows (two scenarios, three proofs)."""
    return [
        ["Vague 2", "EXEMPLE.INS.01", "INS", "Appel", "Premier énoncé", "", "Général", "EXEMPLE.INS.01.01",
         "Scénario un", "EXEMPLE.INS.01.01.01", "Preuve A", "", "Majeure", 1],
        ["Vague 2", "EXEMPLE.INS.01", "INS", "Appel", "Premier énoncé", "", "Général", "EXEMPLE.INS.01.01",
         "Scénario un", "EXEMPLE.INS.01.01.02", "Preuve B", "", "Majeure", 1],
        ["Vague 2", "EXEMPLE.INS.01", "INS", "Appel", "Premier énoncé", "", "Profil X", "EXEMPLE.INS.01.02",
         "Scénario deux", "EXEMPLE.INS.01.02.01", "Preuve C", "", "Majeure", 1],
        ["Vague 2", "EXEMPLE.INS.02", "INS", "Affichage", "Deuxième énoncé", "", "Général", "", "", "", "", "",
         "Critique", 2],
        ["Vague 2", "EXEMPLE.INS.03", "INS", "Autre", "Troisième énoncé", "", "Général", "", "", "", "", "",
         "MINOR", 3],
        ["Vague 2", "EXEMPLE.INS.04", "INS", "Autre", "Quatrième énoncé", "", "Général", "", "", "", "", "",
         "Mineure", 4],
    ]  # fmt: skip


def write_xlsx(path: Path, rows: list[list[object]], title: str = "Exigences") -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def write_csv(path: Path, rows: list[list[object]], delimiter: str, bom: bool) -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    path.write_text(("\ufeff" if bom else "") + buffer.getvalue(), encoding="utf-8")
    return path


@pytest.fixture
def catalog(monkeypatch) -> Catalog:
    """The real catalog, with synthetic official numbers on INS-01, and EX-99: automated, cited by no test."""
    real = load_catalog()
    requirements = [
        dataclasses.replace(req, official_ref="EXEMPLE.INS.01|EXEMPLE.AUTRE.07") if req.id == "INS-01" else req
        for req in real
    ]
    requirements.append(dataclasses.replace(real.get("INS-02"), id="EX-99", couloirs=("DPI",)))
    synthetic = Catalog(requirements)
    monkeypatch.setattr(dsr_mapping, "default_catalog", lambda: synthetic)
    return synthetic


@pytest.fixture
def mapping(tmp_path) -> Path:
    path = tmp_path / "mapping.csv"
    path.write_text(
        "official_ref,requirement_id,note\n"
        "# attestation only\n"
        "EXEMPLE.INS.02,INS-15,affichage du statut\n"
        "\n"
        "EXEMPLE.INS.03,EX-99,automatisable mais sans test\n"
        "EXEMPLE.ABSENT.01,INS-03,numéro absent de l'export\n",
        encoding="utf-8",
    )
    return path


def requirements(capsys, *argv: str) -> tuple[int, str, str]:
    status = cli.main(["requirements", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def as_json(capsys, *argv: str) -> dict:
    status, out, err = requirements(capsys, *argv, "--format", "json")
    assert status == 0, err
    return json.loads(out)


def by_ref(document: dict) -> dict[str, dict]:
    return {item["official_ref"]: item for item in document["official"]}


def test_header_names_fold_to_one_form():
    assert {fold_header(name) for name in ("N° exigence", "Numéro d'exigence", "no EXIGENCE", "Nº exigence")} == {
        "n exigence"
    }
    assert fold_header("Énoncé") == fold_header("ENONCE") == "enonce"
    assert fold_header("Chapitre/Section") == "chapitre section"


@pytest.mark.parametrize("header", [SQUASH_HEADER, VARIANT_HEADER], ids=["squash-template", "spelling-variants"])
def test_xlsx_export_with_the_header_below_title_rows(tmp_path, capsys, catalog, mapping, header):
    export = write_xlsx(tmp_path / "dsr.xlsx", [["Export DSR (titre)"], [], header, *data_rows()])
    document = as_json(capsys, "--dsr", str(export), "--mapping", str(mapping))
    official = by_ref(document)
    assert list(official) == ["EXEMPLE.INS.01", "EXEMPLE.INS.02", "EXEMPLE.INS.03", "EXEMPLE.INS.04"]
    first = official["EXEMPLE.INS.01"]
    assert first["line"] == 4 and first["statement"] == "Premier énoncé" and first["criticite"] == "MAJOR"
    assert first["profiles"] == ["Général", "Profil X"]
    assert [(s["ref"], [p["ref"] for p in s["proofs"]]) for s in first["scenarios"]] == [
        ("EXEMPLE.INS.01.01", ["EXEMPLE.INS.01.01.01", "EXEMPLE.INS.01.01.02"]),
        ("EXEMPLE.INS.01.02", ["EXEMPLE.INS.01.02.01"]),
    ]
    # (a) the catalog's official_ref, INS-01 being cited by suite tests
    assert first["status"] == "automated" and [c["id"] for c in first["catalog"]] == ["INS-01"]
    assert first["catalog"][0]["via"] == "official_ref"
    # (b) the mapping file: INS-15 is an attestation requirement
    assert official["EXEMPLE.INS.02"]["status"] == "attested"
    assert official["EXEMPLE.INS.02"]["catalog"][0]["via"] == "mapping line 3"
    # an automated requirement that no test cites covers nothing
    assert official["EXEMPLE.INS.03"]["status"] == "not covered"
    assert official["EXEMPLE.INS.04"]["status"] == "not covered" and official["EXEMPLE.INS.04"]["catalog"] == []
    assert [official[r]["criticite"] for r in ("EXEMPLE.INS.02", "EXEMPLE.INS.03")] == ["CRITICAL", "MINOR"]
    assert document["counts"] == {"automated": 1, "attested": 1, "not covered": 2}
    not_in_export = {row["id"] for row in document["catalog_not_in_export"]}
    assert {"INS-01", "INS-15", "EX-99"}.isdisjoint(not_in_export) and "INS-02" in not_in_export
    assert [m["official_ref"] for m in document["mapping_refs_not_in_export"]] == ["EXEMPLE.ABSENT.01"]


def test_text_table_has_the_counts(tmp_path, capsys, catalog, mapping):
    export = write_xlsx(tmp_path / "dsr.xlsx", [SQUASH_HEADER, *data_rows()])
    status, out, _ = requirements(capsys, "--dsr", str(export), "--mapping", str(mapping))
    assert status == 0
    assert "4 official requirements" in out and "1 automated, 1 attested, 2 not covered" in out
    assert "EXEMPLE.INS.02" in out and "INS-15" in out
    assert f"{mapping}:6 EXEMPLE.ABSENT.01 -> INS-03" in out


def test_csv_output_has_one_row_per_official_requirement_then_the_unmapped_catalog(tmp_path, capsys, catalog, mapping):
    export = write_xlsx(tmp_path / "dsr.xlsx", [SQUASH_HEADER, *data_rows()])
    status, out, _ = requirements(capsys, "--dsr", str(export), "--mapping", str(mapping), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert status == 0
    assert [(r["official_ref"], r["status"]) for r in rows[:4]] == [
        ("EXEMPLE.INS.01", "automated"),
        ("EXEMPLE.INS.02", "attested"),
        ("EXEMPLE.INS.03", "not covered"),
        ("EXEMPLE.INS.04", "not covered"),
    ]
    assert rows[0]["proofs"] == "EXEMPLE.INS.01.01.01 EXEMPLE.INS.01.01.02 EXEMPLE.INS.01.02.01"
    assert {r["status"] for r in rows[4:]} == {"not in export"}
    assert "INS-02" in {r["catalog_ids"] for r in rows[4:]}


def test_couloir_counts_only_the_requirements_that_apply_to_it(tmp_path, capsys, catalog):
    mapping = tmp_path / "mapping.csv"
    # INS-15 does not apply to PFI, INS-01 does
    mapping.write_text("official_ref,requirement_id,note\nEXEMPLE.INS.02,INS-15,\n", encoding="utf-8")
    export = write_xlsx(tmp_path / "dsr.xlsx", [SQUASH_HEADER, *data_rows()])
    assert "PFI" not in catalog.get("INS-15").couloirs and "PFI" not in catalog.get("EX-99").couloirs
    document = as_json(capsys, "--dsr", str(export), "--mapping", str(mapping), "--couloir", "PFI")
    official = by_ref(document)
    assert document["couloir"] == "PFI"
    assert official["EXEMPLE.INS.02"]["status"] == "not covered"
    assert official["EXEMPLE.INS.02"]["catalog"] == [
        {"id": "INS-15", "via": "mapping line 2", "coverage": "attestation", "applies": False}
    ]
    not_in_export = {row["id"] for row in document["catalog_not_in_export"]}
    assert not_in_export == {req.id for req in catalog if "PFI" in req.couloirs} - {"INS-01"}
    status, out, _ = requirements(capsys, "--dsr", str(export), "--mapping", str(mapping), "--couloir", "PFI")
    assert status == 0 and "INS-15 (omit)" in out and "of couloir PFI" in out


def test_an_export_number_without_its_project_prefix_matches_the_catalog(tmp_path, capsys, monkeypatch):
    real = load_catalog()
    synthetic = Catalog([dataclasses.replace(real.get("INS-01"), official_ref="SC.EXEMPLE.01")])
    monkeypatch.setattr(dsr_mapping, "default_catalog", lambda: synthetic)
    export = write_xlsx(tmp_path / "dsr.xlsx", [["ID", "Exigence"], ["EXEMPLE.01", "énoncé"]])
    mapping = tmp_path / "empty.csv"
    mapping.write_text("official_ref,requirement_id,note\n", encoding="utf-8")
    (item,) = as_json(capsys, "--dsr", str(export), "--mapping", str(mapping))["official"]
    assert item["status"] == "automated" and item["catalog"][0]["via"] == "official_ref without prefix"


@pytest.mark.parametrize(("delimiter", "bom"), [(";", True), (";", False), (",", True), (",", False)])
def test_csv_export_with_either_separator_and_an_optional_bom(tmp_path, capsys, catalog, mapping, delimiter, bom):
    rows = [["Export; DSR, titre"], VARIANT_HEADER, *data_rows()]
    rows[2][4] = "Premier énoncé\nsur deux lignes; avec, séparateurs"
    export = write_csv(tmp_path / "dsr.csv", rows, delimiter, bom)
    document = as_json(capsys, "--dsr", str(export), "--mapping", str(mapping))
    official = by_ref(document)
    assert official["EXEMPLE.INS.01"]["statement"] == "Premier énoncé\nsur deux lignes; avec, séparateurs"
    assert len(official["EXEMPLE.INS.01"]["scenarios"]) == 2
    assert document["counts"] == {"automated": 1, "attested": 1, "not covered": 2}


def test_merged_cells_continue_the_previous_requirement(tmp_path):
    rows = [
        ["N° exigence", "Énoncé", "N° scénario", "N° preuve"],
        ["EXEMPLE.DMP.01", "énoncé", "EXEMPLE.DMP.01.01", "EXEMPLE.DMP.01.01.01"],
        [None, None, None, "EXEMPLE.DMP.01.01.02"],
        [None, None, "EXEMPLE.DMP.01.02", "EXEMPLE.DMP.01.02.01"],
    ]
    export = read_export(write_xlsx(tmp_path / "dsr.xlsx", rows))
    (requirement,) = export.requirements.values()
    assert [(s.ref, [p for p, _ in s.proofs]) for s in requirement.scenarios] == [
        ("EXEMPLE.DMP.01.01", ["EXEMPLE.DMP.01.01.01", "EXEMPLE.DMP.01.01.02"]),
        ("EXEMPLE.DMP.01.02", ["EXEMPLE.DMP.01.02.01"]),
    ]


def test_the_workbook_is_opened_read_only_and_the_requirements_sheet_preferred(tmp_path, monkeypatch):
    workbook = openpyxl.Workbook()
    workbook.active.title = "Lisez-moi"
    workbook.active.append(["Ce classeur contient l'export"])
    sheet = workbook.create_sheet("Exigences")
    sheet.append(["ID", "Exigence"])
    sheet.append(["EXEMPLE.PSC.01", "énoncé"])
    workbook.save(tmp_path / "dsr.xlsx")
    calls = []
    real_load = openpyxl.load_workbook

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(openpyxl, "load_workbook", spy)
    export = read_export(tmp_path / "dsr.xlsx")
    assert list(export.requirements) == ["exemple.psc.01"] and "Exigences" in export.source
    assert calls == [{"read_only": True, "data_only": True}]


def test_a_wrongly_declared_sheet_size_does_not_cut_rows_or_columns(tmp_path):
    source = write_xlsx(tmp_path / "source.xlsx", [["Titre"], SQUASH_HEADER, *data_rows()])
    damaged = tmp_path / "dsr.xlsx"
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(damaged, "w") as copy:
        for item in original.infolist():
            data = original.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:A1"', data)
            copy.writestr(item, data)
    export = read_export(damaged)
    assert len(export.requirements) == 4
    assert export.requirements["exemple.ins.04"].criticite == "MINOR"  # column 13


def test_the_default_mapping_file_ships_without_mappings():
    text = default_mapping_path().read_text(encoding="utf-8")
    assert text.startswith("official_ref,requirement_id,note\n")
    assert load_mapping(default_mapping_path(), load_catalog()) == []


def test_an_unknown_id_in_the_mapping_names_the_line_and_suggests(tmp_path, capsys, catalog):
    export = write_xlsx(tmp_path / "dsr.xlsx", [SQUASH_HEADER, *data_rows()])
    mapping = tmp_path / "mapping.csv"
    mapping.write_text("official_ref,requirement_id,note\n# comment\nEXEMPLE.INS.01,INS-1,\n", encoding="utf-8")
    status, out, err = requirements(capsys, "--dsr", str(export), "--mapping", str(mapping))
    assert status == 2 and out == ""
    assert f"{mapping}:3: unknown requirement id 'INS-1'" in err and "did you mean INS-" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("official,requirement\nEXEMPLE.INS.01,INS-01\n", "the header must name the columns"),
        ("official_ref,requirement_id,note\nEXEMPLE.INS.01,,\n", ":2: official_ref and requirement_id"),
    ],
)
def test_a_malformed_mapping_is_a_usage_error(tmp_path, capsys, catalog, content, message):
    export = write_xlsx(tmp_path / "dsr.xlsx", [SQUASH_HEADER, *data_rows()])
    mapping = tmp_path / "mapping.csv"
    mapping.write_text(content, encoding="utf-8")
    status, _, err = requirements(capsys, "--dsr", str(export), "--mapping", str(mapping))
    assert status == 2 and message in err


def test_mapping_options_need_their_files(tmp_path, capsys, catalog):
    export = write_xlsx(tmp_path / "dsr.xlsx", [SQUASH_HEADER, *data_rows()])
    status, _, err = requirements(capsys, "--dsr", str(export), "--mapping", str(tmp_path / "none.csv"))
    assert status == 2 and "none.csv: no such file" in err
    status, _, err = requirements(capsys, "--mapping", str(tmp_path / "none.csv"))
    assert status == 2 and "--mapping goes with --dsr" in err
    status, _, err = requirements(capsys, "--dsr", str(export), "--couloir", "HOPITAL")
    assert status == 2 and "unknown couloir 'HOPITAL'" in err


def _corrupt_zip(path: Path) -> None:
    write_xlsx(path, [SQUASH_HEADER, *data_rows()])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _zip_without_workbook(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "pas un classeur")


BAD_INPUTS = {
    "empty": (lambda p: p.write_bytes(b""), "dsr.csv", "empty file"),
    "blank": (lambda p: p.write_text("\n \n", encoding="utf-8"), "dsr.csv", "empty file"),
    "binary": (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00"), "dsr.bin", "binary file, not a spreadsheet"),
    "not-utf8": (lambda p: p.write_bytes("N° exigence;Énoncé\n".encode("cp1252")), "dsr.csv", "not UTF-8"),
    "no-header": (lambda p: p.write_text("a;b;c\n1;2;3\n", encoding="utf-8"), "dsr.csv", "no header row"),
    "no-statement": (
        lambda p: p.write_text("N° exigence;Chapitre;Criticité\nEXEMPLE.1;c;MAJOR\n", encoding="utf-8"),
        "dsr.csv",
        'has no column "Énoncé"',
    ),
    "no-number": (
        lambda p: write_xlsx(p, [["Chapitre", "Énoncé", "Criticité"], ["c", "e", "MAJOR"]]),
        "dsr.xlsx",
        'has no column "N° exigence"',
    ),
    "header-only": (lambda p: write_xlsx(p, [SQUASH_HEADER]), "dsr.xlsx", "no requirement under the header"),
    "empty-sheet": (lambda p: write_xlsx(p, []), "dsr.xlsx", "empty"),
    "encrypted": (
        lambda p: p.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)),
        "dsr.xlsx",
        "password-protected",
    ),
    "truncated-zip": (_corrupt_zip, "dsr.xlsx", "not a readable .xlsx workbook"),
    "zip-not-workbook": (_zip_without_workbook, "dsr.xlsx", "not a readable .xlsx workbook"),
    "xlsx-not-zip": (lambda p: p.write_text("N° exigence;Énoncé\n", encoding="utf-8"), "dsr.xlsx", "not a zip"),
    "missing": (lambda p: None, "absent.xlsx", "no such file"),
    "directory": (lambda p: p.mkdir(), "folder.csv", "cannot read it"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_exports_are_usage_errors_with_a_message(tmp_path, capsys, catalog, case):
    make, name, message = BAD_INPUTS[case]
    path = tmp_path / name
    make(path)
    status, out, err = requirements(capsys, "--dsr", str(path))
    assert status == 2, err
    assert out == "" and message in err and str(path) in err
    assert "internal error" not in err and "Traceback" not in err


def test_read_export_raises_the_usage_error_type(tmp_path):
    with pytest.raises(DsrImportError, match="empty file"):
        read_export(write_csv(tmp_path / "dsr.csv", [], ";", False))
