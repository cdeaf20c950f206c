"""The INS library: matricule keys (with hypothesis), OIDs, RNIV statuses, COG codes."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.core import ins

CNDA_MATRICULES = {
    "ADRUN ZOE": "275126322074974",
    "CORSE ANTHONY": "180032B02040123",
    "ECETINSI PIERRE-ALAIN": "109076322083489",
    "NESSI MICHELANGELO": "110086322083060",
    "TCHITCHI CATARINA": "236066322083656",
    "PROVISOIRE MATRICULE (NIA)": "109076322088835",
}

digits = st.text("0123456789", min_size=1, max_size=1)


@st.composite
def bodies(draw: st.DrawFn) -> str:
    """13-character bodies: sex, YY, MM, department (01-95, 2A/2B), commune, order."""
    sex = draw(st.sampled_from("12"))
    year = f"{draw(st.integers(0, 99)):02d}"
    month = f"{draw(st.integers(1, 12)):02d}"
    department = draw(st.sampled_from(["2A", "2B"]) | st.integers(1, 95).map(lambda d: f"{d:02d}"))
    rest = f"{draw(st.integers(0, 999)):03d}{draw(st.integers(1, 999)):03d}"
    return sex + year + month + department + rest


@pytest.mark.parametrize(("who", "matricule"), sorted(CNDA_MATRICULES.items()))
def test_cnda_test_persons_are_valid(who, matricule):
    assert ins.matricule_problems(matricule) == [], who


def test_hermann_gatien_key_is_inconsistent_in_the_source():
    # facts §1.4: the published key 60 does not match its body; the computed key is 76.
    assert ins.matricule_problems("181036322045660") == ["key 60 does not match the body: expected 76"]


def test_corsica_replaces_2a_2b_before_computing():
    assert ins.compute_key("180032B020401") == "23"
    assert ins.compute_key("180032B020401") == f"{97 - int('1800318020401') % 97:02d}"


@given(bodies())
def test_computed_key_makes_a_valid_matricule(body):
    key = ins.compute_key(body)
    assert len(key) == 2 and 1 <= int(key) <= 97
    assert ins.is_valid_matricule(body + key)


@given(bodies(), st.integers(0, 99))
def test_any_other_key_is_refused(body, other):
    assume_key = f"{other:02d}"
    valid = assume_key == ins.compute_key(body)
    assert ins.is_valid_matricule(body + assume_key) is valid


@given(bodies(), st.integers(7, 12), digits)
def test_changing_one_digit_of_the_body_changes_the_key(body, position, digit):
    if body[position] == digit:
        return
    changed = body[:position] + digit + body[position + 1 :]
    assert ins.compute_key(changed) != ins.compute_key(body)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("27512632207497", "15 characters"),
        ("2751263220749A4", "key"),
        ("2751A6322074974", "body"),
        ("180031B02040123", "body"),  # a letter outside the Corsica department position
        ("375126322074974", "first digit"),
        ("275136322074974", "month"),
    ],
)
def test_bad_matricules_say_why(value, problem):
    assert any(problem in p for p in ins.matricule_problems(value)), ins.matricule_problems(value)


def test_every_dmp_test_patient_key_is_valid(reference):
    patients = json.loads((reference / "dmp" / "test_patients_dmp.json").read_text(encoding="utf-8"))
    values = [str(p["matriculeInsNir"]) for p in patients if p.get("matriculeInsNir")]
    assert len(values) >= 90
    assert [v for v in values if not ins.is_valid_matricule(v)] == []


def test_oid_kinds():
    assert ins.oid_kind(ins.OID_INS_NIR) == "NIR"
    assert ins.oid_kind(ins.OID_INS_NIA) == "NIA"
    assert ins.oid_kind(ins.OID_INS_NIR_TEST) == "NIR-TEST"
    assert ins.oid_kind(ins.OID_INS_NIR_DEMO) == "NIR-DEMO"
    assert ins.oid_kind("1.2.250.1.213.1.4.2") is None  # legacy INS-C is not an INS OID
    assert len(ins.INS_OIDS) == 4


@pytest.mark.parametrize(
    ("retrieved", "checked", "status"),
    [(False, False, "PROV"), (True, False, "RECUP"), (False, True, "VALI"), (True, True, "QUAL")],
)
def test_status_after_and_only_qual_carries_the_ins(retrieved, checked, status):
    result = ins.status_after(retrieved_from_insi=retrieved, identity_document_checked=checked)
    assert result.value == status
    assert ins.may_carry_ins_in_exchanges(result) is (status == "QUAL")


@pytest.mark.parametrize("code", ["63220", "2B020", "2A004", "75056", "97411", "99100"])
def test_valid_cog_codes(code):
    assert ins.is_valid_cog(code)


@pytest.mark.parametrize("code", ["6322", "20004", "00100", "2C020", "ABCDE", "632200"])
def test_invalid_cog_codes(code):
    assert ins.cog_problems(code)


def test_normalise_name_keeps_accents_and_hyphens():
    assert ins.normalise_name("  de  Vinci ") == "DE VINCI"
    assert ins.normalise_name("pierre-alain") == "PIERRE-ALAIN"
    assert ins.normalise_name("Hélène") == "HÉLÈNE"


@pytest.mark.parametrize(
    ("value", "unknown"),
    [("1981-01-00", True), ("1982-00-14", True), ("1982-00-00", True), ("1982-01-10", False), ("2000-10-01", False)],
)
def test_birth_date_with_00_day_or_month_is_spotted(value, unknown):
    assert ins.birth_date_has_unknown_part(value) is unknown


@pytest.mark.parametrize(("before", "after"), [("QUAL", "VALI"), ("RECUP", "PROV"), ("VALI", "VALI"), ("PROV", "PROV")])
def test_failed_verification_downgrades_one_level(before, after):
    assert ins.status_after_failed_verification(ins.IdentityStatus(before)) is ins.IdentityStatus(after)
