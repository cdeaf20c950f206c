"""The requirement catalog, the coverage matrix and the requirement marker checks."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest

from harness import cli
from harness.core.catalog import CatalogError, default_catalog_path, load_catalog
from harness.core.coverage import COVERAGE_FILE, coverage_rows, render
from harness.core.paths import suites_dir

HEADER = "id,official_ref,domain,nature,criticite,statement,couloirs,evidence,automation,source\n"


def write(tmp_path: Path, rows: str) -> Path:
    path = tmp_path / "catalog.csv"
    path.write_text(HEADER + rows, encoding="utf-8")
    return path


def test_builtin_catalog_loads_and_has_no_invented_official_refs():
    catalog = load_catalog()
    assert len(catalog) >= 16
    # An official id is filled only with the row it was read in (ANS's segur-squash-plugins sheets).
    mapped = [req for req in catalog if req.official_ref]
    assert mapped, "the catalog maps some requirements onto official ids"
    for req in mapped:
        assert all(ref.startswith("SC.") for ref in req.official_ref.split("|")), req.id
        assert "segur-squash-plugins@e1f08d1" in req.source and " row" in req.source, req.id
    assert all(req.source for req in catalog), "every requirement names its source"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("X-1,,INS,SHOULD,MAJOR,s,DPI,e,automated,src\n", "nature"),
        ("X-1,,INS,EXIGENCE,HUGE,s,DPI,e,automated,src\n", "criticite"),
        ("X-1,,INS,EXIGENCE,MAJOR,s,DPI,e,sometimes,src\n", "automation"),
        ("X-1,,INS,EXIGENCE,MAJOR,s,HOSPITAL,e,automated,src\n", "couloirs"),
        (
            "X-1,,INS,EXIGENCE,MAJOR,s,DPI,e,automated,src\nX-1,,INS,EXIGENCE,MAJOR,s,DPI,e,automated,src\n",
            "twice",
        ),
        (",,INS,EXIGENCE,MAJOR,s,DPI,e,automated,src\n", "mandatory"),
    ],
)
def test_bad_catalog_rows_are_refused_with_the_reason(tmp_path, row, message):
    with pytest.raises(CatalogError, match=message):
        load_catalog(write(tmp_path, row))


def test_unknown_id_suggests_close_ids():
    with pytest.raises(CatalogError, match=r"did you mean INS-"):
        load_catalog().get("INS-1")


def test_committed_coverage_matrix_is_up_to_date():
    committed = (suites_dir() / COVERAGE_FILE).read_text(encoding="utf-8")
    assert committed == render(coverage_rows(), "csv"), (
        "suites/coverage.csv is stale: run `segur requirements --format csv > suites/coverage.csv`"
    )


def test_every_automated_requirement_is_cited_by_a_test():
    uncovered = [row["id"] for row in coverage_rows() if row["coverage"] == "not covered"]
    assert uncovered == []


def test_coverage_reads_requirement_marks_statically(tmp_path):
    suite = tmp_path / "demo"
    suite.mkdir()
    (suite / "test_demo.py").write_text(
        "import pytest\n@pytest.mark.requirement('INS-01', 'INS-02')\ndef test_a(): pass\n", encoding="utf-8"
    )
    rows = {row["id"]: row for row in coverage_rows(root=tmp_path)}
    assert rows["INS-01"]["tests"] == ["demo/test_demo.py::test_a"]
    assert rows["INS-15"]["coverage"] == "attestation"
    assert rows["INS-03"]["coverage"] == "not covered"


def test_default_catalog_path_is_in_the_suites():
    assert default_catalog_path().parent == suites_dir()


def test_every_requirement_describes_its_evidence_in_both_languages():
    catalog = load_catalog()
    missing = [req.id for req in catalog if not req.evidence or not req.evidence_en]
    assert missing == []
    assert all(req.evidence != req.evidence_en for req in catalog), "evidence_en is the English text, not a copy"


def test_english_columns_are_optional_for_a_catalog_of_ones_own(tmp_path):
    row = "X-01,,INS,EXIGENCE,MAJOR,Énoncé,DPI,preuve,automated,source\n"
    (req,) = load_catalog(write(tmp_path, row))
    assert (req.statement_en, req.evidence_en) == ("", "")


def test_the_official_ids_of_the_catalog_resolve_in_an_export_in_the_rem_spelling(tmp_path, capsys):
    # Ids as the REM rows of ANS's sheets spell them (segur-squash-plugins@e1f08d1, prepub_va2_avec_scenarios
    # rows 1164 and 1080: "MSS/CONF.24", "DMP/UX.11", without the SC. prefix the catalog keeps).
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Exigences"
    sheet.append(["ID", "Exigence"])
    sheet.append(["MSS/CONF.24", "patientId de METADATA.XML"])
    sheet.append(["DMP/UX.11", "statut de l'identité"])
    sheet.append(["MSS/CONF.99", "absent du catalogue"])
    export = tmp_path / "dsr.xlsx"
    workbook.save(export)
    empty = tmp_path / "empty.csv"
    empty.write_text("official_ref,requirement_id,note\n", encoding="utf-8")
    assert cli.main(["requirements", "--dsr", str(export), "--mapping", str(empty), "--format", "json"]) == 0
    official = {item["official_ref"]: item for item in json.loads(capsys.readouterr().out)["official"]}
    assert [link["id"] for link in official["MSS/CONF.24"]["catalog"]] == ["MSS-07"]
    assert official["MSS/CONF.24"]["status"] == "automated"
    assert [link["id"] for link in official["DMP/UX.11"]["catalog"]] == ["INS-15"]
    assert official["DMP/UX.11"]["status"] == "attested"
    assert official["MSS/CONF.99"]["status"] == "not covered"
