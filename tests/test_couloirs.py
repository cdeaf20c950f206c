"""Couloirs from the official couloir lists: the catalog follows them, the workbook reader, the flows."""

from __future__ import annotations

import csv
import dataclasses
import io
import os
from pathlib import Path

import pytest
from openpyxl import Workbook

from harness.cli import main
from harness.core.catalog import COULOIRS, Catalog, load_catalog
from harness.core.couloir_lists import (
    CouloirListError,
    catalog_problems,
    derive_couloirs,
    load_anchors,
    load_couloirs,
    load_lists,
    read_official_lists,
    render_lists,
)
from harness.run.couloir_flows import flow_for
from harness.run.sut.reference import document_type

REFERENCE = Path(os.environ.get("SEGUR_REFERENCE_DIR", Path(__file__).resolve().parents[2] / "shared" / "reference"))
VA2_HEADER = ["id exigence", "arbitrage", "REM", "ID Section", "reference", "reference socle", "description"]
VA1_HEADER = ["id exigence", "arbitrage", "REM", "ID Section", "reference", "reference vague1", "description"]


def _workbook(path: Path, va2: list[list[str | None]], va1: list[list[str | None]]) -> Path:
    book = Workbook()
    first = book.active
    assert first is not None
    first.title = "prepub_va2_avec_scenarios"
    for row in [VA2_HEADER, *va2]:
        first.append(row)
    second = book.create_sheet("prepub_avec_scenarios")
    # In the official sheet, 'reference socle' is the last column: read by name, not by place.
    second.append([*VA1_HEADER, "reference socle"])
    for row in va1:
        second.append(row)
    book.save(path)
    return path


def test_every_catalog_row_has_the_couloirs_the_official_lists_give() -> None:
    assert catalog_problems(load_catalog()) == []


def test_a_row_tagged_for_a_couloir_whose_list_lacks_its_rule_is_reported() -> None:
    catalog = load_catalog()
    tampered = [dataclasses.replace(r, couloirs=(*r.couloirs, "DPI")) if r.id == "INS-01" else r for r in catalog]
    assert "INS-01" in " ".join(catalog_problems(Catalog(tampered)))
    assert "DPI" not in load_catalog().get("INS-01").couloirs  # the hospital DPI list has no INSi call rule


def test_a_row_without_official_rule_must_say_its_couloirs_are_provisional() -> None:
    catalog = load_catalog()
    fhir = catalog.get("FHIR-01")
    assert "provisional" in fhir.source
    bare = [dataclasses.replace(r, source="facts §6") if r.id == "FHIR-01" else r for r in catalog]
    assert any(p.startswith("FHIR-01:") for p in catalog_problems(Catalog(bare)))


def test_couloir_table_names_every_catalog_couloir_and_which_have_no_official_list() -> None:
    couloirs = load_couloirs()
    assert set(couloirs) == COULOIRS
    assert {c for c, v in couloirs.items() if not v.has_official_list} == {"DUI", "OFFICINE"}
    assert couloirs["SGL"].official_rem == "BIO" and couloirs["DRIM-M"].official_rem == "DB"


def test_couloirs_without_official_list_keep_their_provisional_tag() -> None:
    couloirs, lists = load_couloirs(), {"INS/va1.34": frozenset({"LGC"})}
    derived = derive_couloirs(
        "INS-08", "", ("DPI", "LGC", "DUI"), couloirs=couloirs, lists=lists, anchors={"INS-08": ("INS/va1.34",)}
    )
    assert derived == ("LGC", "DUI")


def test_an_anchor_missing_from_the_lists_is_an_error_that_says_how_to_rebuild() -> None:
    with pytest.raises(CouloirListError, match="--official-couloirs"):
        derive_couloirs("INS-08", "", (), couloirs=load_couloirs(), lists={}, anchors={"INS-08": ("INS/va1.34",)})


def test_every_official_id_in_use_is_in_the_committed_lists() -> None:
    lists, anchors = load_lists(), load_anchors()
    assert set(anchors) <= {r.id for r in load_catalog()}
    for ids in anchors.values():
        assert set(ids) <= set(lists)


def test_lists_are_read_from_the_official_sheets_by_column_name(tmp_path: Path) -> None:
    path = _workbook(
        tmp_path / "import.xlsx",
        va2=[
            ["1", "Approuvée", "BIO", "MSS", "MSS/CONF.05", "SC.MSS/CONF.05", "SMTP STARTTLS"],
            ["2", "Approuvée", "LGC", "MSS", "MSS/CONF.05", "SC.MSS/CONF.05", "SMTP STARTTLS"],
            ["3", "Obsolète", "DPI", "MSS", "MSS/CONF.05", "SC.MSS/CONF.05", "withdrawn from the DPI list"],
            ["4", "A retravailler", "DB", "PSC", "PSC.01", "SC.PSC.01", "PSC"],
        ],
        va1=[["5", "Approuvée", "RIS", "DMP", "DMP/va1.14", "DMP.14", "masking", None]],
    )
    found = read_official_lists(path)
    assert set(found["MSS/CONF.05"]) == {"SGL", "LGC"}
    assert found["MSS/CONF.05"]["SGL"] == ["prepub_va2_avec_scenarios!2"]
    assert set(found["PSC.01"]) == {"DRIM-M"}
    assert set(found["RIS:DMP/va1.14"]) == {"RIS"}  # a vague-1 id is local to its list
    text = render_lists(found, ["MSS/CONF.05", "SC-UNKNOWN"], load_couloirs())
    rows = {r["official_id"]: r for r in csv.DictReader(io.StringIO(text))}
    assert rows["MSS/CONF.05"]["couloirs"] == "LGC|SGL"
    assert rows["SC-UNKNOWN"]["couloirs"] == ""


