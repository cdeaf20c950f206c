"""`segur validate cda`: bad input gives a clear answer, the JSON contract, exit statuses 0/1/2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from harness.cli import main
from harness.content import validate as validate_module
from harness.content.cda import NotACda, read_cda, validate_cda
from harness.content.validate_parallel import available_cores
from harness.protocols.cda_document import MAX_BYTES
from harness.run.sut.reference_cda import build_n1_document
from tests.test_cda_rules import PATIENT

VALID = build_n1_document(PATIENT)
INVALID = build_n1_document(PATIENT, frozenset({"cda_ins_not_first"}))

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE ClinicalDocument [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<ClinicalDocument xmlns="urn:hl7-org:v3"><title>&xxe;</title></ClinicalDocument>"""
LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<ClinicalDocument xmlns="urn:hl7-org:v3"><title>&lol2;</title></ClinicalDocument>"""


def signed(document: bytes) -> bytes:
    """The shape of a CI-SIS signed document: ds:Signature enveloping the CDA in ds:Object."""
    ds = "http://www.w3.org/2000/09/xmldsig#"
    signature = etree.Element(f"{{{ds}}}Signature", nsmap={"ds": ds})
    etree.SubElement(signature, f"{{{ds}}}SignedInfo")
    etree.SubElement(signature, f"{{{ds}}}Object").append(etree.fromstring(document))
    return etree.tostring(signature)


def autopresentable(document: bytes) -> bytes:
    xsl, data = "http://www.w3.org/1999/XSL/Transform", "urn:asip-sante:ci-sis"
    sheet = etree.Element(f"{{{xsl}}}stylesheet", nsmap={"xsl": xsl, "data": data}, version="1.0")
    etree.SubElement(sheet, f"{{{data}}}Contenu").append(etree.fromstring(document))
    return etree.tostring(sheet)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "not well-formed"),
        (b"%PDF-1.4 not xml", "not well-formed"),
        (b"<ClinicalDocument xmlns='urn:hl7-org:v3'>", "not well-formed"),
        (b"<Bundle xmlns='http://hl7.org/fhir'/>", "not an HL7 CDA"),
        (b"<ClinicalDocument/>", "not an HL7 CDA"),
        (XXE, "document type declarations"),
        (LAUGHS, "document type declarations"),
        (signed(b"<other xmlns='urn:x'/>"), "not an HL7 CDA"),
    ],
    ids=["empty", "pdf", "truncated", "fhir", "no-namespace", "xxe", "billion-laughs", "signature-without-cda"],
)
def test_unreadable_input_is_a_clear_error(data, says):
    with pytest.raises(NotACda, match=says):
        read_cda(data)


def test_huge_input_is_refused_before_parsing():
    with pytest.raises(NotACda, match="larger than"):
        read_cda(b" " * (MAX_BYTES + 1))


@pytest.mark.parametrize(("wrap", "name"), [(signed, "signed"), (autopresentable, "autopresentable")])
def test_the_cda_inside_a_wrapper_is_validated(wrap, name):
    good, bad = validate_cda(wrap(VALID)), validate_cda(wrap(INVALID))
    assert (good.wrapper, good.valid) == (name, True)
    assert (bad.wrapper, bad.valid) == (name, False)
    assert "cda.ins" in {f.rule for f in bad.findings}


@pytest.fixture
def files(tmp_path):
    paths = {}
    for name, data in {"valid.xml": VALID, "invalid.xml": INVALID, "broken.xml": b"<oops"}.items():
        paths[name] = tmp_path / name
        paths[name].write_bytes(data)
    return paths


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(["validate", *argv])
    out = capsys.readouterr()
    return status, out.out, out.err


def test_exit_0_for_valid_documents(files, capsys):
    status, out, _ = run_cli(capsys, "cda", str(files["valid.xml"]))
    assert status == 0 and "valid" in out


def test_exit_1_with_a_json_finding_per_problem(files, capsys):
    status, out, _ = run_cli(capsys, "cda", str(files["valid.xml"]), str(files["invalid.xml"]), "--format", "json")
    results = {Path(r["file"]).name: r for r in json.loads(out)["results"]}
    assert status == 1
    assert results["valid.xml"]["valid"] is True and results["valid.xml"]["findings"] == []
    finding = results["invalid.xml"]["findings"][0]
    assert finding["rule"] == "cda.ins" and finding["severity"] == "error" and finding["requirement"] == "CDA-03"
    assert finding["location"].startswith("/ClinicalDocument/recordTarget") and finding["line"] > 1


def test_exit_2_when_a_file_cannot_be_read_and_the_others_are_still_reported(files, capsys, tmp_path):
    status, out, _ = run_cli(
        capsys, "cda", str(files["broken.xml"]), str(tmp_path / "missing.xml"), str(files["valid.xml"])
    )
    assert status == 2
    assert "broken.xml: UNREADABLE: not well-formed" in out and "missing.xml: UNREADABLE" in out
    assert "valid.xml: valid" in out


def test_the_dmp_target_applies_the_root_only_id_rule(tmp_path, capsys):
    path = tmp_path / "with-extension.xml"
    path.write_bytes(build_n1_document(PATIENT, frozenset({"cda_document_id_with_extension"})))
    assert run_cli(capsys, "cda", str(path))[0] == 0
    status, out, _ = run_cli(capsys, "cda", str(path), "--target", "dmp")
    assert status == 1 and "cda.document-id" in out


def test_parallel_jobs_give_the_same_results_in_the_same_order(files, capsys):
    argv = ["cda", str(files["invalid.xml"]), str(files["valid.xml"]), str(files["broken.xml"]), "--format", "json"]
    sequential = run_cli(capsys, *argv)
    parallel = run_cli(capsys, *argv, "--jobs", "3")
    assert sequential == parallel and sequential[0] == 2


@pytest.mark.parametrize("value", ["-1", "two", "1.5", "", "²"])
def test_a_bad_jobs_value_is_a_clear_usage_error(files, capsys, value):
    status, out, err = run_cli(capsys, "cda", str(files["valid.xml"]), "--jobs", value)
    assert status == 2 and out == ""
    assert "--jobs takes a number of workers (1 or more), or 0 or 'auto' for one per core" in err


@pytest.mark.parametrize("value", ["0", "auto", "AUTO"])
def test_jobs_0_or_auto_is_one_worker_per_core(files, capsys, monkeypatch, value):
    jobs_asked = []
    validate_files = validate_module.validate_files

    def recording(kind, paths, options, progress=None):
        jobs_asked.append(options.jobs)
        return validate_files(kind, paths, options, progress)

    monkeypatch.setattr(validate_module, "validate_files", recording)
    status, _, _ = run_cli(capsys, "cda", str(files["valid.xml"]), str(files["invalid.xml"]), "--jobs", value)
    assert status == 1 and jobs_asked == [available_cores()] and available_cores() >= 1


def test_help_lists_the_options():
    done = subprocess.run([sys.executable, "-m", "harness.cli", "validate", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "--target" in done.stdout and "--jobs" in done.stdout
