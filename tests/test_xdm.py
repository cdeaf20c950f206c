"""IHE XDM archives (harness.protocols.xdm): writing, safe reading, judging, and `segur validate xdm`'s result."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import struct
import warnings
import zipfile
from pathlib import Path

import pytest
from zip_forgery import needing_version, with_method

from harness.content import xdm_check
from harness.content.validate import ValidateOptions, exit_status, validate_files
from harness.core.results import Severity
from harness.protocols import xdm, xds
from harness.run.sut import xdm_writer
from harness.run.sut.reference_cda import build_n1_document, minimal_pdf
from mock_services.dmp.patients import PatientBase

SENDER = "dpi-reference@harnais.mssante.fr"
RECIPIENT = "docteur.medecin-test@harnais.mssante.fr"


@pytest.fixture(scope="module")
def patient() -> dict:
    return PatientBase.load()["OUVERT"].identity()


@pytest.fixture(scope="module")
def cda(patient: dict) -> bytes:
    return build_n1_document(patient, title="Compte rendu de consultation")


@pytest.fixture(scope="module")
def pdf() -> bytes:
    return minimal_pdf("Compte rendu de consultation")


def build(patient: dict, cda: bytes, pdf: bytes, defects: frozenset[str] = frozenset()) -> bytes:
    documents = [
        xdm_writer.XdmDocument("DOC0001.XML", cda),
        xdm_writer.XdmDocument("DOC0002.PDF", pdf, "application/pdf"),
    ]
    return xdm_writer.build_xdm(documents, patient=patient, recipients=[RECIPIENT], sender=SENDER, defects=defects)


def zip_of(*members: tuple[str | zipfile.ZipInfo, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names, which some tests want
        with zipfile.ZipFile(buffer, "w", compression) as archive:
            for name, data in members:
                archive.writestr(name, data)
    return buffer.getvalue()


def rewrite(data: bytes, name: str, change) -> bytes:
    """The archive with entry ``name`` replaced by ``change(old bytes)``."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = [(i.filename, archive.read(i)) for i in archive.infolist()]
    return zip_of(*[(n, change(d) if n == name else d) for n, d in members])


def rules(findings, severity: Severity | None = Severity.ERROR) -> set[str]:
    return {f.rule for f in findings if severity is None or f.severity is severity}


def refused(data: bytes, **limits) -> xdm.NotAnXdm:
    with pytest.raises(xdm.NotAnXdm) as caught:
        xdm.read_xdm(data, **limits)
    return caught.value


# -- a conforming archive ---------------------------------------------------------------------


def test_a_built_archive_passes_every_rule(patient, cda, pdf):
    findings = xdm_check.check_xdm(xdm.read_xdm(build(patient, cda, pdf)))
    assert findings == [], [f.describe() for f in findings]


def test_the_one_cda_form_used_by_the_mss_client(patient, cda, pdf):
    package = xdm.read_xdm(xdm_writer.build_xdm(cda, pdf=pdf, recipients=[RECIPIENT], sender=SENDER))
    assert xdm_check.check_xdm(package) == []
    assert xdm.patient_of(package) == (patient["ins"], patient["oid"])
    assert xdm.cda_code(cda) == "11488-4"
    assert sorted(package.subsets[0].files) == ["DOC0001.XML", "DOC0002.PDF", "METADATA.XML"]