@pytest.mark.parametrize(
    ("va2", "message"),
    [
        ([["1", "Approuvée", "XYZ", "MSS", "MSS/CONF.05", "SC.MSS/CONF.05", "?"]], "REM 'XYZ'"),
        (None, "lacks one of the columns"),
    ],
)
def test_bad_workbooks_are_refused_with_the_reason(tmp_path: Path, va2, message: str) -> None:
    path = tmp_path / "import.xlsx"
    if va2 is None:
        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.title = "prepub_va2_avec_scenarios"
        sheet.append(["REM", "reference"])
        book.create_sheet("prepub_avec_scenarios").append(["REM", "reference"])
        book.save(path)
    else:
        _workbook(path, va2=va2, va1=[])
    with pytest.raises(CouloirListError, match=message):
        read_official_lists(path)


def test_a_file_that_is_not_the_workbook_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.xlsx"
    Workbook().save(other)
    with pytest.raises(CouloirListError, match="not the Squash import workbook"):
        read_official_lists(other)
    junk = tmp_path / "junk.xlsx"
    junk.write_bytes(b"not a zip")
    with pytest.raises(CouloirListError, match="not a readable"):
        read_official_lists(junk)


def test_official_couloirs_command_prints_the_lists_csv(tmp_path: Path, capsys) -> None:
    path = _workbook(
        tmp_path / "import.xlsx",
        va2=[["1", "Approuvée", "LGC", "PSC", "PSC.01", "SC.PSC.01", "PSC"]],
        va1=[],
    )
    assert main(["requirements", "--official-couloirs", str(path)]) == 0
    rows = {r["official_id"]: r for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert set(rows) == set(load_lists())  # every official id the catalog uses, found or not
    assert rows["PSC.01"]["couloirs"] == "LGC"


def _ids_for(couloir: str, capsys) -> set[str]:
    assert main(["requirements", "--format", "json", "--couloir", couloir]) == 0
    import json

    return {r["id"] for r in json.loads(capsys.readouterr().out)["requirements"]}


def test_couloir_matrices_differ_as_the_official_lists_do(capsys) -> None:
    dpi, lgc, sgl, drim, pfi = (_ids_for(c, capsys) for c in ("DPI", "LGC", "SGL", "drim-m", "PFI"))
    assert "INS-01" in lgc and "INS-01" in sgl and "INS-01" not in dpi and "INS-01" not in drim
    assert "INS-08" in lgc  # the LGC searches INSi by carte Vitale
    assert "MSS-01" in pfi and "MSS-01" not in dpi  # a hospital's PFI, not its DPI, relays by MSSanté
    assert "DMP-09" not in pfi and "DMP-09" in lgc  # the PFI feeds the DMP, it does not consult it
    assert "DMP-01" in drim and "PSC-01" in drim
    assert len({frozenset(s) for s in (dpi, lgc, sgl, drim, pfi)}) == 5


def test_a_couloir_flow_names_its_own_document_type() -> None:
    assert flow_for("SGL").document_code == "11502-2"
    assert flow_for("RIS").document_code == "18748-4"
    assert flow_for(None).document_code == flow_for("LGC").document_code == "11488-4"
    assert document_type({"document_type": flow_for("SGL").document_type()}) == ("11502-2", "CR d'examens biologiques")
    assert document_type({}) == ("11488-4", "CR ou fiche de consultation ou de visite")


def test_flow_document_types_are_in_the_official_jdv_j07() -> None:
    jdv = REFERENCE / "ans-cda-kit" / "jeuxDeValeurs" / "JDV_J07_XdsTypeCode_CISIS.xml"
    if not jdv.is_file():
        pytest.skip(f"the ANS CDA kit's JDV_J07 is absent ({jdv}); set SEGUR_REFERENCE_DIR")
    text = jdv.read_text(encoding="utf-8")
    for couloir in ("SGL", "RIS", "LGC"):
        flow = flow_for(couloir)
        assert f'code="{flow.document_code}"' in text
        assert f'displayName="{flow.document_display}"' in text.replace("&apos;", "'")


def test_a_bad_flow_table_is_refused(tmp_path: Path) -> None:
    from harness.core.errors import UsageError

    bad = tmp_path / "flows.toml"
    bad.write_text('[default]\ndocument_type = { code = "11488-4", display = "CR" }\n[XYZ]\n', encoding="utf-8")
    with pytest.raises(UsageError, match="unknown couloirs"):
        flow_for("SGL", bad)


def test_a_laboratory_run_shares_biology_reports_and_passes(tmp_path: Path) -> None:
    import json

    report = tmp_path / "report"
    code = main(["run", "--suite", "dmp", "--couloir", "sgl", "--report-dir", str(report)])
    assert code == 0
    exchanges = json.loads((report / "evidence" / "exchanges.json").read_text(encoding="utf-8"))
    feeds = [e for e in exchanges if e["operation"] == "TD2.1"]
    assert feeds
    for feed in feeds:
        body = (report / "evidence" / "blobs" / feed["request_sha256"]).read_bytes()
        assert b'nodeRepresentation="11502-2"' in body  # XDS typeCode of a CR d'examens biologiques
