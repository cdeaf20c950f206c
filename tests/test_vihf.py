"""The VIHF builder, signer and verifier (harness.protocols.vihf), against the harness PKI and the kit samples."""

from __future__ import annotations

import base64
import copy
import dataclasses
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from lxml import etree

from harness.core import ins, pki
from harness.protocols import vihf

SAML2, DS, HL7 = vihf.SAML2, vihf.DS, vihf.HL7
SAMPLES_SIGNED = ("VIHF_DIRECTE_sign.xml", "VIHF_INDIRECTE_sign.xml", "VIHF_INDIRECTE_RENFORCEE_sign.xml")
SAMPLE_UNSIGNED = "VIHF_DIRECTE_non_sign.xml"
# Values of the official samples (facts §2.4): the test patient and its INS-NIR TEST OID.
PATIENT = f"207058575627097^^^&{ins.OID_INS_NIR_TEST}&ISO^NH"
EVIL_PATIENT = f"279035121518989^^^&{ins.OID_INS_NIR_TEST}&ISO^NH"  # PAT-TROIS DOMINIQUE, facts §2.7
EVIL_NAME_ID = "899900099999"
MEDECIN = vihf.Role("10", vihf.CS_G15, "Médecin")
SM26 = vihf.Role("SM26", vihf.CS_R01, "Qualifié en Médecine Générale (SM)")
PHARMACIEN = vihf.Role("21", vihf.CS_G15, "Pharmacien")  # G15 labels from ANS JDV_J01 (reference corpus)
INFIRMIER = vihf.Role("60", vihf.CS_G15, "Infirmier")
# The test PKI is valid from yesterday for a year; whole seconds so that IssueInstant round-trips.
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def claims(**overrides: Any) -> vihf.VihfClaims:
    base = vihf.VihfClaims(
        name_id="899900063480",
        structure_id="499900063480001",
        secteur_activite="SA07^1.2.250.1.71.4.2.4",
        roles=(MEDECIN, SM26),
        patient_id=PATIENT,
    )
    return dataclasses.replace(base, **overrides)


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> pki.PkiLayout:
    return pki.init_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def trusted(layout: pki.PkiLayout) -> tuple[x509.Certificate, ...]:
    return tuple(x509.load_pem_x509_certificate(p.read_bytes()) for p in layout.intermediate_ca_pems.values())


def signer_for(layout: pki.PkiLayout, name: str, **kwargs: str) -> vihf.VihfSigner:
    credential = layout.client(name)
    return vihf.VihfSigner.from_files(credential.key_pem, credential.cert_pem, **kwargs)


@pytest.fixture(scope="module")
def signer(layout: pki.PkiLayout) -> vihf.VihfSigner:
    return signer_for(layout, "cps-signature")


@pytest.fixture
def signed(signer: vihf.VihfSigner) -> etree._Element:
    return signer.sign(vihf.build_assertion(claims(), issuer=signer.issuer, issue_instant=NOW))


def verify(assertion: etree._Element | None, trusted: tuple[x509.Certificate, ...], **kwargs: Any) -> vihf.VihfCheck:
    kwargs.setdefault("now", NOW + dt.timedelta(minutes=1))
    return vihf.verify_assertion(assertion, trusted=trusted, **kwargs)


def codes(problems: list[vihf.VihfProblem]) -> set[str]:
    return {p.code for p in problems}


def load_sample(reference: Path, name: str) -> etree._Element:
    raw = (reference / "dmp" / "vihf" / name).read_bytes()
    try:
        return etree.fromstring(raw)
    except etree.XMLSyntaxError:
        # The two DIRECTE samples mix a Latin-1 "è" into UTF-8 text and have no XML declaration.
        return etree.fromstring(b'<?xml version="1.0" encoding="ISO-8859-1"?>' + raw)


def sample_now(assertion: etree._Element) -> dt.datetime:
    instant = dt.datetime.fromisoformat(assertion.get("IssueInstant", ""))
    return instant + dt.timedelta(minutes=1)


def without_signature(assertion: etree._Element) -> etree._Element:
    stripped = copy.deepcopy(assertion)
    for signature in stripped.findall(f"{{{DS}}}Signature"):
        stripped.remove(signature)
    return stripped


