"""`segur validate fhir`: the blueprint's contract (exit 0/1/2, JSON), --profile, bad input."""

from __future__ import annotations

import json

import pytest

from harness.cli import main
from harness.content.fhir import terminology
from harness.run.sut.reference_fhir import document_bundle, patient_resource, practitioner_resource
from suites.ins.persons import stored_identity


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    status = main(["validate", "fhir", *args])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def files(tmp_path):
    identity = stored_identity("ADRUN-ZOE")
    good = patient_resource(identity)
    bare = dict(good)
    bare.pop("meta")
    written = {
        "good.json": json.dumps(good),
        "bad-key.json": json.dumps(patient_resource(identity, frozenset({"fhir_ins_bad_key"}))),
        "bare.json": json.dumps(bare),
        "practitioner.json": json.dumps(practitioner_resource()),
        "bundle.json": json.dumps(document_bundle(identity, "Compte rendu")),
        "not-json.json": "{ this is not json",
        "array.json": "[1, 2]",
        "unknown-type.json": json.dumps({"resourceType": "Patientt"}),
        "deep.json": '{"resourceType": "Patient", "x": ' + "[" * 10000 + "]" * 10000 + "}",
        "good.xml": "<Patient xmlns='http://hl7.org/fhir'><birthDate value='1975-12-15'/></Patient>",
    }
    for name, text in written.items():
        (tmp_path / name).write_text(text)
    return {name: str(tmp_path / name) for name in written}


def test_valid_resources_exit_0(files, capsys):
    status, out, _ = run_cli(
        capsys, files["good.json"], files["practitioner.json"], files["bundle.json"], files["good.xml"]
    )
    assert status == 0, out


def test_an_error_exits_1_with_rule_location_and_values(files, capsys):
    status, out, _ = run_cli(capsys, files["bad-key.json"], "--format", "json")
    assert status == 1
    result = json.loads(out)["results"][0]
    finding = next(f for f in result["findings"] if f["rule"] == "fhir.check.ins-matricule")
    assert finding["severity"] == "error" and "Patient.identifier[0].value" in finding["location"]
    assert result["resource_type"] == "Patient" and result["profiles"] == [terminology.PATIENT_INS]


def test_profile_option_takes_an_id_or_a_url(files, capsys):
    assert run_cli(capsys, files["bare.json"])[0] == 0  # no profile: structure only
    for profile in ("fr-core-patient-ins", terminology.PATIENT_INS):
        status, out, _ = run_cli(capsys, files["bare.json"], "--profile", profile, "--format", "json")
        assert status == 0 and json.loads(out)["results"][0]["profiles"] == [terminology.PATIENT_INS]
    assert run_cli(capsys, files["bad-key.json"], "--profile", "fr-core-patient")[0] == 0  # no INS rules there


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--profile", "fr-core-nope"], "unknown FHIR profile"),
    ],
)
def test_usage_errors_exit_2(files, capsys, args, says):
    status, _, err = run_cli(capsys, files["good.json"], *args)
    assert status == 2 and says in err


def test_profile_is_for_fhir_only(files, capsys):
    status = main(["validate", "cda", files["good.xml"], "--profile", "fr-core-patient-ins"])
    _, err = capsys.readouterr()
    assert status == 2 and "--profile" in err


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("not-json.json", "neither JSON nor XML"),
        ("array.json", "no resourceType"),
        ("deep.json", "nested"),
    ],
)
def test_unreadable_input_exits_2_with_a_reason(files, capsys, name, says):
    status, out, err = run_cli(capsys, files[name], "--format", "json")
    assert status == 2
    assert says in json.loads(out)["results"][0]["error"]
    assert "Traceback" not in out + err


def test_an_unknown_resource_type_is_a_finding(files, capsys):
    status, out, _ = run_cli(capsys, files["unknown-type.json"], "--format", "json")
    assert status == 1 and json.loads(out)["results"][0]["findings"][0]["rule"] == "fhir.json"


UNHELD = "https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-dr-nothing-held"


@pytest.fixture
def unheld(tmp_path):
    practitioner = practitioner_resource()
    practitioner["meta"] = {"profile": [UNHELD]}
    path = tmp_path / "unheld.json"
    path.write_text(json.dumps(practitioner))
    return str(path)


def test_a_profile_not_held_is_not_judged_exit_4(unheld, capsys):
    status, out, _ = run_cli(capsys, unheld, "--format", "json")
    result = json.loads(out)["results"][0]
    assert status == 4
    assert (result["verdict"], result["not_held"], result["valid"]) == ("not_judged", [UNHELD], False)
    status, out, _ = run_cli(capsys, unheld)
    assert status == 4 and f"NOT JUDGED (profiles not held: {UNHELD})" in out


