"""The ``artifacts`` SUT: a folder of files judged by the suites, its manifest, and the files it reads."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import re
from pathlib import Path

import pytest
from artifacts_folder import BROKEN, CDA_PATIENT, write_folder

from harness import cli
from harness.core.paths import data_dir
from harness.core.recorder import Exchange
from harness.core.skips import NotEvaluated
from harness.run.runner import RunOptions, run
from harness.run.sut import ActionNotSupported, SutConfigError, SutContext, SutFailure, load_sut
from harness.run.sut.artifacts import ArtifactsSut
from harness.run.sut.artifacts_exchanges import (
    insi_exchanges,
    mail_exchange,
    read_har,
    read_raw_http,
    recorded_exchanges,
)
from harness.run.sut.reference_cda import build_n1_document
from harness.run.sut.xdm_writer import build_xdm
from harness.run.verify import insi as verify_insi
from harness.run.verify import mss as verify_mss
from harness.run.verify.recorded import require_live
from suites.ins.persons import stored_identity

EXAMPLE = data_dir("fixtures") / "sut" / "artifacts-example"
# What a folder of files cannot show: it needs the product talking to the harness's mocks.
LIVE_ONLY = {"INS-04", "INS-05", "INS-06", "INS-07", "INS-10", "INS-11", "INS-12", "INS-13", "INS-14", "MSS-01"}
LIVE_ONLY |= {"DMP-02", "DMP-08", "DMP-14", "MSS-09", "MSS-11", "MSS-12"}
JUDGED = {f"CDA-0{i}" for i in range(1, 9)} | {f"FHIR-0{i}" for i in range(1, 10)}
JUDGED |= {"INS-01", "INS-02", "INS-03", "MSS-02", "MSS-03", "MSS-04", "MSS-06", "DMP-04", "DMP-05", "DMP-06", "DMP-07"}
SUITES = "cda,fhir,mss,ins,dmp"


@pytest.fixture
def recorded() -> list[Exchange]:
    return []


@pytest.fixture
def context(tmp_path: Path, recorded: list[Exchange]) -> SutContext:
    def keep(exchange: Exchange) -> Exchange:
        recorded.append(exchange)
        return exchange

    return SutContext("key-1", {}, tmp_path, tmp_path, tmp_path, tmp_path, "", tmp_path, tmp_path, record_exchange=keep)


def outcomes(report_dir: Path) -> dict[str, dict]:
    report = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
    assert [t["nodeid"] for t in report["tests"] if t["outcome"] == "error"] == []
    return {r["id"]: r for r in report["requirements"]}


# -- the suites judge a folder -----------------------------------------------------------------


@pytest.mark.slow
def test_the_example_folder_passes_content_requirements_and_skips_live_ones(tmp_path):
    status = run(
        RunOptions(sut=f"artifacts:{EXAMPLE}", suites=SUITES, report_dir=tmp_path / "r", data_dir=tmp_path),
        out=io.StringIO(),
    )
    found = outcomes(tmp_path / "r")
    assert status == 4  # incomplete: what needs the live product is not judged, never passed
    assert {k for k, r in found.items() if r["outcome"] == "pass"} == JUDGED
    for requirement in LIVE_ONLY:
        assert found[requirement]["outcome"] == "skip", requirement
        assert "live exchange" in found[requirement]["reason"], found[requirement]
    assert "mss.receive needs the live product" in found["MSS-07"]["reason"]


@pytest.mark.slow
def test_broken_files_fail_their_requirement_and_rejudge_the_same(tmp_path):
    folder = write_folder(tmp_path / "files", set(BROKEN), insi_format="har", data=tmp_path / "recording")
    status = run(
        RunOptions(sut=f"artifacts:{folder}", suites=SUITES, report_dir=tmp_path / "r", data_dir=tmp_path),
        out=io.StringIO(),
    )
    found = outcomes(tmp_path / "r")
    assert status == 1
    # DMP-06 too: the metadata's local patient id is no longer the CDA's patient.
    assert {k for k, r in found.items() if r["outcome"] == "fail"} == set(BROKEN.values()) | {"DMP-06"}
    assert all(found[k]["findings"] for k in BROKEN.values())
    assert found["INS-04"]["outcome"] == "skip"  # the HAR is judged like the raw request
    out = io.StringIO()
    with contextlib.redirect_stdout(out):  # the marks on the recorded exchanges travel in the pack
        assert cli.main(["rejudge", str(tmp_path / "r"), "--format", "json"]) == 0
    result = json.loads(out.getvalue())
    assert result["flips"] == [] and result["not_rejudged"] == {}, result


# -- the manifest ------------------------------------------------------------------------------


def manifest(tmp_path: Path, body: str, files: tuple[str, ...] = ("doc.xml",)) -> Path:
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"<x/>")
    (tmp_path / "manifest.toml").write_text(body, encoding="utf-8")
    return tmp_path


ANSWER = '[[answer]]\naction = "cda.produce_document"\nfile = "doc.xml"\n'


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[[answer]]\naction = "cda.produce_document"\nfiel = "doc.xml"\n', "unknown key 'fiel' (did you mean file?)"),
        ('[[answer]]\naction = "cda.produce_documnt"\nfile = "doc.xml"\n', "did you mean cda.produce_document"),
        ('[[answer]]\naction = "psc.callback"\nfile = "doc.xml"\n', "a file cannot answer psc.callback"),
        ('[[answer]]\naction = "cda.produce_document"\nfile = "absent.xml"\n', "file 'absent.xml' does not exist"),
        ('[[answer]]\naction = "cda.produce_document"\nfile = "../doc.xml"\n', "is outside the folder"),
        ('[[answer]]\naction = "cda.produce_document"\n', "key 'file' is missing"),
        ('[[answer]]\nfile = "doc.xml"\n', "key 'action' is missing"),
        (ANSWER + 'when = { patiant = "x" }\n', "'patiant' is not a parameter of cda.produce_document"),
        (ANSWER + 'format = "fhir"\n', "format 'fhir' cannot answer cda.produce_document"),
        ('[sut]\nnmae = "x"\n' + ANSWER, "[sut]: unknown key 'nmae' (did you mean name?)"),
        ('[[answers]]\naction = "x"\n', "unknown key 'answers' (did you mean answer?)"),
        ('[sut]\nname = "x"\n', "no [[answer]] table"),
        ("[[answer]\n", "is not valid TOML"),
    ],
)
def test_bad_manifests_name_the_file_and_the_key(tmp_path, body, message):
    folder = manifest(tmp_path, body)
    with pytest.raises(SutConfigError) as raised:
        load_sut(f"artifacts:{folder}")
    assert message in str(raised.value)
    assert str(folder / "manifest.toml") in str(raised.value) or "TOML" in str(raised.value)


def test_a_folder_without_manifest_or_a_missing_folder_is_a_usage_error(tmp_path):
    with pytest.raises(SutConfigError, match=re.escape("has no manifest.toml")):
        load_sut(f"artifacts:{tmp_path}")
    with pytest.raises(SutConfigError, match="no such folder"):
        load_sut(f"artifacts:{tmp_path / 'absent'}")
    with pytest.raises(SutConfigError, match="needs the folder"):
        load_sut("artifacts:")


def test_a_file_without_a_known_suffix_needs_its_format(tmp_path):
    folder = manifest(tmp_path, '[[answer]]\naction = "fhir.produce_resource"\nfile = "res.bin"\n', ("res.bin",))
    with pytest.raises(SutConfigError, match="add format = one of fhir"):
        load_sut(f"artifacts:{folder}")


def test_first_matching_answer_wins_and_an_unmatched_call_is_not_evaluated(tmp_path, context):
    body = (
        '[[answer]]\naction = "fhir.produce_resource"\nwhen = { kind = "patient", "patient.status" = "QUAL" }\n'
        'file = "q.json"\n[[answer]]\naction = "fhir.produce_resource"\nwhen = { kind = "patient" }\nfile = "p.json"\n'
    )
    sut = load_sut(f"artifacts:{manifest(tmp_path, body, ('q.json', 'p.json'))}")
    assert isinstance(sut, ArtifactsSut)
    qualified = sut.perform("fhir.produce_resource", {"kind": "patient", "patient": {"status": "QUAL"}}, context)
    other = sut.perform("fhir.produce_resource", {"kind": "patient", "patient": {"status": "RECUP"}}, context)
    assert Path(qualified.data["path"]).name == "q.json" and Path(other.data["path"]).name == "p.json"
    with pytest.raises(ActionNotSupported, match=r"no file answers fhir\.produce_resource .*kind='practitioner'"):
        sut.perform("fhir.produce_resource", {"kind": "practitioner"}, context)
    with pytest.raises(ActionNotSupported, match=re.escape("names no file answering cda.produce_document")):
        sut.perform("cda.produce_document", {}, context)
    with pytest.raises(ActionNotSupported, match=re.escape("dmp.find_documents needs the live product")):
        sut.perform("dmp.find_documents", {}, context)
    assert sut.describe()["kind"] == "artifacts"


# -- the files it reads ------------------------------------------------------------------------


def test_an_xdm_archive_answers_with_the_cda_it_holds(tmp_path, context):
    cda = build_n1_document(stored_identity(CDA_PATIENT))
    (tmp_path / "lot.zip").write_bytes(build_xdm(cda, pdf=None, recipients=["a@b.fr"], sender="c@d.fr"))
    (tmp_path / "empty.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    body = '[[answer]]\naction = "cda.produce_document"\nfile = "lot.zip"\n'
    sut = ArtifactsSut(manifest(tmp_path, body, ()))
    assert base64.b64decode(sut.perform("cda.produce_document", {}, context).data["document"]) == cda
    (tmp_path / "manifest.toml").write_text(body.replace("lot.zip", "empty.zip"), encoding="utf-8")
    with pytest.raises(SutFailure, match=re.escape("empty.zip is not a readable XDM archive")):
        ArtifactsSut(tmp_path).perform("cda.produce_document", {}, context)


SOAP = (
    b'<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" '
    b'xmlns:wsa="http://www.w3.org/2005/08/addressing"><soap:Header>'
    b"<wsa:Action>urn:ServiceIdentiteCertifiee:1.0.0:rechercherInsAvecCarteVitale</wsa:Action></soap:Header>"
    b'<soap:Body><RECVITALE xmlns="http://www.cnamts.fr/INSiRecVit"/></soap:Body></soap:Envelope>'
)


def test_raw_http_with_bare_line_endings_and_its_response(tmp_path):
    raw = b"POST /lps HTTP/1.1\nHost: x\n\n" + SOAP + b"\nHTTP/1.1 200 OK\nContent-Type: a\n\n<answer/>"
    (tmp_path / "call.http").write_bytes(raw)
    [request] = read_raw_http(tmp_path / "call.http")
    assert request.body == SOAP and request.status == 200 and request.response == b"<answer/>"
    [exchange] = insi_exchanges(tmp_path / "call.http", "http", "k", "call.http")
    assert exchange.operation == "rechercherInsAvecCarteVitale"
    assert exchange.request_meta["artefact"] == {"file": "call.http", "format": "http"}


def test_a_request_that_is_no_insi_operation_is_recorded_as_rejected(tmp_path):
    (tmp_path / "junk.http").write_bytes(b"POST /lps HTTP/1.1\r\nContent-Length: 9\r\n\r\nnot xml !")
    [exchange] = insi_exchanges(tmp_path / "junk.http", "http", "k", "junk.http")
    assert (exchange.outcome, exchange.operation, exchange.request_body) == ("rejected", "unknown", b"not xml !")
    assert verify_insi.check_addressing(verify_insi.business_exchanges([exchange]))[0].rule == "insi.called"


@pytest.mark.parametrize(
    ("name", "data", "reader", "message"),
    [
        ("a.http", b"POST /lps HTTP/1.1\r\nno colon here\r\n\r\n<x/>", read_raw_http, "header line without a colon"),
        ("b.http", b"POST /lps HTTP/1.1", read_raw_http, "no blank line after the headers"),
        ("e.http", b"POST /lps HTTP/1.1\r\nContent-Length: -3\r\n\r\n<x/>", read_raw_http, "not a number of bytes"),
        ("c.har", b"{not json", read_har, "cannot be read as a HAR file"),
        ("d.har", b'{"log": {"entries": [{"request": {"method": "GET"}}]}}', read_har, "no entry has a request body"),
    ],
)
def test_unreadable_exchange_files_are_product_failures_naming_the_file(tmp_path, name, data, reader, message):
    (tmp_path / name).write_bytes(data)
    with pytest.raises(SutFailure, match=message) as raised:
        reader(tmp_path / name)
    assert name in str(raised.value)


def test_a_har_body_may_be_base64(tmp_path):
    entry = {"request": {"method": "POST", "url": "u", "postData": {"text": base64.b64encode(SOAP).decode()}}}
    entry["request"]["postData"]["encoding"] = "base64"
    (tmp_path / "x.har").write_text(json.dumps({"log": {"entries": [entry]}}), encoding="utf-8")
    assert read_har(tmp_path / "x.har")[0].body == SOAP


def test_a_message_takes_its_envelope_from_the_manifest_or_its_headers(tmp_path):
    (tmp_path / "m.eml").write_bytes(b"From: a@x.fr\r\nTo: B <b@y.fr>, c@z.fr\r\nSubject: s\r\n\r\nbody\r\n")
    assert mail_exchange(tmp_path / "m.eml", (), "k", "m.eml").request_meta["rcpt_tos"] == ["b@y.fr", "c@z.fr"]
    assert mail_exchange(tmp_path / "m.eml", ("d@w.fr",), "k", "m.eml").request_meta["rcpt_tos"] == ["d@w.fr"]
    (tmp_path / "empty.eml").write_bytes(b"\r\n\r\n")
    with pytest.raises(SutFailure, match=re.escape("empty.eml cannot be read as an RFC 5322 message")):
        mail_exchange(tmp_path / "empty.eml", (), "k", "empty.eml")


def test_a_recorded_request_is_stored_and_answered_as_recorded(tmp_path, context, recorded):
    (tmp_path / "call.xml").write_bytes(SOAP)
    sut = ArtifactsSut(
        manifest(tmp_path, '[[answer]]\naction = "insi.search_by_carte_vitale"\nfile = "call.xml"\n', ())
    )
    answer = sut.perform("insi.search_by_carte_vitale", {}, context)
    assert answer.data["outcome"] == "recorded"
    [stored] = recorded
    assert stored.session_key == "key-1" and stored.request_body == SOAP and stored.outcome == "ok"


# -- what only a live exchange shows -----------------------------------------------------------


def _exchange(service: str, recorded: bool) -> Exchange:
    meta = {"artefact": {"file": "f.http", "format": "http"}} if recorded else {}
    return Exchange(service, "k", "smtp.data", "ok", SOAP, b"", 0.0, 0.0, request_meta=meta)


def test_require_live_skips_recorded_exchanges_and_answers_only():
    require_live("INS-04", "x", "x", exchanges=[_exchange("insi", False)], answer={"outcome": "found"})
    with pytest.raises(NotEvaluated) as raised:
        require_live("INS-04", "the certificate", "le certificat", exchanges=[_exchange("insi", True)])
    assert "f.http" in raised.value.en and "le certificat" in raised.value.fr
    with pytest.raises(NotEvaluated):
        require_live("INS-13", "x", "x", answer={"outcome": "recorded", "file": "f.http"})


def test_live_only_verifiers_still_judge_live_exchanges():
    live = _exchange("insi", False)
    assert verify_insi.check_authentication([live])  # no client certificate: a finding, not a skip
    with pytest.raises(NotEvaluated):
        verify_insi.check_authentication([_exchange("insi", True)])
    message = b"From: a@x.fr\r\nTo: b@y.fr\r\nSubject: s\r\n\r\nbody\r\n"
    sent = [verify_mss.Submitted(_exchange("mss", False), verify_mss.mssmail.parse(message))]
    assert verify_mss.check_transport(sent)  # no TLS recorded: a finding
    sent = [verify_mss.Submitted(_exchange("mss", True), verify_mss.mssmail.parse(message))]
    with pytest.raises(NotEvaluated):
        verify_mss.check_transport(sent)
    with pytest.raises(NotEvaluated):
        verify_insi.check_no_identity_kept({"outcome": "recorded"}, "error", "INS-13")


def test_segur_run_with_a_bad_manifest_exits_2_naming_the_manifest_and_the_key(tmp_path, capsys):
    folder = manifest(tmp_path, '[[answer]]\naction = "cda.produce_document"\nfile = "doc.xml"\nwehn = {}\n')
    arguments = ["run", "--sut", f"artifacts:{folder}", "--suite", "cda", "--report-dir", str(tmp_path / "r")]
    assert cli.main(arguments) == 2
    err = capsys.readouterr().err
    assert (
        "manifest.toml: [[answer]] #1 (action 'cda.produce_document'): unknown key 'wehn' (did you mean when?)" in err
    ), err


def test_a_recorded_dmp_feed_is_read_as_the_dmp_verifiers_read_it(tmp_path):
    from harness.run.verify import dmp as verify_dmp

    [exchange] = recorded_exchanges("dmp", EXAMPLE / "dmp" / "alimentation-td21.http", "http", "k", "td21.http")
    assert (exchange.operation, exchange.outcome) == ("TD2.1", "ok")
    [request] = verify_dmp.requests([exchange], "TD2.1")
    assert request.submission() is not None and request.documents()
    with pytest.raises(NotEvaluated, match="DMP-01 needs a live exchange"):
        verify_dmp.check_transport([request])
    with pytest.raises(NotEvaluated, match="DMP-02 needs a live exchange"):
        verify_dmp.check_vihf_signature([request], [])
    (tmp_path / "junk.xml").write_bytes(SOAP)  # an INSi envelope is no DMP transaction
    assert recorded_exchanges("dmp", tmp_path / "junk.xml", "soap", "k", "junk.xml")[0].outcome == "rejected"
