"""Verifying a VIHF: its signature, its signer and its times, without being fooled and without raising.

The classic attack on SAML is XML signature wrapping, so name, attributes and instants are read
only from the element that signxml returns as signed, and a token whose signed element is not the
assertion itself is refused. SHA-1 is accepted, since the 2019-2020 kit samples and products use
it. Every finding is a problem code on the :class:`~harness.protocols.vihf.check.VihfCheck`.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.hazmat.primitives import serialization
from lxml import etree
from signxml import DigestAlgorithm, SignatureConfiguration, SignatureMethod, XMLVerifier
from signxml.exceptions import InvalidDigest, InvalidInput
from signxml.exceptions import InvalidSignature as XmlInvalidSignature

from harness.protocols.vihf.check import VihfCheck
from harness.protocols.vihf.names import DS, DSIG11, SAML2, qname
from harness.protocols.vihf.trust import has_non_repudiation, subject_public_key_info, trust_problem

_XS_DATETIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")
_ID_ATTRIBUTES = frozenset({"ID", "Id", "id"})  # signxml resolves references by these local names
_ACCEPTED_SIGNATURE_METHODS = frozenset(m for m in SignatureMethod if not m.name.startswith("HMAC"))
_ACCEPTED_DIGESTS = frozenset(DigestAlgorithm)


def verify_assertion(
    assertion: etree._Element | None,
    *,
    trusted: Sequence[x509.Certificate] = (),
    now: dt.datetime | None = None,
    max_age: dt.timedelta | None = dt.timedelta(hours=12),
    clock_skew: dt.timedelta = dt.timedelta(minutes=5),
    require_signature: bool = True,
) -> VihfCheck:
    """Signature, signer trust and times of a VIHF, as problem codes; never raises.

    ``trusted`` holds pinned signer certificates or the CAs that issue them directly.
    ``require_signature=False`` keeps the ``signature_absent`` problem; the caller may ignore it.
    """
    check = VihfCheck(present=assertion is not None)
    if assertion is None:
        check._add("missing", "no VIHF assertion")
        return check
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    try:
        _verify(check, assertion, trusted, moment, max_age, clock_skew, require_signature)
    except Exception as exc:  # whatever a product sends, the mock answers and records
        check.signature, check.trusted, check.signature_certificate = "invalid", False, False
        check.name_id, check.attributes, check.issue_instant, check.authn_context = None, {}, None, None
        check._add("signature_invalid", f"the VIHF could not be verified: {type(exc).__name__}: {exc}")
    return check


def _verify(
    check: VihfCheck,
    assertion: etree._Element,
    trusted: Sequence[x509.Certificate],
    now: dt.datetime,
    max_age: dt.timedelta | None,
    skew: dt.timedelta,
    require_signature: bool,
) -> None:
    if assertion.tag != qname(SAML2, "Assertion"):
        check.present = False
        check._add("missing", f"expected a saml2:Assertion, received {assertion.tag}")
        return
    assertion_id = assertion.get("ID") or ""
    wrapping = _wrapping_evidence(assertion, assertion_id)
    if wrapping:
        check.signature = "invalid"
        check._add("signature_wrapping", wrapping)
        return
    signatures = assertion.findall(qname(DS, "Signature"))
    if not signatures:
        check.signature = "absent"
        note = "" if require_signature else " (accepted: the caller does not require a signature)"
        check._add("signature_absent", f"the VIHF is not signed{note}")
        _read_content(check, assertion)
        _check_times(check, assertion, now, max_age, skew)
        return

    check.signature = "invalid"
    references = signatures[0].findall(f"{{{DS}}}SignedInfo/{{{DS}}}Reference")
    uris = [r.get("URI") for r in references]
    if not assertion_id or uris != [f"#{assertion_id}"]:
        check._add(
            "signature_wrapping",
            f"the signature must have exactly one reference, to this assertion #{assertion_id}; found {uris}",
        )
        return
    certificate_text = signatures[0].findtext(f"{{{DS}}}KeyInfo/{{{DS}}}X509Data/{{{DS}}}X509Certificate")
    if not certificate_text or not certificate_text.strip():
        check._add("signature_invalid", "no X509Certificate in the signature's KeyInfo")
        return
    try:
        der = base64.b64decode("".join(certificate_text.split()), validate=True)
    except ValueError as exc:
        check._add("signature_invalid", f"the KeyInfo certificate is not base64: {exc}")
        return
    certificate: x509.Certificate | None
    parse_error = ""
    try:
        certificate = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        certificate, parse_error = None, str(exc)
    data: etree._Element | None = assertion
    if certificate is not None:
        config = SignatureConfiguration(
            location="./",
            expect_references=1,
            signature_methods=_ACCEPTED_SIGNATURE_METHODS,
            digest_algorithms=_ACCEPTED_DIGESTS,
            # Certificate dates are judged below, against `now`; this step is the cryptography only.
            verification_time=certificate.not_valid_before_utc,
        )
    else:
        # Some IGC-Santé TEST CPS certificates are not strict DER (unsorted multi-valued RDN) and
        # cryptography refuses them; the signature can still be checked with their public key.
        data = _with_der_key_value(assertion, der)
        if data is None:
            check._add("signature_invalid", f"the KeyInfo certificate cannot be read: {parse_error}")
            return
        config = SignatureConfiguration(
            require_x509=False,
            location="./",
            expect_references=1,
            signature_methods=_ACCEPTED_SIGNATURE_METHODS,
            digest_algorithms=_ACCEPTED_DIGESTS,
        )
    try:
        outcome = XMLVerifier().verify(data, x509_cert=certificate, expect_config=config)
    except InvalidDigest as exc:
        check._add(
            "signature_invalid",
            "the SignedInfo signature verifies with the KeyInfo certificate, but the assertion's digest "
            f"does not match: the assertion was changed after signing ({exc})",
        )
        return
    except (XmlInvalidSignature, CryptoInvalidSignature) as exc:
        check._add("signature_invalid", f"the signature does not verify with the KeyInfo certificate: {exc}")
        return
    except (InvalidInput, ValueError, etree.LxmlError) as exc:
        check._add("signature_invalid", f"the signature cannot be processed: {type(exc).__name__}: {exc}")
        return
    signed = outcome.signed_xml if not isinstance(outcome, list) else None
    if signed is None or signed.tag != qname(SAML2, "Assertion") or signed.get("ID") != assertion_id:
        found = "nothing parseable" if signed is None else f"{signed.tag} ID={signed.get('ID')}"
        check._add("signature_wrapping", f"the signed element is {found}, not the assertion #{assertion_id}")
        return

    check.signature = "valid"
    _read_content(check, signed)
    if certificate is None:
        check._add(
            "untrusted_signer",
            f"the KeyInfo certificate is not valid DER ({parse_error}); the signature was checked with its "
            "public key, but the certificate cannot be trusted",
        )
    else:
        check.signer_subject = certificate.subject.rfc4514_string()
        reason = trust_problem(certificate, trusted, now=now)
        check.trusted = reason is None
        if reason is not None:
            check._add("untrusted_signer", reason)
        check.signature_certificate = has_non_repudiation(certificate)
        if not check.signature_certificate:
            check._add(
                "not_signature_certificate",
                "Not a valid signature certificate: the signing certificate's keyUsage lacks nonRepudiation "
                "(a VIHF is signed with the CPS signature key)",
            )
    _check_times(check, signed, now, max_age, skew)


def _wrapping_evidence(assertion: etree._Element, assertion_id: str) -> str | None:
    nested = list(assertion.iterdescendants(qname(SAML2, "Assertion")))
    if nested:
        ids = ", ".join(str(e.get("ID")) for e in nested)
        return f"the assertion contains {len(nested)} other saml2:Assertion ({ids}): a wrapped signed assertion"
    if assertion_id:
        for element in assertion.iterdescendants():
            if not isinstance(element.tag, str):
                continue
            for name, value in element.attrib.items():
                if etree.QName(name).localname in _ID_ATTRIBUTES and value == assertion_id:
                    return f"{element.tag} inside the assertion repeats its ID {assertion_id}"
    signatures = assertion.findall(qname(DS, "Signature"))
    if len(signatures) > 1:
        return f"the assertion carries {len(signatures)} ds:Signature, one expected"
    return None


def _with_der_key_value(assertion: etree._Element, der: bytes) -> etree._Element | None:
    """A copy whose KeyInfo holds the certificate's public key (KeyInfo is outside what is signed)."""
    spki = subject_public_key_info(der)
    if spki is None:
        return None
    try:
        serialization.load_der_public_key(spki)
    except ValueError:
        return None
    work = etree.fromstring(etree.tostring(assertion))
    key_info = work.find(f"{{{DS}}}Signature/{{{DS}}}KeyInfo")
    if key_info is None:
        return None
    for child in list(key_info):
        key_info.remove(child)
    etree.SubElement(key_info, qname(DSIG11, "DEREncodedKeyValue")).text = base64.b64encode(spki).decode()
    return work


