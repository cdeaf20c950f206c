"""SAS couloir: the reference agenda server, the SAS client's checks, and `segur run --suite sas` end to end."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from harness.core import pki, pki_checks
from harness.core.recorder import ExchangeStore
from harness.run.runner import RunOptions, run
from harness.run.sas_client import SasClient
from harness.run.sut.reference_sas import SAS_DEFECTS, agenda
from harness.run.sut.reference_sas.server import start_agenda
from harness.run.verify import sas as verify

# The requirement each defect is built to break (others may fail too, as a consequence).
EXPECTED_FAILURE = {
    "sas_no_capability_statement": "SAS-01",
    "sas_first_identifier_only": "SAS-02",
    "sas_ignores_window": "SAS-03",
    "sas_ignores_status": "SAS-04",
    "sas_bundle_not_searchset": "SAS-05",
    "sas_no_booking_url": "SAS-06",
    "sas_no_include": "SAS-07",
    "sas_practitioner_bare_rpps": "SAS-08",
    "sas_role_without_location": "SAS-09",
    "sas_no_slots_404": "SAS-10",
    "sas_accepts_no_certificate": "SAS-11",
    "sas_accepts_any_cn": "SAS-12",
    "sas_accepts_any_ou": "SAS-13",
    "sas_ignores_revocation": "SAS-14",
    "sas_slow_search": "SAS-15",
    "sas_regulator_no_location": "SAS-16",
    "sas_put_unknown_404": "SAS-17",
    "sas_accepts_invalid_regulator": "SAS-18",
    "sas_booking_ignores_origin": "SAS-21",
    "sas_appointment_without_operator": "SAS-19",
    "sas_cancel_as_new_appointment": "SAS-20",
}


def test_every_defect_names_the_requirement_it_breaks():
    assert set(EXPECTED_FAILURE) == set(SAS_DEFECTS)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("segur-data")


@pytest.fixture(scope="module")
def layout(data_dir: Path) -> pki.PkiLayout:
    return pki.load_or_create_pki(data_dir / "pki")


@pytest.fixture
def client(layout):
    running = start_agenda(layout)
    try:
        yield SasClient(f"{running.api.url}/fhir", layout, ExchangeStore(), "test")
    finally:
        running.stop()


def load_report(report_dir: Path) -> dict:
    return json.loads((report_dir / "report.json").read_text(encoding="utf-8"))


def test_the_sas_client_certificates_carry_the_expected_cn_and_ou(layout):
    def name(credential: str) -> tuple[str, str]:
        subject = layout.client(credential).certificate().subject
        return (
            str(subject.get_attributes_for_oid(pki.NameOID.COMMON_NAME)[0].value),
            str(subject.get_attributes_for_oid(pki.NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value),
        )

    assert name("sas-platform") == (pki.SAS_CLIENT_CN, pki.SAS_CLIENT_OU)
    assert name("sas-wrong-cn")[1] == pki.SAS_CLIENT_OU and name("sas-wrong-cn")[0] != pki.SAS_CLIENT_CN
    assert name("sas-wrong-ou")[0] == pki.SAS_CLIENT_CN and name("sas-wrong-ou")[1] != pki.SAS_CLIENT_OU
    assert any(
        "revoked" in p for p in pki_checks.verify_client_certificate(layout.client("sas-revoked").certificate(), layout)
    )
    assert pki_checks.verify_client_certificate(layout.client("sas-platform").certificate(), layout) == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ([("status", "free")], "mandatory"),
        ([("start", "ge2030-01-01T00:00:00+00:00"), ("start", "le2030-01-02T00:00:00+00:00")], "identifier"),
        ([("start", "2030-01-01"), ("start", "le2030-01-02")], "prefix"),
        ([("start", "genot-a-date"), ("start", "le2030-01-02")], "not a FHIR dateTime"),
    ],
)
def test_a_search_the_server_cannot_run_is_a_400_operation_outcome(client, params, message):
    answer = client.request("GET", "Slot", params=params)
    body = answer.json()
    assert answer.status == 400 and body["resourceType"] == "OperationOutcome"
    assert message in body["issue"][0]["diagnostics"]


def test_more_than_25_identifiers_is_refused(client):
    tokens = ",".join(f"{agenda.IDNPS_SYSTEM}|8999{n:08d}" for n in range(26))
    now = dt.datetime.now(dt.UTC)
    params = [("start", "ge" + now.isoformat()), ("start", "le" + now.isoformat()), ("status", "free")]
    answer = client.request("GET", "Slot", params=[*params, ("schedule.actor:Practitioner.identifier", tokens)])
    assert answer.status == 400 and "25" in answer.json()["issue"][0]["diagnostics"]


def test_a_regulator_body_that_is_not_json_is_a_400(client):
    answer = client.request("POST", "Practitioner", body=None)
    assert answer.status == 400 and answer.json()["resourceType"] == "OperationOutcome"


def test_every_exchange_is_recorded_with_the_client_identity(client):
    client.request("GET", "metadata")
    client.request("GET", "metadata", credential="sas-revoked")
    recorded = client.store.exchanges(session_key="test", service="sas-agenda")
    assert [e.http_status for e in recorded] == [200, None]
    assert recorded[1].outcome == "rejected" and "revoked" in recorded[1].response_meta["transport_error"]
    assert recorded[0].client_subject and pki.SAS_CLIENT_CN in recorded[0].client_subject


def test_the_verifiers_find_what_a_bad_bundle_lacks():
    bad = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": 1,
        "entry": [
            {
                "fullUrl": "https://x/Slot/s",
                "resource": {
                    "resourceType": "Slot",
                    "id": "s",
                    "schedule": {"reference": "Schedule/missing"},
                    "status": "busy",
                    "start": "2030-01-01T10:00:00+00:00",
                    "end": "2030-01-01T10:20:00+00:00",
                },
            }
        ],
    }
    window = (dt.datetime(2031, 1, 1, tzinfo=dt.UTC), dt.datetime(2031, 1, 2, tzinfo=dt.UTC))
    assert [f.rule for f in verify.within_window(bad, *window, "e")] == ["sas.window"]
    assert [f.rule for f in verify.only_free(bad, "e")] == ["sas.status"]
    assert [f.rule for f in verify.includes(bad, "e")] == ["sas.include"]
    rules = {f.rule for f in verify.slot_content(bad, "e")}
    assert {"sas.slot-type", "sas.consultation-type", "sas.booking-url", "fhir.fixed"} <= rules
    assert all(f.message_fr for f in verify.slot_content(bad, "e"))


@pytest.mark.slow
def test_reference_agenda_passes_the_sas_suite(tmp_path, data_dir, capsys):
    status = run(RunOptions(suites="sas", report_dir=tmp_path / "r", data_dir=data_dir))
    report = load_report(tmp_path / "r")
    assert status == 0, capsys.readouterr().out
    outcomes = {r["id"]: r["outcome"] for r in report["requirements"]}
    assert {k for k in outcomes if k.startswith("SAS-")} == {f"SAS-{n:02d}" for n in range(1, 22)}
    assert set(outcomes.values()) == {"pass"}


@pytest.mark.slow
@pytest.mark.parametrize("defect", sorted(SAS_DEFECTS))
def test_each_sas_defect_fails_its_requirement(tmp_path, data_dir, defect):
    status = run(RunOptions(suites="sas", report_dir=tmp_path / "r", data_dir=data_dir, defects=[defect]))
    report = load_report(tmp_path / "r")
    failed = sorted(r["id"] for r in report["requirements"] if r["outcome"] == "fail")
    errors = [t["nodeid"] for t in report["tests"] if t["outcome"] == "error"]
    assert errors == [], f"{defect} must make the product fail, never the harness: {errors}"
    assert status == 1 and EXPECTED_FAILURE[defect] in failed, f"{defect}: failed {failed}"
    assert all(r["findings"] for r in report["requirements"] if r["outcome"] == "fail")


@pytest.mark.slow
@pytest.mark.parametrize("defect", [None, "sas_accepts_any_cn", "sas_cancel_as_new_appointment"])
def test_a_sas_run_is_judged_again_from_its_recording(tmp_path, data_dir, capsys, defect):
    from harness import cli

    pack = tmp_path / "pack"
    run(RunOptions(suites="sas", report_dir=pack, data_dir=data_dir, defects=[defect] if defect else []))
    capsys.readouterr()
    assert cli.main(["rejudge", str(pack), "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["flips"] == [] and result["new_findings"] == [] and result["not_rejudged"] == {}
