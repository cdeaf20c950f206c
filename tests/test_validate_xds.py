"""`segur validate xds`: a TD2.1 submission saved as a file, judged like the dmp suite judges one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.core import pki
from harness.protocols import vihf
from harness.protocols.xades import DocumentSigner
from harness.run.sut.reference_dmp import ReferenceDmpClient
from mock_services.dmp import PatientBase


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> pki.PkiLayout:
    return pki.init_pki(tmp_path_factory.mktemp("pki"))


def submission_file(layout: pki.PkiLayout, folder: Path, defects: frozenset[str] = frozenset()) -> Path:
    signing = layout.client("cps-signature")
    client = ReferenceDmpClient(
        url="https://dmp.invalid/si-dmp-server/v2/services",
        ssl_context=None,
        signer=vihf.VihfSigner.from_files(signing.key_pem, signing.cert_pem),
        document_signer=DocumentSigner.from_files(signing.key_pem, signing.cert_pem),
        defects=defects,
    )
    call = client.prepare_feed(PatientBase.load()["OUVERT"].identity(), "Compte rendu")
    path = folder / f"td21-{'-'.join(sorted(defects)) or 'ok'}.mime"
    path.write_bytes(call.content)
    return path


def run_json(capsys, *args: str) -> tuple[int, dict]:
    status = main(["validate", "xds", *args, "--format", "json"])
    return status, json.loads(capsys.readouterr().out)


def test_a_conforming_submission_is_valid(layout, tmp_path, capsys):
    status, report = run_json(capsys, str(submission_file(layout, tmp_path)))
    assert status == 0, report
    assert report["results"][0]["documents"] == 2  # the CDA and its signature document


@pytest.mark.parametrize(
    ("defect", "rule"),
    [
        ("xds_no_class_code", "dmp.metadata"),
        ("xds_type_code_mismatch", "dmp.cda-xds"),
        ("xds_unique_id_extension", "dmp.unique-id"),
        ("cda_missing_ci_sis_template", "cda.fixed-values"),
        ("dmp_inline_documents", "dmp.mtom-inline"),
    ],
)
def test_each_defect_is_reported(layout, tmp_path, capsys, defect, rule):
    status, report = run_json(capsys, str(submission_file(layout, tmp_path, frozenset({defect}))))
    rules = {f["rule"] for f in report["results"][0]["findings"] if f["severity"] == "error"}
    assert status == 1 and any(r.startswith(rule) for r in rules), rules


def test_the_dmp_kit_sample_is_read_and_its_inconsistencies_reported(reference, capsys):
    sample = reference / "dmp" / "messages" / "TD2.1_-_Alimentation_requete.xml"
    status, report = run_json(capsys, str(sample))
    findings = report["results"][0]["findings"]
    # The kit's sample declares SA01 in XDS for a CDA coded SA07, and an XDS uniqueId that is not the CDA id.
    received = {(f["message"], f.get("received")) for f in findings if f["rule"] == "dmp.cda-xds"}
    assert status == 1
    assert ("healthcareFacilityTypeCode differs from the CDA", "SA01") in received
    assert any(message.startswith("uniqueId differs") for message, _ in received)
    # Its XAdES signature itself holds (inclusive c14n with comments, rsa-sha1): only the manifest
    # names other uniqueIds than the submission's.
    signature = [f["message"] for f in findings if f["rule"] == "dmp.signature"]
    assert signature and not any("does not verify" in m or "digest differs" in m for m in signature), signature


@pytest.mark.parametrize("data", [b"", b"not xml", b"<a/>", b"--x\r\nContent-Type: text/plain\r\n\r\nbody\r\n"])
def test_unreadable_input_exits_2(tmp_path, capsys, data):
    path = tmp_path / "bad.xml"
    path.write_bytes(data)
    status, report = run_json(capsys, str(path))
    assert status == 2 and report["results"][0]["error"]


def test_kit_options_are_for_cda_only(tmp_path, capsys):
    assert main(["validate", "xds", str(tmp_path / "x"), "--volet", "CI-SIS_LDL-SES_2022.01"]) == 2