def _text(element: etree._Element | None) -> str | None:
    if element is None:
        return None
    # Joins the text nodes around comments: a comment must not cut the value a reader sees.
    return "".join(str(t) for t in element.xpath("text()")).strip()


def _attribute_value(holder: etree._Element) -> str:
    for child in holder:
        if isinstance(child.tag, str) and child.get("code") is not None:
            return f"{child.get('code')}^{child.get('codeSystem') or ''}"
    return _text(holder) or ""


def _read_content(check: VihfCheck, root: etree._Element) -> None:
    check.name_id = _text(root.find(f"{{{SAML2}}}Subject/{{{SAML2}}}NameID"))
    check.authn_context = _text(
        root.find(f"{{{SAML2}}}AuthnStatement/{{{SAML2}}}AuthnContext/{{{SAML2}}}AuthnContextClassRef")
    )
    attributes: dict[str, list[str]] = {}
    for attribute in root.findall(f"{{{SAML2}}}AttributeStatement/{{{SAML2}}}Attribute"):
        name = attribute.get("Name")
        if name is None:
            continue
        values = attributes.setdefault(name, [])
        values.extend(_attribute_value(v) for v in attribute.findall(qname(SAML2, "AttributeValue")))
    check.attributes = attributes
    check.issue_instant = _parse_instant(root.get("IssueInstant"))