def all_values(check: vihf.VihfCheck) -> list[str]:
    return [value for values in check.attributes.values() for value in values]


# --- build, sign, verify ---------------------------------------------------------------------


def test_round_trip_is_valid_trusted_and_complete(signer: vihf.VihfSigner, trusted, signed) -> None:
    check = verify(signed, trusted)
    assert (check.present, check.signature, check.trusted, check.signature_certificate) == (True, "valid", True, True)
    assert check.problems == []
    assert vihf.check_attributes(check) == []
    assert check.signer_subject == signer.issuer
    assert check.name_id == "899900063480"
    assert check.issue_instant == NOW
    assert check.authn_context == vihf.SMARTCARD_PKI
    assert check.attributes[vihf.ATTR_ROLE] == ["10^1.2.250.1.71.1.2.7", "SM26^1.2.250.1.71.4.2.5"]
    assert check.attributes[vihf.ATTR_PURPOSE] == ["normal^1.2.250.1.213.1.1.4.248"]
    assert check.attributes[vihf.ATTR_RESOURCE_ID] == [PATIENT]


def test_signature_layout_follows_saml_schema_order(signed: etree._Element, signer: vihf.VihfSigner) -> None:
    assert [etree.QName(c).localname for c in signed][:3] == ["Issuer", "Signature", "Subject"]
    assert signed.findtext(f"{{{SAML2}}}Issuer") == signer.issuer
    signature = signed[1]
    assert signature.tag == f"{{{DS}}}Signature"
    reference = signature.find(f"{{{DS}}}SignedInfo/{{{DS}}}Reference")
    assert reference is not None and reference.get("URI") == "#" + signed.get("ID", "")
    transforms = [t.get("Algorithm") for t in reference.iter(f"{{{DS}}}Transform")]
    assert transforms == ["http://www.w3.org/2000/09/xmldsig#enveloped-signature", vihf.EXC_C14N]
    method = signature.find(f"{{{DS}}}SignedInfo/{{{DS}}}SignatureMethod")
    assert method is not None and method.get("Algorithm", "").endswith("rsa-sha256")
    certificates = signature.findall(f".//{{{DS}}}X509Certificate")
    assert len(certificates) == 1  # the leaf only, like the samples
    der = base64.b64decode("".join((certificates[0].text or "").split()))
    assert x509.load_der_x509_certificate(der) == signer.certificate


def test_sign_leaves_its_input_alone_and_ids_are_fresh(signer: vihf.VihfSigner) -> None:
    assertion = vihf.build_assertion(claims(), issuer=signer.issuer)
    before = etree.tostring(assertion)
    signer.sign(assertion)
    assert etree.tostring(assertion) == before
    other = vihf.build_assertion(claims(), issuer=signer.issuer)
    assert assertion.get("ID", "").startswith("_") and assertion.get("ID") != other.get("ID")


def test_built_token_has_the_structure_of_the_official_sample(reference: Path, signer: vihf.VihfSigner) -> None:
    def shape(assertion: etree._Element) -> list[tuple[str | None, ...]]:
        rows: list[tuple[str | None, ...]] = [(etree.QName(c).localname,) for c in assertion]
        for attribute in assertion.iter(f"{{{SAML2}}}Attribute"):
            for value in attribute.findall(f"{{{SAML2}}}AttributeValue"):
                ce = value.find("*")
                kind = value.get(f"{{{vihf.XSI}}}type") if ce is None else ce.get(f"{{{vihf.XSI}}}type")
                rows.append((attribute.get("Name"), kind, None if ce is None else ce.tag))
        return rows

    sample = load_sample(reference, SAMPLE_UNSIGNED)
    built = vihf.build_assertion(claims(), issuer=signer.issuer)
    assert shape(built) == shape(sample)
    purpose = built.find(f".//{{{HL7}}}PurposeOfUse")
    assert purpose is not None
    assert purpose.get("codeSystemName") == "mode acces VIHF 2.0"
    assert purpose.get("displayName") == "Accès normal"