def test_round_trip(patient, cda, pdf):
    package = xdm.read_xdm(build(patient, cda, pdf))
    assert sorted(package.entries) == [
        "IHE_XDM/SUBSET01/DOC0001.XML",
        "IHE_XDM/SUBSET01/DOC0002.PDF",
        "IHE_XDM/SUBSET01/METADATA.XML",
        "INDEX.HTM",
        "README.TXT",
    ]
    assert b"IHE_XDM/SUBSET01/DOC0001.XML" in package.entries["INDEX.HTM"]
    assert SENDER in package.entries["README.TXT"].decode()
    (subset,) = package.subsets
    assert (subset.name, subset.folder, subset.metadata_name) == ("SUBSET01", "IHE_XDM/SUBSET01/", "METADATA.XML")
    submission = package.submissions["SUBSET01"]
    ss = submission.submission_set
    assert ss is not None
    assert ss.slots["intendedRecipient"] == [f"||^^Internet^{RECIPIENT}"]
    assert ss.patient_id == xds.format_cx(patient["ins"], patient["oid"])
    by_uri = {entry.slot("URI"): entry for entry in submission.documents}
    assert set(by_uri) == {"DOC0001.XML", "DOC0002.PDF"}
    for name, content, mime in (("DOC0001.XML", cda, "text/xml"), ("DOC0002.PDF", pdf, "application/pdf")):
        entry = by_uri[name]
        assert package.documents()[entry.id] == content
        assert entry.attributes["mimeType"] == mime
        assert entry.slot("size") == str(len(content))
        assert entry.slot("hash") == hashlib.sha1(content).hexdigest()
        assert entry.patient_id == ss.patient_id
    cda_entry, pdf_entry = by_uri["DOC0001.XML"], by_uri["DOC0002.PDF"]
    assert pdf_entry.unique_id != cda_entry.unique_id
    assert pdf_entry.codes(xds.DE_FORMAT) == [(xdm_writer.FORMAT_MIME_SUFFICIENT, xds.CS_FORMAT_IHE)]
    assert cda_entry.codes(xds.DE_TYPE) == pdf_entry.codes(xds.DE_TYPE) == [("11488-4", xds.CS_LOINC)]


def test_slots_come_before_the_rest_of_each_registry_object(patient, cda, pdf):
    package = xdm.read_xdm(build(patient, cda, pdf))
    submission = package.submissions["SUBSET01"]
    for obj in [*submission.submission_sets, *submission.documents]:
        tags = [child.tag.split("}")[1] for child in obj.element]
        assert tags[: tags.count("Slot")] == ["Slot"] * tags.count("Slot"), tags  # ebRIM: Slot* first


# -- defects ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("defect", "rule", "severity"),
    [
        ("xdm_wrong_hash", "xdm.hash", Severity.ERROR),
        ("xdm_wrong_size", "xdm.size", Severity.ERROR),
        ("xdm_no_index", "xdm.layout", Severity.ERROR),
        ("xdm_no_readme", "xdm.layout", Severity.ERROR),
        ("xdm_lowercase_paths", "xdm.file-name", Severity.ERROR),
        ("xdm_patient_mismatch", "xdm.patient-ins", Severity.ERROR),
        ("xdm_missing_uri", "xdm.uri", Severity.ERROR),
        ("xdm_unreferenced_file", "xdm.unreferenced", Severity.ERROR),
        ("xdm_no_recipient", "xdm.intended-recipient", Severity.WARNING),
    ],
)
def test_each_defect_gives_its_finding(patient, cda, pdf, defect, rule, severity):
    findings = xdm_check.check_xdm(xdm.read_xdm(build(patient, cda, pdf, frozenset({defect}))), requirement="MSS-XDM")
    assert rule in rules(findings, severity), [f.describe() for f in findings]
    assert {f.requirement for f in findings} == {"MSS-XDM"}
    assert set(xdm_writer.XDM_DEFECTS) >= {defect}


def test_a_patient_mismatch_is_also_a_cda_xds_inconsistency(patient, cda, pdf):
    findings = xdm_check.check_xdm(xdm.read_xdm(build(patient, cda, pdf, frozenset({"xdm_patient_mismatch"}))))
    assert {"xdm.patient-ins", "dmp.cda-xds"} <= rules(findings)
    assert "dmp.patient-id" not in rules(findings)  # the other INS is a valid one, the same everywhere


def test_lowercase_paths_are_still_read(patient, cda, pdf):
    package = xdm.read_xdm(build(patient, cda, pdf, frozenset({"xdm_lowercase_paths"})))
    assert len(package.documents()) == 2
    assert rules(xdm_check.check_xdm(package), None) == {"xdm.file-name"}