def _parse_instant(value: str | None) -> dt.datetime | None:
    if value is None or not _XS_DATETIME.fullmatch(value.strip()):
        return None
    try:
        instant = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    # SAML times are UTC; a value without a zone is read as UTC rather than as local time.
    return instant.replace(tzinfo=dt.UTC) if instant.tzinfo is None else instant.astimezone(dt.UTC)


def _check_times(
    check: VihfCheck, root: etree._Element, now: dt.datetime, max_age: dt.timedelta | None, skew: dt.timedelta
) -> None:
    raw = root.get("IssueInstant")
    instant = _parse_instant(raw)
    if instant is None:
        described = "missing" if raw is None else f"not an xs:dateTime: {raw!r}"
        check._add("bad_issue_instant", f"IssueInstant is {described}")
    else:
        if instant > now + skew:
            check._add("not_yet_valid", f"IssueInstant {instant.isoformat()} is in the future (now {now.isoformat()})")
        elif max_age is not None and instant + max_age < now - skew:
            check._add("expired", f"IssueInstant {instant.isoformat()} is older than {max_age} (now {now.isoformat()})")
    conditions = root.find(qname(SAML2, "Conditions"))
    if conditions is None:
        return
    for name in ("NotBefore", "NotOnOrAfter"):
        value = conditions.get(name)
        if value is None:
            continue
        limit = _parse_instant(value)
        if limit is None:
            check._add("bad_conditions", f"Conditions/@{name} is not an xs:dateTime: {value!r}")
        elif name == "NotBefore" and limit > now + skew:
            check._add("not_yet_valid", f"Conditions NotBefore {limit.isoformat()} is after now {now.isoformat()}")
        elif name == "NotOnOrAfter" and limit <= now - skew:
            check._add("expired", f"Conditions NotOnOrAfter {limit.isoformat()} has passed (now {now.isoformat()})")