def test_invalid_wins_over_not_judged_and_not_judged_over_valid(unheld, files, capsys):
    status, out, _ = run_cli(capsys, unheld, files["good.json"], "--format", "json")
    assert status == 4
    assert [r["verdict"] for r in json.loads(out)["results"]] == ["not_judged", "valid"]
    status, _, _ = run_cli(capsys, unheld, files["bad-key.json"])
    assert status == 1
    status, _, _ = run_cli(capsys, unheld, files["not-json.json"])
    assert status == 2


def test_the_run_verifier_does_not_pass_a_resource_with_a_profile_not_held():
    from harness.content.fhir import terminology as t
    from harness.content.fhir import validate_resource
    from harness.core.results import Severity, SkipKind
    from harness.core.skips import NotEvaluated
    from harness.run.verify import fhir as verify
    from suites.ins.persons import stored_identity

    bundle = document_bundle(stored_identity("ADRUN-ZOE"), "Compte rendu")
    assert verify.profile_findings(validate_resource(bundle, t.PDSM_PROVIDE_BUNDLE), t.PDSM_DOCUMENT_REFERENCE) == []
    reference = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "DocumentReference")
    reference["meta"]["profile"].append(UNHELD)
    report = validate_resource(bundle, t.PDSM_PROVIDE_BUNDLE)
    with pytest.raises(NotEvaluated) as raised:
        verify.profile_findings(report, t.PDSM_DOCUMENT_REFERENCE)
    assert raised.value.kind is SkipKind.PROFILE_NOT_HELD and UNHELD in raised.value.en
    # an error the held profiles found still fails it (PDSm 3.1.1 requires the authenticator)
    del reference["authenticator"]
    findings = verify.profile_findings(validate_resource(bundle, t.PDSM_PROVIDE_BUNDLE), t.PDSM_DOCUMENT_REFERENCE)
    assert any(f.severity is Severity.ERROR for f in findings)


def test_rules_beyond_the_guides_are_labelled_harness(files, tmp_path, capsys):
    status, out, _ = run_cli(capsys, files["bad-key.json"], "--format", "json")
    findings = json.loads(out)["results"][0]["findings"]
    key = next(f for f in findings if f["rule"] == "fhir.check.ins-matricule")
    assert key["rule_origin"] == "harness"
    assert all(f["rule_origin"] == "guide" for f in findings if not f["rule"].startswith("fhir.check."))
    patient = patient_resource(stored_identity("ADRUN-ZOE"), frozenset({"fhir_ins_bad_key"}))
    del patient["gender"]
    (tmp_path / "two.json").write_text(json.dumps(patient))
    status, out, _ = run_cli(capsys, str(tmp_path / "two.json"), "--format", "json")
    assert status == 1
    by_rule = {f["rule"]: f["rule_origin"] for f in json.loads(out)["results"][0]["findings"]}
    assert by_rule["fhir.check.ins-matricule"] == "harness" and by_rule["fhir.cardinality"] == "guide"
    _status, out, _ = run_cli(capsys, str(tmp_path / "two.json"))
    lines = out.splitlines()
    assert any("fhir.check.ins-matricule" in line and "(harness rule, beyond the guide)" in line for line in lines)
    assert not any("fhir.cardinality" in line and "harness rule" in line for line in lines)


def test_run_findings_keep_the_rule_origin():
    from harness.content.fhir import terminology as t
    from harness.content.fhir import validate_resource
    from harness.core.results import Finding
    from harness.run.verify import fhir as verify

    patient = patient_resource(stored_identity("ADRUN-ZOE"), frozenset({"fhir_ins_bad_key"}))
    findings = verify.profile_findings(validate_resource(patient, t.PATIENT_INS), t.PATIENT_INS)
    key = next(f for f in findings if f.rule == "fhir.check.ins-matricule")
    assert key.rule_origin == "harness" and key.to_dict()["rule_origin"] == "harness"
    assert Finding.from_dict(key.to_dict()) == key
    assert key.describe("en").endswith("(harness rule, beyond the guide)")
    assert key.describe("fr").endswith("(règle du harnais, au-delà du guide)")
    assert "rule_origin" not in Finding("x.rule", "a message").to_dict()


def test_jobs_judge_fhir_files_in_processes_with_the_same_results_in_order(files, capsys, monkeypatch):
    """FHIR judging is pure Python: threads would share one core, so --jobs forks processes."""
    from concurrent import futures

    from harness.content import validate_parallel

    names = sorted(files)
    argv = [*(files[n] for n in names * 3), "--format", "json"]
    sequential = run_cli(capsys, *argv)
    used: list[str] = []
    real = futures.ProcessPoolExecutor

    def recording(*args, **kwargs):
        used.append("processes")
        return real(*args, **kwargs)

    monkeypatch.setattr(validate_parallel, "ProcessPoolExecutor", recording)
    parallel = run_cli(capsys, *argv, "--jobs", "2")
    assert used == ["processes"]
    assert sequential == parallel
    assert [r["file"] for r in json.loads(parallel[1])["results"]] == [files[n] for n in names * 3]