def test_builder_refuses_bad_input(patient, cda):
    with pytest.raises(ValueError, match="unknown XDM defects"):
        xdm_writer.build_xdm(cda, patient=patient, recipients=[], sender=SENDER, defects=frozenset({"nope"}))
    with pytest.raises(ValueError, match=r"8\.3"):
        xdm_writer.build_xdm(
            [xdm_writer.XdmDocument("document.xml", cda)], patient=patient, recipients=[], sender=SENDER
        )


# -- lenient reading, with notes --------------------------------------------------------------


def test_uri_relative_to_ihe_xdm_and_case_differences_are_warnings(patient, cda, pdf):
    data = rewrite(
        build(patient, cda, pdf),
        "IHE_XDM/SUBSET01/METADATA.XML",
        lambda m: m.replace(b">DOC0001.XML<", b">SUBSET01/DOC0001.XML<").replace(b">DOC0002.PDF<", b">doc0002.pdf<"),
    )
    package = xdm.read_xdm(data)
    findings = xdm_check.check_xdm(package)
    assert rules(findings) == set()
    assert [f.rule for f in findings] == ["xdm.uri", "xdm.uri"]
    assert len(package.documents()) == 2


@pytest.mark.parametrize(
    ("value", "fine"),
    [
        ("||^^Internet^a.b@test.mssante.fr", True),
        ("Hôpital^^^^^^^^^1.2.3|^Wel^Marcus^^^Dr^MD|^^Internet^m@test.mssante.fr", True),
        ("|12345^MEDECIN^Test", True),
        ("|^^Internet^a.b@test.mssante.fr", False),  # the email in the XCN position
        ("a.b@test.mssante.fr", False),  # a bare address
        ("||^^Internet^pas-une-adresse", False),
    ],
)
def test_intended_recipient_form(patient, cda, pdf, value, fine):
    expected = f"||^^Internet^{RECIPIENT}".encode()
    data = rewrite(
        build(patient, cda, pdf), "IHE_XDM/SUBSET01/METADATA.XML", lambda m: m.replace(expected, value.encode())
    )
    findings = xdm_check.check_xdm(xdm.read_xdm(data))
    assert ("xdm.intended-recipient" in rules(findings)) is not fine


def test_unreadable_metadata_and_missing_metadata_are_findings(patient, cda, pdf):
    broken = rewrite(build(patient, cda, pdf), "IHE_XDM/SUBSET01/METADATA.XML", lambda m: m[:200])
    assert rules(xdm_check.check_xdm(xdm.read_xdm(broken))) == {"xdm.metadata"}
    no_metadata = zip_of(("INDEX.HTM", b"<html/>"), ("README.TXT", b"x"), ("IHE_XDM/SUBSET01/DOC0001.XML", cda))
    findings = xdm_check.check_xdm(xdm.read_xdm(no_metadata))
    assert [f.rule for f in findings] == ["xdm.layout"] and "METADATA.XML" in findings[0].message


def test_a_zip_without_ihe_xdm_is_not_an_xdm():
    error = refused(zip_of(("README.TXT", b"x")))
    assert "not an IHE XDM" in str(error) and not xdm.is_dangerous(error)
    nested = refused(zip_of(("KA202401/IHE_XDM/SUBSET01/METADATA.XML", b"<x/>")))
    assert "KA202401" in str(nested)


# -- refused archives -------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"garbage, not a zip", b"PK\x03\x04truncated"])
def test_not_a_zip(data):
    error = refused(data)
    assert "not a zip" in str(error) and not xdm.is_dangerous(error)


def test_empty_zip():
    error = refused(zip_of())
    assert "empty" in str(error) and not xdm.is_dangerous(error)