def test_optional_attributes_and_conditions(signer: vihf.VihfSigner, trusted) -> None:
    token = vihf.build_assertion(
        claims(
            auth_mode="INDIRECTE",
            subject_name="MAX LIBRE",
            confidentiality_code="INVISIBLE_REPRESENTANTS_LEGAUX",
            mode_acces_raison="motif",
        ),
        issuer=signer.issuer,
        issue_instant=NOW,
        lifetime=dt.timedelta(minutes=10),
    )
    conditions = token.find(f"{{{SAML2}}}Conditions")
    expected_end = (NOW + dt.timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert conditions is not None and conditions.get("NotOnOrAfter") == expected_end
    check = verify(signer.sign(token), trusted)
    assert check.problems == [] and vihf.check_attributes(check) == []
    assert check.attributes[vihf.ATTR_SUBJECT_ID] == ["MAX LIBRE"]
    assert check.attributes[vihf.ATTR_CONFIDENTIALITY] == ["INVISIBLE_REPRESENTANTS_LEGAUX"]
    assert check.attributes[vihf.ATTR_MODE_ACCES_RAISON] == ["motif"]


def test_legacy_rsa_sha1_signs_and_verifies(layout: pki.PkiLayout, trusted) -> None:
    legacy = signer_for(layout, "cps-signature", algorithm="rsa-sha1")
    token = legacy.sign(vihf.build_assertion(claims(), issuer=legacy.issuer, issue_instant=NOW))
    assert token.find(f".//{{{DS}}}SignatureMethod").get("Algorithm").endswith("#rsa-sha1")
    assert verify(token, trusted).signature == "valid"


def test_signer_refuses_bad_setups(layout: pki.PkiLayout) -> None:
    credential = layout.client("cps-signature")
    with pytest.raises(ValueError, match="unsupported signature algorithm"):
        vihf.VihfSigner.from_files(credential.key_pem, credential.cert_pem, algorithm="hmac-sha256")
    with pytest.raises(ValueError, match="does not match"):
        vihf.VihfSigner.from_files(layout.server.key_pem, credential.cert_pem)
    with pytest.raises(ValueError, match="NameIDD"):
        vihf.build_assertion(claims(omit=frozenset({"NameIDD"})), issuer="CN=x")


# --- signer trust and certificate kind ---------------------------------------------------------


def test_unknown_ca_signer_is_untrusted(layout: pki.PkiLayout, trusted) -> None:
    other = signer_for(layout, "unknown-ca")
    check = verify(other.sign(vihf.build_assertion(claims(), issuer=other.issuer, issue_instant=NOW)), trusted)
    assert check.signature == "valid" and not check.trusted
    # That credential is a client-authentication profile, hence the second finding.
    assert codes(check.problems) == {"untrusted_signer", "not_signature_certificate"}


def test_pinned_leaf_is_trusted_without_its_ca(signer: vihf.VihfSigner, signed) -> None:
    assert verify(signed, (signer.certificate,)).trusted
    assert not verify(signed, ()).trusted


def test_organisation_certificate_is_not_a_signature_certificate(layout: pki.PkiLayout, trusted) -> None:
    org = signer_for(layout, "dmp-org")
    check = verify(org.sign(vihf.build_assertion(claims(), issuer=org.issuer, issue_instant=NOW)), trusted)
    assert check.signature == "valid" and check.trusted
    assert check.signature_certificate is False
    assert codes(check.problems) == {"not_signature_certificate"}


def test_signer_outside_its_validity_is_untrusted(signed, trusted) -> None:
    check = verify(signed, trusted, now=NOW + dt.timedelta(days=3 * 365), max_age=None)
    assert check.signature == "valid" and not check.trusted
    assert codes(check.problems) == {"untrusted_signer"}


# --- time ------------------------------------------------------------------------------------------


def test_expiry_by_max_age(signed, trusted) -> None:
    later = NOW + dt.timedelta(hours=13)
    assert verify(signed, trusted, now=later).has("expired")
    assert not verify(signed, trusted, now=later, max_age=None).problems
    assert not verify(signed, trusted, now=NOW + dt.timedelta(hours=11)).problems


def test_expiry_and_start_by_conditions(signer: vihf.VihfSigner, trusted) -> None:
    token = signer.sign(
        vihf.build_assertion(claims(), issuer=signer.issuer, issue_instant=NOW, lifetime=dt.timedelta(minutes=5))
    )
    assert verify(token, trusted, now=NOW + dt.timedelta(minutes=4), max_age=None).problems == []
    assert codes(verify(token, trusted, now=NOW + dt.timedelta(minutes=11), max_age=None).problems) == {"expired"}
    early = verify(token, trusted, now=NOW - dt.timedelta(minutes=6), max_age=None)
    assert codes(early.problems) == {"not_yet_valid"}


def test_future_issue_instant(signer: vihf.VihfSigner, trusted) -> None:
    ahead = signer.sign(vihf.build_assertion(claims(), issuer=signer.issuer, issue_instant=NOW + dt.timedelta(hours=1)))
    assert codes(verify(ahead, trusted, now=NOW).problems) == {"not_yet_valid"}
    within_skew = signer.sign(
        vihf.build_assertion(claims(), issuer=signer.issuer, issue_instant=NOW + dt.timedelta(minutes=2))
    )
    assert verify(within_skew, trusted, now=NOW).problems == []


@pytest.mark.parametrize("value", [None, "yesterday", "2026-03-02", "20260302T100000Z"])
def test_bad_issue_instant(signer: vihf.VihfSigner, trusted, value: str | None) -> None:
    token = vihf.build_assertion(claims(), issuer=signer.issuer, issue_instant=NOW)
    if value is None:
        del token.attrib["IssueInstant"]
    else:
        token.set("IssueInstant", value)
    check = verify(signer.sign(token), trusted)
    assert check.signature == "valid"
    assert codes(check.problems) == {"bad_issue_instant"}


# --- integrity and signature wrapping --------------------------------------------------------------


def test_tampered_attribute_is_invalid_and_not_read(signed, trusted) -> None:
    value = signed.find(f".//{{{SAML2}}}Attribute[@Name='Identifiant_Structure']/{{{SAML2}}}AttributeValue")
    assert value is not None
    value.text = "499900099999001"
    check = verify(signed, trusted)
    assert check.signature == "invalid" and codes(check.problems) == {"signature_invalid"}
    assert check.attributes == {} and check.name_id is None


def test_unsigned_token_is_read_but_flagged(signer: vihf.VihfSigner, trusted) -> None:
    check = verify(vihf.build_assertion(claims(), issuer=signer.issuer, issue_instant=NOW), trusted)
    assert check.signature == "absent" and codes(check.problems) == {"signature_absent"}
    relaxed = verify(
        vihf.build_assertion(claims(), issuer=signer.issuer, issue_instant=NOW), trusted, require_signature=False
    )
    assert codes(relaxed.problems) == {"signature_absent"}
    assert vihf.check_attributes(relaxed) == []


def test_comment_inside_name_id_does_not_truncate_it(signed, trusted) -> None:
    # Comments are outside exclusive c14n, so the signature stays valid; the name must stay whole.
    name_id = signed.find(f"{{{SAML2}}}Subject/{{{SAML2}}}NameID")
    assert name_id is not None
    name_id.text = "899900"
    comment = etree.Comment("x")
    comment.tail = "063480"
    name_id.append(comment)
    check = verify(signed, trusted)
    assert check.signature == "valid" and check.name_id == "899900063480"


def _evil(signer: vihf.VihfSigner, same_id_as: etree._Element | None = None) -> etree._Element:
    evil = vihf.build_assertion(
        claims(name_id=EVIL_NAME_ID, patient_id=EVIL_PATIENT), issuer=signer.issuer, issue_instant=NOW
    )
    if same_id_as is not None:
        evil.set("ID", same_id_as.get("ID", ""))
    return evil


def _steal_signature(good: etree._Element, evil: etree._Element) -> etree._Element:
    signature = copy.deepcopy(good.find(f"{{{DS}}}Signature"))
    assert signature is not None
    evil.find(f"{{{SAML2}}}Issuer").addnext(signature)
    return signature


def xsw_in_advice(signer, good, same_id: bool) -> etree._Element:
    evil = _evil(signer, good if same_id else None)
    _steal_signature(good, evil)
    advice = etree.Element(f"{{{SAML2}}}Advice")
    advice.append(without_signature(good))
    evil.find(f"{{{SAML2}}}Subject").addnext(advice)
    return evil


def xsw_in_signature_object(signer, good, same_id: bool) -> etree._Element:
    evil = _evil(signer, good if same_id else None)
    signature = _steal_signature(good, evil)
    holder = etree.SubElement(signature, f"{{{DS}}}Object")
    holder.append(without_signature(good))
    return evil


def xsw_in_extension(signer, good, same_id: bool) -> etree._Element:
    evil = _evil(signer, good if same_id else None)
    _steal_signature(good, evil)
    confirmation = etree.SubElement(evil.find(f"{{{SAML2}}}Subject"), f"{{{SAML2}}}SubjectConfirmation")
    data = etree.SubElement(confirmation, f"{{{SAML2}}}SubjectConfirmationData")
    wrapper = etree.SubElement(data, "{urn:example:evil}Extensions")
    wrapper.append(copy.deepcopy(good))
    return evil


def xsw_signed_original_nested_evil_unsigned(signer, good, same_id: bool) -> etree._Element:
    evil = _evil(signer, good if same_id else None)
    advice = etree.Element(f"{{{SAML2}}}Advice")
    advice.append(copy.deepcopy(good))
    evil.find(f"{{{SAML2}}}Subject").addnext(advice)
    return evil


def xsw_original_dropped(signer, good, same_id: bool) -> etree._Element:
    evil = _evil(signer, good if same_id else None)
    _steal_signature(good, evil)
    return evil


XSW: dict[str, Callable[..., etree._Element]] = {
    "in-advice": xsw_in_advice,
    "in-signature-object": xsw_in_signature_object,
    "in-extension": xsw_in_extension,
    "signed-original-nested": xsw_signed_original_nested_evil_unsigned,
    "original-dropped": xsw_original_dropped,
}


@pytest.mark.parametrize("same_id", [False, True], ids=["new-id", "same-id"])
@pytest.mark.parametrize("variant", sorted(XSW))
def test_signature_wrapping_never_yields_evil_content(signer, signed, trusted, variant: str, same_id: bool) -> None:
    attack = XSW[variant](signer, signed, same_id)
    check = verify(attack, trusted)
    assert check.signature != "valid"
    assert check.has("signature_wrapping") or check.has("signature_invalid")
    if variant != "original-dropped":
        assert check.has("signature_wrapping")
    assert check.name_id != EVIL_NAME_ID
    assert EVIL_PATIENT not in all_values(check)
    assert not check.trusted


def test_wrapping_at_the_security_level(signer, signed, trusted) -> None:
    header = etree.Element("{http://www.w3.org/2003/05/soap-envelope}Header")
    security = etree.SubElement(header, f"{{{vihf.WSSE}}}Security")
    evil = _evil(signer, signed)
    _steal_signature(signed, evil)
    security.append(evil)
    security.append(copy.deepcopy(signed))
    assertion, problems = vihf.find_assertion(header)
    assert assertion is None and codes(problems) == {"several_assertions"}
    # The original hidden in a wrapper beside the evil one: only the evil one is found, and refused.
    security.remove(security[1])
    etree.SubElement(security, "{urn:example:evil}Wrapper").append(copy.deepcopy(signed))
    assertion, problems = vihf.find_assertion(header)
    assert assertion is not None and problems == []
    check = verify(assertion, trusted)
    assert check.signature == "invalid" and check.name_id is None
    evil.set("ID", "_other")
    check = verify(vihf.find_assertion(header)[0], trusted)
    assert codes(check.problems) == {"signature_wrapping"}


def test_reference_to_something_else_is_wrapping(signed, trusted) -> None:
    reference = signed.find(f".//{{{DS}}}Reference")
    assert reference is not None
    reference.set("URI", "")
    assert codes(verify(signed, trusted).problems) == {"signature_wrapping"}


@pytest.mark.parametrize(
    "damage",
    [
        "not-an-assertion",
        "no-key-info",
        "certificate-not-base64",
        "certificate-garbage",
        "signature-value-garbage",
        "empty-signature",
        "no-id",
        "two-signatures",
    ],
)
def test_bad_input_never_raises(signed, trusted, damage: str) -> None:
    signature = signed.find(f"{{{DS}}}Signature")
    assert signature is not None
    certificate = signature.find(f".//{{{DS}}}X509Certificate")
    assert certificate is not None
    target: etree._Element = signed
    if damage == "not-an-assertion":
        target = etree.Element("{urn:example}Other")
    elif damage == "no-key-info":
        signature.remove(signature.find(f"{{{DS}}}KeyInfo"))
    elif damage == "certificate-not-base64":
        certificate.text = "***"
    elif damage == "certificate-garbage":
        certificate.text = base64.b64encode(b"\x30\x03\x02\x01\x01").decode()
    elif damage == "signature-value-garbage":
        signature.find(f"{{{DS}}}SignatureValue").text = "AAAA"
    elif damage == "empty-signature":
        for child in list(signature):
            signature.remove(child)
    elif damage == "no-id":
        del signed.attrib["ID"]
    elif damage == "two-signatures":
        signature.addnext(copy.deepcopy(signature))
    check = verify(target, trusted)
    assert check.signature != "valid" and check.problems
    assert check.attributes == {}


def test_no_assertion() -> None:
    check = vihf.verify_assertion(None)
    assert not check.present and codes(check.problems) == {"missing"}


# --- find_assertion ---------------------------------------------------------------------------------


def test_find_assertion_in_the_official_request(reference: Path) -> None:
    request = etree.parse(str(reference / "dmp" / "messages" / "TD0.2_-_Test_dexistence_requete.xml")).getroot()
    header = request.find("{http://www.w3.org/2003/05/soap-envelope}Header")
    assertion, problems = vihf.find_assertion(header)
    assert problems == [] and assertion is not None
    assert assertion.get("ID") == "_ce088e5a-e31d-42d0-ba37-fda5fcbc889d"
    assert vihf.find_assertion(request)[0] is assertion  # an Envelope is accepted too


def test_find_assertion_missing_cases(signed) -> None:
    assert codes(vihf.find_assertion(None)[1]) == {"missing"}
    header = etree.Element("{http://www.w3.org/2003/05/soap-envelope}Header")
    assert codes(vihf.find_assertion(header)[1]) == {"missing"}
    old = etree.SubElement(header, "{http://schemas.xmlsoap.org/ws/2002/07/secext}Security")
    old.append(copy.deepcopy(signed))
    assertion, problems = vihf.find_assertion(header)
    assert assertion is None and "wrong namespace" in problems[0].message
    security = etree.SubElement(header, f"{{{vihf.WSSE}}}Security")
    assert codes(vihf.find_assertion(header)[1]) == {"missing"}
    etree.SubElement(security, "{urn:example}Holder").append(copy.deepcopy(signed))
    assertion, problems = vihf.find_assertion(header)
    assert assertion is None and "direct child" in problems[0].message


# --- official samples -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLES_SIGNED)
def test_official_signed_samples(reference: Path, name: str) -> None:
    """The SignedInfo signatures hold (rsa-sha1 with the embedded IGC-Santé TEST certificate),
    but no sample's digest matches its content: the kit edited the tokens after signing."""
    sample = load_sample(reference, name)
    check = vihf.verify_assertion(sample, now=sample_now(sample))
    assert check.signature == "invalid"
    assert codes(check.problems) == {"signature_invalid"}
    assert "SignedInfo signature verifies" in check.problems[0].message
    assert check.attributes == {}


@pytest.mark.parametrize("name", SAMPLES_SIGNED)
def test_official_sample_certificates_are_trusted_only_when_pinned(reference: Path, name: str) -> None:
    sample = load_sample(reference, name)
    text = sample.findtext(f".//{{{DS}}}X509Certificate") or ""
    der = base64.b64decode("".join(text.split()))
    if name == "VIHF_DIRECTE_sign.xml":
        # Its subject's multi-valued RDN is not sorted as DER requires: cryptography refuses it.
        with pytest.raises(ValueError, match="InvalidSetOrdering"):
            x509.load_der_x509_certificate(der)
        return
    certificate = x509.load_der_x509_certificate(der)
    at = sample_now(sample)
    assert vihf.trust_problem(certificate, [certificate], now=at) is None
    assert "not trusted" in (vihf.trust_problem(certificate, [], now=at) or "")
    assert "expired" in (vihf.trust_problem(certificate, [certificate], now=NOW) or "")


def test_official_unsigned_sample(reference: Path) -> None:
    sample = load_sample(reference, SAMPLE_UNSIGNED)
    check = vihf.verify_assertion(sample, now=sample_now(sample), require_signature=False)
    assert check.signature == "absent" and codes(check.problems) == {"signature_absent"}
    assert check.name_id == "899900063480"
    assert vihf.check_attributes(check) == []


@pytest.mark.parametrize("name", (SAMPLE_UNSIGNED, *SAMPLES_SIGNED))
def test_official_sample_content_passes_the_rules(reference: Path, name: str) -> None:
    sample = without_signature(load_sample(reference, name))
    check = vihf.verify_assertion(sample, now=sample_now(sample), require_signature=False)
    assert vihf.check_attributes(check) == []


# --- content rules ----------------------------------------------------------------------------------


def _set_value(name: str, value: str) -> Callable[[etree._Element], None]:
    def mutate(assertion: etree._Element) -> None:
        holder = assertion.find(f".//{{{SAML2}}}Attribute[@Name='{name}']/{{{SAML2}}}AttributeValue")
        assert holder is not None
        holder.text = value

    return mutate


def _purpose_code_system(assertion: etree._Element) -> None:
    purpose = assertion.find(f".//{{{HL7}}}PurposeOfUse")
    assert purpose is not None
    purpose.set("codeSystem", vihf.CS_G15)


def omit(*names: str) -> dict[str, Any]:
    return {"omit": frozenset(names)}


RULES: list[tuple[str, dict[str, Any], Callable[[etree._Element], None] | None, str]] = [
    ("version-missing", omit(vihf.ATTR_VERSION), None, "attribute:VIHF_Version"),
    ("version-empty", {"version": ""}, None, "attribute:VIHF_Version"),
    ("structure-missing", omit(vihf.ATTR_STRUCTURE), None, "attribute:Identifiant_Structure"),
    ("structure-empty", {"structure_id": " "}, None, "attribute:Identifiant_Structure"),
    ("secteur-missing", omit(vihf.ATTR_SECTEUR), None, "attribute:Secteur_Activite"),
    ("secteur-one-digit", {"secteur_activite": "SA7^1.2.250.1.71.4.2.4"}, None, "attribute:Secteur_Activite"),
    ("secteur-no-system", {"secteur_activite": "SA07"}, None, "attribute:Secteur_Activite"),
    ("mode-missing", omit(vihf.ATTR_AUTH_MODE), None, "attribute:Authentification_mode"),
    ("mode-unknown", {"auth_mode": "DIRECT"}, None, "attribute:Authentification_mode"),
    ("role-missing", omit(vihf.ATTR_ROLE), None, "attribute:role"),
    ("role-reversed", {"roles": (SM26, MEDECIN)}, None, "attribute:role"),
    ("role-second-not-r01", {"roles": (INFIRMIER, INFIRMIER)}, None, "attribute:role"),
    ("role-three-values", {"roles": (MEDECIN, SM26, SM26)}, None, "attribute:role"),
    ("resource-missing", omit(vihf.ATTR_RESOURCE_ID), None, "attribute:resource-id"),
    ("resource-bad-key", {"patient_id": PATIENT.replace("097^", "098^")}, None, "attribute:resource-id"),
    (
        "resource-not-ins-oid",
        {"patient_id": PATIENT.replace(ins.OID_INS_NIR_TEST, "1.2.250.1.213.1.4.2")},
        None,
        "attribute:resource-id",
    ),
    ("resource-bare-ins", {"patient_id": "207058575627097"}, None, "attribute:resource-id"),
    ("urn-missing", omit(vihf.ATTR_RESOURCE_URN), None, "attribute:Ressource_URN"),
    ("urn-wrong", {}, _set_value(vihf.ATTR_RESOURCE_URN, "urn:dmp:x"), "attribute:Ressource_URN"),
    ("purpose-missing", omit(vihf.ATTR_PURPOSE), None, "attribute:purposeofuse"),
    ("purpose-code-system", {}, _purpose_code_system, "attribute:purposeofuse"),
    ("lps-id-missing", omit(vihf.ATTR_LPS_ID), None, "attribute:LPS_ID"),
    ("lps-nom-empty", {"lps_nom": ""}, None, "attribute:LPS_Nom"),
    ("lps-version-missing", omit(vihf.ATTR_LPS_VERSION), None, "attribute:LPS_Version"),
    ("lps-homologation-missing", omit(vihf.ATTR_LPS_HOMOLOGATION), None, "attribute:LPS_ID_HOMOLOGATION_DMP"),
    ("name-id-missing", omit(vihf.PART_NAME_ID), None, "attribute:NameID"),
    ("name-id-empty", {"name_id": ""}, None, "attribute:NameID"),
    ("authn-context-missing", omit(vihf.PART_AUTHN_CONTEXT), None, "attribute:AuthnContextClassRef"),
    ("specialty-medecin", {"roles": (MEDECIN,)}, None, "attribute:specialty"),
    ("specialty-pharmacien", {"roles": (PHARMACIEN,)}, None, "attribute:specialty"),
]


@pytest.mark.parametrize(("overrides", "mutate", "expected"), [r[1:] for r in RULES], ids=[r[0] for r in RULES])
def test_each_rule_fails_on_its_defect(signer, trusted, overrides, mutate, expected: str) -> None:
    token = vihf.build_assertion(claims(**overrides), issuer=signer.issuer, issue_instant=NOW)
    if mutate is not None:
        mutate(token)
    check = verify(signer.sign(token), trusted)
    assert check.signature == "valid"
    assert codes(vihf.check_attributes(check)) == {expected}


def test_missing_specialty_message_is_the_dmp_one(signer, trusted) -> None:
    token = signer.sign(vihf.build_assertion(claims(roles=(MEDECIN,)), issuer=signer.issuer, issue_instant=NOW))
    (problem,) = vihf.check_attributes(verify(token, trusted))
    assert problem.message.startswith("Aucune spécialité dans le vihf")


@pytest.mark.parametrize(
    "overrides",
    [
        {"roles": (INFIRMIER,)},  # a specialty is only mandatory for médecins and pharmaciens
        {"auth_mode": "INDIRECTE", "roles": (MEDECIN, SM26), "subject_name": "MAX LIBRE"},
        {"auth_mode": "INDIRECTE_RENFORCEE", "roles": (INFIRMIER,)},
        {"auth_mode": "AIR", "roles": (INFIRMIER,)},
    ],
    ids=["infirmier-without-specialty", "indirecte", "indirecte-renforcee-one-role", "air-one-role"],
)
def test_acceptable_role_shapes(signer, trusted, overrides) -> None:
    token = signer.sign(vihf.build_assertion(claims(**overrides), issuer=signer.issuer, issue_instant=NOW))
    assert vihf.check_attributes(verify(token, trusted)) == []


def test_patient_is_optional_when_not_needed(signer, trusted) -> None:
    token = signer.sign(vihf.build_assertion(claims(patient_id=None), issuer=signer.issuer, issue_instant=NOW))
    check = verify(token, trusted)
    assert vihf.check_attributes(check, needs_patient=False) == []
    assert codes(vihf.check_attributes(check)) == {"attribute:resource-id"}


def test_rules_after_an_invalid_signature_report_everything_missing(signed, trusted) -> None:
    signed.find(f".//{{{SAML2}}}NameID").text = EVIL_NAME_ID
    problems = vihf.check_attributes(verify(signed, trusted))
    assert {"attribute:NameID", "attribute:role", "attribute:resource-id"} <= codes(problems)