@pytest.fixture(scope="module")
def deflated_zeros() -> bytes:
    """A 256 MiB member of zeros, deflated while streamed (about 250 KiB; never 256 MiB in memory)."""
    buffer = io.BytesIO()
    chunk = bytes(1024 * 1024)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("INDEX.HTM", b"<html/>")
        with archive.open("IHE_XDM/SUBSET01/DOC0001.XML", "w") as member:
            for _ in range(256):
                member.write(chunk)
    return buffer.getvalue()


def test_zip_bomb_by_ratio_is_refused_before_inflating(deflated_zeros):
    assert len(deflated_zeros) < 2 * 1024 * 1024
    error = refused(deflated_zeros, max_total_uncompressed=1024 * 1024 * 1024)
    assert xdm.is_dangerous(error) and "zip bomb" in str(error) and "ratio" in str(error)


def test_zip_bomb_by_total_declared_size_is_refused(deflated_zeros):
    error = refused(deflated_zeros, max_ratio=10_000)
    assert xdm.is_dangerous(error) and "declare" in str(error)
    members = [(f"IHE_XDM/SUBSET01/F{i}.BIN", os.urandom(4096)) for i in range(3)]
    error = refused(zip_of(*members, compression=zipfile.ZIP_STORED), max_total_uncompressed=10_000)
    assert xdm.is_dangerous(error)


def forge_declared_size(data: bytes, size: int) -> bytes:
    """The one-member archive ``data`` with its uncompressed size replaced in both headers."""
    forged = bytearray(data)
    struct.pack_into("<L", forged, 22, size)  # local file header
    struct.pack_into("<L", forged, data.rfind(b"PK\x01\x02") + 24, size)  # central directory record
    return bytes(forged)


def test_a_lying_declared_size_is_caught_while_inflating():
    honest = zip_of(("IHE_XDM/SUBSET01/DOC0001.XML", bytes(5 * 1024 * 1024)))
    error = refused(forge_declared_size(honest, 1000))
    assert xdm.is_dangerous(error) and "more than the 1000 bytes it declares" in str(error)


def test_too_many_entries():
    members = [(f"IHE_XDM/SUBSET01/F{i}.TXT", b"x") for i in range(6)]
    assert xdm.is_dangerous(refused(zip_of(*members), max_entries=5))


@pytest.mark.parametrize(
    "name",
    ["../evil", "IHE_XDM/../../evil", "/abs", "C:\\x", "C:/x", "a\\..\\b", "IHE_XDM/./A.XML", "IHE_XDM//A.XML"],
)
def test_path_traversal_and_odd_names(name):
    error = refused(zip_of((name, b"x"), ("IHE_XDM/SUBSET01/METADATA.XML", b"<x/>")))
    assert xdm.is_dangerous(error), error


def test_a_nul_byte_in_a_name():
    data = zip_of(("IHE_XDM/SUBSET01/DOC0001.XML.EXE", b"x"))  # zipfile itself cannot write a NUL in a name
    error = refused(data.replace(b"DOC0001.XML.EXE", b"DOC0001.XML\x00EXE"))
    assert xdm.is_dangerous(error) and "control characters" in str(error)


@pytest.mark.parametrize(
    "names",
    [
        ("IHE_XDM/SUBSET01/DOC0001.XML", "IHE_XDM/SUBSET01/DOC0001.XML"),
        ("IHE_XDM/SUBSET01/DOC0001.XML", "ihe_xdm/subset01/doc0001.xml"),
        ("IHE_XDM/SUBSET01/A", "IHE_XDM/SUBSET01/A/B"),
    ],
)
def test_duplicate_names(names):
    error = refused(zip_of(*[(n, b"x") for n in names]))
    assert xdm.is_dangerous(error), error


def test_encrypted_entries():
    data = bytearray(zip_of(("IHE_XDM/SUBSET01/DOC0001.XML", b"not really encrypted")))
    struct.pack_into("<H", data, 6, 0x1)  # general purpose flags of the local header: encrypted
    struct.pack_into("<H", data, data.rfind(b"PK\x01\x02") + 8, 0x1)  # and of the central record
    error = refused(bytes(data))
    assert "encrypted" in str(error) and not xdm.is_dangerous(error)


def test_symbolic_links():
    info = zipfile.ZipInfo("IHE_XDM/SUBSET01/DOC0001.XML")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    error = refused(zip_of((info, b"/etc/passwd")))
    assert xdm.is_dangerous(error) and "symbolic link" in str(error)


def test_local_header_that_disagrees_with_the_central_directory():
    data = zip_of(("INDEX.HTM", b"<html/>"), ("IHE_XDM/SUBSET01/METADATA.XML", b"<x/>"))
    forged = data.replace(b"INDEX.HTM", b"INDEX.EXE", 1)  # the first occurrence is the local header
    assert xdm.is_dangerous(refused(forged))


def test_overlapping_entries():
    data = bytearray(zip_of(("INDEX.HTM", b"<html/>"), ("IHE_XDM/SUBSET01/METADATA.XML", b"<x/>")))
    second = data.rfind(b"PK\x01\x02")
    struct.pack_into("<L", data, second + 42, 0)  # its local header offset now points at the first entry
    assert xdm.is_dangerous(refused(bytes(data)))


def test_a_nested_zip_is_kept_closed(patient, cda, pdf):
    inner = zip_of(("../../evil", b"x"))
    data = zip_of(("INDEX.HTM", b"<html/>"), ("IHE_XDM/SUBSET01/INNER.ZIP", inner))
    assert xdm.read_xdm(data).entries["IHE_XDM/SUBSET01/INNER.ZIP"] == inner


# -- segur validate xdm -----------------------------------------------------------------------


def validate_one(path: Path) -> dict:
    """`segur validate xdm` on one file, as the command runs it."""
    (result,) = validate_files("xdm", [path], ValidateOptions())
    return result


def test_validate_xdm_file(tmp_path: Path, patient, cda, pdf):
    good = tmp_path / "IHE_XDM.ZIP"
    good.write_bytes(build(patient, cda, pdf))
    result = validate_one(good)
    assert result == {"file": str(good), "valid": True, "findings": [], "subsets": 1, "documents": 2}
    assert exit_status([result]) == 0

    bad = tmp_path / "BAD.ZIP"
    bad.write_bytes(build(patient, cda, pdf, frozenset({"xdm_wrong_hash"})))
    result = validate_one(bad)
    assert not result["valid"] and {f["rule"] for f in result["findings"]} == {"xdm.hash"}
    assert result["findings"][0]["requirement"] == "MSS-03"
    assert exit_status([result]) == 1

    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(b"this is not a zip")
    result = validate_one(garbage)
    assert result["valid"] is False and result["findings"] == [] and "not a zip" in result["error"]
    assert exit_status([result]) == 2
    assert "error" in validate_one(tmp_path / "missing.zip")


# -- zip features the reader does not implement: a finding, never a crash ----------------------


@pytest.mark.parametrize("forge", [lambda d: needing_version(d, 90), lambda d: with_method(d, 14)])
def test_an_unsupported_zip_format_is_bad_input_not_a_crash(forge):
    from harness.core.errors import BadInput

    error = refused(forge(zip_of(("INDEX.HTM", b"<html/>"))))
    assert isinstance(error, xdm.UnsupportedArchive) and isinstance(error, BadInput)
    assert not xdm.is_dangerous(error)


def test_validate_xdm_reports_an_unsupported_zip_format_as_a_finding(tmp_path: Path, patient, cda, pdf, capsys):
    from harness.cli import main

    path = tmp_path / "IHE_XDM.ZIP"
    path.write_bytes(needing_version(build(patient, cda, pdf), 90))
    result = validate_one(path)
    assert "error" not in result and result["valid"] is False
    assert [(f["rule"], f["requirement"]) for f in result["findings"]] == [("xdm.zip-format", "MSS-03")]
    assert exit_status([result]) == 1
    assert main(["validate", "xdm", str(path)]) == 1
    assert "xdm.zip-format" in capsys.readouterr().out
