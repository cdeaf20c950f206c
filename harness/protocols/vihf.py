"""The VIHF: the SAML 2.0 assertion that every DMP SOAP request carries in ``wsse:Security``.

The VIHF says who acts (NameID, structure, roles, authentication mode) and on whose record
(resource-id), so three parties need it. The reference client builds and signs tokens shaped
like the official kit samples (segur-facts §2.4). The DMP mock and the strict verdicts check
the tokens that products send. Verification must not be fooled: the classic attack on SAML is
XML signature wrapping, so name, attributes and instants are read only from the element that
signxml returns as signed, and a token whose signed element is not the assertion itself is
refused. Verification never raises. The mock is lenient and records every finding as a
problem code, and the callers decide which codes are fatal.

This module replaces :func:`harness.protocols.cpx.check_assertion` for the DMP. The official signed samples
do not verify, so they cannot serve as positive fixtures. Their SignedInfo signatures check
out against the embedded certificates, but the reference digests do not match, so the tokens
were changed after signing (probably when the kit was edited).
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import difflib
import os
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree
from signxml import (
    DigestAlgorithm,
    SignatureConfiguration,
    SignatureConstructionMethod,
    SignatureMethod,
    XMLSigner,
    XMLVerifier,
)
from signxml.exceptions import InvalidDigest, InvalidInput
from signxml.exceptions import InvalidSignature as XmlInvalidSignature

from harness import __version__
from harness.core import ins

SAML2 = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
DSIG11 = "http://www.w3.org/2009/xmldsig11#"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XS = "http://www.w3.org/2001/XMLSchema"
HL7 = "urn:hl7-org:v3"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ISSUER_FORMAT = "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"
SMARTCARD_PKI = "urn:oasis:names:tc:SAML:2.0:ac:classes:SmartcardPKI"

# Attribute names, as the official samples spell them (facts §2.4).
ATTR_STRUCTURE = "Identifiant_Structure"
ATTR_SECTEUR = "Secteur_Activite"
ATTR_SUBJECT_ID = "urn:oasis:names:tc:xspa:1.0:subject:subject-id"
ATTR_ROLE = "urn:oasis:names:tc:xacml:2.0:subject:role"
ATTR_VERSION = "VIHF_Version"
ATTR_AUTH_MODE = "Authentification_mode"
ATTR_RESOURCE_ID = "urn:oasis:names:tc:xacml:2.0:resource:resource-id"
ATTR_RESOURCE_URN = "Ressource_URN"
ATTR_PURPOSE = "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse"
ATTR_LPS_ID = "LPS_ID"
ATTR_LPS_NOM = "LPS_Nom"
ATTR_LPS_VERSION = "LPS_Version"
ATTR_LPS_HOMOLOGATION = "LPS_ID_HOMOLOGATION_DMP"
ATTR_CONFIDENTIALITY = "urn:oasis:names:tc:xspa:1.0:resource:patient:hl7:confidentiality-code"
ATTR_MODE_ACCES_RAISON = "Mode_Acces_Raison"
# Parts that are not attributes but that VihfClaims.omit may also leave out.
PART_NAME_ID = "NameID"
PART_AUTHN_CONTEXT = "AuthnContextClassRef"
OMITTABLE = frozenset(
    {
        ATTR_STRUCTURE,
        ATTR_SECTEUR,
        ATTR_SUBJECT_ID,
        ATTR_ROLE,
        ATTR_VERSION,
        ATTR_AUTH_MODE,
        ATTR_RESOURCE_ID,
        ATTR_RESOURCE_URN,
        ATTR_PURPOSE,
        ATTR_LPS_ID,
        ATTR_LPS_NOM,
        ATTR_LPS_VERSION,
        ATTR_LPS_HOMOLOGATION,
        ATTR_CONFIDENTIALITY,
        ATTR_MODE_ACCES_RAISON,
        PART_NAME_ID,
        PART_AUTHN_CONTEXT,
    }
)

CS_G15 = "1.2.250.1.71.1.2.7"  # profession
CS_R01 = "1.2.250.1.71.4.2.5"  # savoir-faire (specialty)
CS_SECTEUR = "1.2.250.1.71.4.2.4"
CS_PURPOSE = "1.2.250.1.213.1.1.4.248"
PURPOSE_CODE_SYSTEM_NAME = "mode acces VIHF 2.0"
RESSOURCE_URN_DMP = "urn:dmp"
AUTH_MODES = ("DIRECTE", "INDIRECTE", "INDIRECTE_RENFORCEE", "AIR")
PROFESSIONS_NEEDING_SPECIALTY = frozenset({"10", "21"})  # médecin, pharmacien (facts §2.4)
NO_SPECIALTY_MESSAGE = "Aucune spécialité dans le vihf"

PROBLEM_CODES = (
    "missing",
    "several_assertions",
    "signature_absent",
    "signature_invalid",
    "signature_wrapping",
    "untrusted_signer",
    "not_signature_certificate",
    "expired",
    "not_yet_valid",
    "bad_issue_instant",
    "bad_conditions",
)

_SECTEUR = re.compile(r"SA\d\d\^" + re.escape(CS_SECTEUR))
_RESOURCE_ID = re.compile(r"(?P<ins>[^^&]*)\^\^\^&(?P<oid>[^&]*)&ISO\^NH")
_XS_DATETIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")
_ID_ATTRIBUTES = frozenset({"ID", "Id", "id"})  # signxml resolves references by these local names

# The 2019-2020 kit samples are rsa-sha1 and products still send it, so SHA-1 is accepted when
# verifying. The signer uses rsa-sha256 unless someone asks for the legacy algorithm.
_ALGORITHMS: dict[str, tuple[SignatureMethod, DigestAlgorithm]] = {
    "rsa-sha1": (SignatureMethod.RSA_SHA1, DigestAlgorithm.SHA1),
    "rsa-sha256": (SignatureMethod.RSA_SHA256, DigestAlgorithm.SHA256),
    "rsa-sha384": (SignatureMethod.RSA_SHA384, DigestAlgorithm.SHA384),
    "rsa-sha512": (SignatureMethod.RSA_SHA512, DigestAlgorithm.SHA512),
    "ecdsa-sha256": (SignatureMethod.ECDSA_SHA256, DigestAlgorithm.SHA256),
    "ecdsa-sha384": (SignatureMethod.ECDSA_SHA384, DigestAlgorithm.SHA384),
    "ecdsa-sha512": (SignatureMethod.ECDSA_SHA512, DigestAlgorithm.SHA512),
}
_ACCEPTED_SIGNATURE_METHODS = frozenset(m for m in SignatureMethod if not m.name.startswith("HMAC"))
_ACCEPTED_DIGESTS = frozenset(DigestAlgorithm)


def _q(namespace: str, local: str) -> str:
    return f"{{{namespace}}}{local}"


# ---------------------------------------------------------------------------------------------
# Builder


@dataclass(frozen=True)
class Role:
    """An hl7 CE value of the role attribute: G15 profession, R01 specialty, or a JDV_J65 role."""

    code: str
    code_system: str
    display_name: str | None = None
    code_system_name: str | None = None


@dataclass(frozen=True)
class VihfClaims:
    """What a VIHF says. ``omit`` names attributes (or ``NameID`` / ``AuthnContextClassRef``) to
    leave out, so that the harness can build defective tokens on purpose."""

    name_id: str
    structure_id: str
    secteur_activite: str
    roles: tuple[Role, ...]
    auth_mode: str = "DIRECTE"
    patient_id: str | None = None
    purpose_of_use: str = "normal"
    lps_id: str = "segur-harness"
    lps_nom: str = "Segur harness reference client"
    lps_version: str = __version__
    lps_homologation: str = "HARNESS-TEST"
    subject_name: str | None = None
    authn_context: str = SMARTCARD_PKI
    confidentiality_code: str | None = None
    mode_acces_raison: str | None = None
    version: str = "3.0"
    omit: frozenset[str] = frozenset()


def _xs_datetime(instant: dt.datetime) -> str:
    instant = instant.astimezone(dt.UTC)
    return instant.strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z"


def _string_attribute(parent: etree._Element, name: str, value: str) -> None:
    attribute = etree.SubElement(parent, _q(SAML2, "Attribute"), Name=name)
    holder = etree.SubElement(attribute, _q(SAML2, "AttributeValue"), nsmap={"xs": XS})
    holder.set(_q(XSI, "type"), "xs:string")
    holder.text = value


def _ce_attribute(parent: etree._Element, name: str, tag: str, values: Sequence[Role]) -> None:
    attribute = etree.SubElement(parent, _q(SAML2, "Attribute"), Name=name)
    for value in values:
        holder = etree.SubElement(attribute, _q(SAML2, "AttributeValue"))
        element = etree.SubElement(holder, _q(HL7, tag), nsmap={None: HL7})
        element.set("code", value.code)
        element.set("codeSystem", value.code_system)
        if value.code_system_name is not None:
            element.set("codeSystemName", value.code_system_name)
        if value.display_name is not None:
            element.set("displayName", value.display_name)
        element.set(_q(XSI, "type"), "CE")


def build_assertion(
    claims: VihfClaims,
    *,
    issuer: str,
    issue_instant: dt.datetime | None = None,
    lifetime: dt.timedelta | None = None,
) -> etree._Element:
    """An unsigned VIHF with the structure, names and types of the official samples.

    ``issuer`` is the DN of the signing certificate (:attr:`VihfSigner.issuer`). With
    ``lifetime``, a ``saml2:Conditions`` NotBefore/NotOnOrAfter is added.
    """
    unknown = sorted(claims.omit - OMITTABLE)
    if unknown:
        hints = {name: difflib.get_close_matches(name, sorted(OMITTABLE), n=1) for name in unknown}
        described = ", ".join(f"{n!r}" + (f" (did you mean {h[0]!r}?)" if h else "") for n, h in hints.items())
        raise ValueError(f"omit names unknown parts: {described}")
    instant = (issue_instant or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    omit = claims.omit

    assertion = etree.Element(_q(SAML2, "Assertion"), nsmap={"saml2": SAML2, "xsi": XSI})
    assertion.set("ID", f"_{uuid.uuid4()}")
    assertion.set("IssueInstant", _xs_datetime(instant))
    assertion.set("Version", "2.0")
    etree.SubElement(assertion, _q(SAML2, "Issuer"), Format=ISSUER_FORMAT).text = issuer
    if PART_NAME_ID not in omit:
        subject = etree.SubElement(assertion, _q(SAML2, "Subject"))
        etree.SubElement(subject, _q(SAML2, "NameID")).text = claims.name_id
    if lifetime is not None:
        etree.SubElement(
            assertion,
            _q(SAML2, "Conditions"),
            NotBefore=_xs_datetime(instant),
            NotOnOrAfter=_xs_datetime(instant + lifetime),
        )
    if PART_AUTHN_CONTEXT not in omit:
        # AuthnContext needs a class reference to be schema-valid, so the statement goes as a whole.
        statement = etree.SubElement(assertion, _q(SAML2, "AuthnStatement"), AuthnInstant=_xs_datetime(instant))
        context = etree.SubElement(statement, _q(SAML2, "AuthnContext"))
        etree.SubElement(context, _q(SAML2, "AuthnContextClassRef")).text = claims.authn_context

    statement = etree.SubElement(assertion, _q(SAML2, "AttributeStatement"))
    strings: list[tuple[str, str | None]] = [
        (ATTR_STRUCTURE, claims.structure_id),
        (ATTR_SECTEUR, claims.secteur_activite),
        (ATTR_SUBJECT_ID, claims.subject_name),
    ]
    for name, value in strings:
        if value is not None and name not in omit:
            _string_attribute(statement, name, value)
    if claims.roles and ATTR_ROLE not in omit:
        _ce_attribute(statement, ATTR_ROLE, "Role", claims.roles)
    strings = [
        (ATTR_VERSION, claims.version),
        (ATTR_AUTH_MODE, claims.auth_mode),
        (ATTR_RESOURCE_ID, claims.patient_id),
        (ATTR_RESOURCE_URN, RESSOURCE_URN_DMP),
    ]
    for name, value in strings:
        if value is not None and name not in omit:
            _string_attribute(statement, name, value)
    if ATTR_PURPOSE not in omit:
        # "Accès normal" is the samples' label; other codes get no label rather than an invented one.
        label = "Accès normal" if claims.purpose_of_use == "normal" else None
        purpose = Role(claims.purpose_of_use, CS_PURPOSE, label, PURPOSE_CODE_SYSTEM_NAME)
        _ce_attribute(statement, ATTR_PURPOSE, "PurposeOfUse", [purpose])
    strings = [
        (ATTR_LPS_ID, claims.lps_id),
        (ATTR_LPS_NOM, claims.lps_nom),
        (ATTR_LPS_VERSION, claims.lps_version),
        (ATTR_LPS_HOMOLOGATION, claims.lps_homologation),
        # No sample carries these two: xs:string like the other free values is our reading.
        (ATTR_CONFIDENTIALITY, claims.confidentiality_code),
        (ATTR_MODE_ACCES_RAISON, claims.mode_acces_raison),
    ]
    for name, value in strings:
        if value is not None and name not in omit:
            _string_attribute(statement, name, value)
    return assertion


# ---------------------------------------------------------------------------------------------
# Signer


class _LegacyTolerantSigner(XMLSigner):
    def check_deprecated_methods(self) -> None:
        # signxml refuses SHA-1 by default; rsa-sha1 is only chosen on purpose, to reproduce 2019 clients.
        return None


class VihfSigner:
    """Signs VIHFs with one key and certificate, both loaded once (signing is on the hot path)."""

    def __init__(self, key_pem: bytes, cert_pem: bytes, *, algorithm: str = "rsa-sha256") -> None:
        if algorithm not in _ALGORITHMS:
            raise ValueError(f"unsupported signature algorithm {algorithm!r}: expected one of {', '.join(_ALGORITHMS)}")
        key = serialization.load_pem_private_key(key_pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise ValueError(f"unsupported key type {type(key).__name__}: RSA or EC expected")
        # The harness's PEM files hold the leaf first, then its issuer; KeyInfo carries the leaf only, like the samples.
        certificates = x509.load_pem_x509_certificates(cert_pem)
        certificate = certificates[0]
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        if key.public_key().public_bytes(serialization.Encoding.DER, spki) != certificate.public_key().public_bytes(
            serialization.Encoding.DER, spki
        ):
            raise ValueError("the private key does not match the certificate's public key")
        self._key = key
        self.certificate = certificate
        self.algorithm = algorithm
        self.issuer: str = certificate.subject.rfc4514_string()

    @classmethod
    def from_files(
        cls, key_path: str | os.PathLike[str], cert_path: str | os.PathLike[str], *, algorithm: str = "rsa-sha256"
    ) -> VihfSigner:
        return cls(Path(key_path).read_bytes(), Path(cert_path).read_bytes(), algorithm=algorithm)

    def sign(self, assertion: etree._Element) -> etree._Element:
        """A signed copy: enveloped, exclusive c14n, Reference to ``#ID``, ``ds:Signature`` after Issuer."""
        assertion_id = assertion.get("ID")
        if not assertion_id:
            raise ValueError("the assertion has no ID to reference")
        work = copy.deepcopy(assertion)
        for previous in work.findall(_q(DS, "Signature")):
            work.remove(previous)
        placeholder = etree.Element(_q(DS, "Signature"), Id="placeholder", nsmap={"ds": DS})
        issuer = work.find(_q(SAML2, "Issuer"))
        if issuer is not None:
            issuer.addnext(placeholder)
        else:
            work.insert(0, placeholder)
        method, digest = _ALGORITHMS[self.algorithm]
        signer = _LegacyTolerantSigner(
            method=SignatureConstructionMethod.enveloped,
            signature_algorithm=method,
            digest_algorithm=digest,
            c14n_algorithm=EXC_C14N,
        )
        return signer.sign(work, key=self._key, cert=[self.certificate], reference_uri=f"#{assertion_id}")


# ---------------------------------------------------------------------------------------------
# Verifier


@dataclass
class VihfProblem:
    code: str
    message: str


@dataclass
class VihfCheck:
    """What a VIHF proved. Content (name_id, attributes, issue_instant, authn_context) comes from
    the signed element when the signature is valid, from the token as sent when it is absent
    (flagged by ``signature_absent``), and is left empty when the signature is invalid."""

    present: bool
    signature: str = "absent"  # "valid" | "absent" | "invalid"
    trusted: bool = False
    signature_certificate: bool = False  # keyUsage nonRepudiation (contentCommitment)
    signer_subject: str | None = None
    name_id: str | None = None
    # attribute name -> values; hl7 CE values (Role, PurposeOfUse) as "code^codeSystem"
    attributes: dict[str, list[str]] = field(default_factory=dict)
    issue_instant: dt.datetime | None = None
    problems: list[VihfProblem] = field(default_factory=list)
    authn_context: str | None = None

    def has(self, code: str) -> bool:
        return any(problem.code == code for problem in self.problems)

    def _add(self, code: str, message: str) -> None:
        self.problems.append(VihfProblem(code, message))


def find_assertion(header: etree._Element | None) -> tuple[etree._Element | None, list[VihfProblem]]:
    """The single ``saml2:Assertion`` that is a direct child of a WSS 1.0 ``wsse:Security`` header."""
    try:
        return _find_assertion(header)
    except Exception as exc:  # a malformed header is a finding for the mock, never a crash
        return None, [VihfProblem("missing", f"could not look for the VIHF: {type(exc).__name__}: {exc}")]


def _local(element: etree._Element) -> str:
    tag = element.tag
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _find_assertion(header: etree._Element | None) -> tuple[etree._Element | None, list[VihfProblem]]:
    if header is None:
        return None, [VihfProblem("missing", "no SOAP Header, so no wsse:Security and no VIHF")]
    if _local(header) == "Envelope":
        header = next((c for c in header if _local(c) == "Header"), None)
        if header is None:
            return None, [VihfProblem("missing", "no SOAP Header, so no wsse:Security and no VIHF")]
    securities = header.findall(_q(WSSE, "Security"))
    if not securities:
        others = sorted({str(c.tag) for c in header if _local(c) == "Security"})
        hint = f"; found {', '.join(others)} instead (wrong namespace)" if others else ""
        return None, [VihfProblem("missing", f"no wsse:Security header in the WSS 1.0 namespace {WSSE}{hint}")]
    assertions = [a for security in securities for a in security.findall(_q(SAML2, "Assertion"))]
    if not assertions:
        nested = any(True for s in securities for _ in s.iter(_q(SAML2, "Assertion")))
        hint = "; a saml2:Assertion is nested deeper, but it must be a direct child" if nested else ""
        return None, [VihfProblem("missing", f"wsse:Security holds no saml2:Assertion (VIHF){hint}")]
    if len(assertions) > 1:
        ids = ", ".join(str(a.get("ID")) for a in assertions)
        return None, [
            VihfProblem(
                "several_assertions", f"wsse:Security holds {len(assertions)} saml2:Assertion, one expected: {ids}"
            )
        ]
    return assertions[0], []


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
    if assertion.tag != _q(SAML2, "Assertion"):
        check.present = False
        check._add("missing", f"expected a saml2:Assertion, received {assertion.tag}")
        return
    assertion_id = assertion.get("ID") or ""
    wrapping = _wrapping_evidence(assertion, assertion_id)
    if wrapping:
        check.signature = "invalid"
        check._add("signature_wrapping", wrapping)
        return
    signatures = assertion.findall(_q(DS, "Signature"))
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
    if signed is None or signed.tag != _q(SAML2, "Assertion") or signed.get("ID") != assertion_id:
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
        check.signature_certificate = _has_non_repudiation(certificate)
        if not check.signature_certificate:
            check._add(
                "not_signature_certificate",
                "Not a valid signature certificate: the signing certificate's keyUsage lacks nonRepudiation "
                "(a VIHF is signed with the CPS signature key)",
            )
    _check_times(check, signed, now, max_age, skew)


def _wrapping_evidence(assertion: etree._Element, assertion_id: str) -> str | None:
    nested = list(assertion.iterdescendants(_q(SAML2, "Assertion")))
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
    signatures = assertion.findall(_q(DS, "Signature"))
    if len(signatures) > 1:
        return f"the assertion carries {len(signatures)} ds:Signature, one expected"
    return None


def _with_der_key_value(assertion: etree._Element, der: bytes) -> etree._Element | None:
    """A copy whose KeyInfo holds the certificate's public key (KeyInfo is outside what is signed)."""
    spki = _subject_public_key_info(der)
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
    etree.SubElement(key_info, _q(DSIG11, "DEREncodedKeyValue")).text = base64.b64encode(spki).decode()
    return work


def _der_element(data: bytes, start: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the DER element at ``start``."""
    tag, length = data[start], data[start + 1]
    position = start + 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[position : position + count], "big")
        position += count
    end = position + length
    if end > len(data):
        raise ValueError("truncated DER")
    return tag, position, end


def _subject_public_key_info(der: bytes) -> bytes | None:
    """The SubjectPublicKeyInfo of a certificate, found by walking the TBSCertificate fields."""
    try:
        _, certificate_start, _ = _der_element(der, 0)
        _, position, tbs_end = _der_element(der, certificate_start)
        fields: list[tuple[int, int, int]] = []
        while position < tbs_end and len(fields) < 8:
            tag, _, end = _der_element(der, position)
            fields.append((tag, position, end))
            position = end
        if fields and fields[0][0] == 0xA0:  # [0] version
            fields = fields[1:]
        # serial, signature algorithm, issuer, validity, subject, subjectPublicKeyInfo
        _, spki_start, spki_end = fields[5]
        return der[spki_start:spki_end]
    except (IndexError, ValueError):
        return None


def trust_problem(
    certificate: x509.Certificate, trusted: Sequence[x509.Certificate], *, now: dt.datetime | None = None
) -> str | None:
    """Why the signer certificate is not trusted, or None: it must be pinned in ``trusted`` or issued
    directly by a CA certificate there, and be within its validity period at ``now``."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    subject = certificate.subject.rfc4514_string()
    if now < certificate.not_valid_before_utc:
        return f"the signing certificate {subject} is not valid before {certificate.not_valid_before_utc.isoformat()}"
    if now > certificate.not_valid_after_utc:
        return f"the signing certificate {subject} expired on {certificate.not_valid_after_utc.isoformat()}"
    if any(candidate == certificate for candidate in trusted):
        return None
    for candidate in trusted:
        if candidate.subject != certificate.issuer or not _is_ca(candidate):
            continue
        if not candidate.not_valid_before_utc <= now <= candidate.not_valid_after_utc:
            continue
        try:
            certificate.verify_directly_issued_by(candidate)
        except (ValueError, TypeError, CryptoInvalidSignature):
            continue
        return None
    return f"the signing certificate {subject} is issued by {certificate.issuer.rfc4514_string()}, which is not trusted"


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        return bool(certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except (x509.ExtensionNotFound, ValueError):
        return False


def _has_non_repudiation(certificate: x509.Certificate) -> bool:
    try:
        return bool(certificate.extensions.get_extension_for_class(x509.KeyUsage).value.content_commitment)
    except (x509.ExtensionNotFound, ValueError):
        return False


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
        values.extend(_attribute_value(v) for v in attribute.findall(_q(SAML2, "AttributeValue")))
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
    conditions = root.find(_q(SAML2, "Conditions"))
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


# ---------------------------------------------------------------------------------------------
# Content rules


def check_attributes(check: VihfCheck, *, needs_patient: bool = True) -> list[VihfProblem]:
    """The facts-table content rules (segur-facts §2.4); problem codes are ``attribute:<what>``.

    It reads ``check`` as verified: after an invalid signature nothing was read, so every
    mandatory part is reported missing.
    """
    problems: list[VihfProblem] = []
    attributes = check.attributes

    def add(what: str, message: str) -> None:
        problems.append(VihfProblem(f"attribute:{what}", message))

    def first(name: str) -> str | None:
        values = attributes.get(name) or []
        return values[0].strip() if values else None

    def required(name: str, what: str | None = None) -> str | None:
        value = first(name)
        if not value:
            add(what or name, f"{name} is {'missing' if value is None else 'empty'}")
            return None
        return value

    required(ATTR_VERSION)
    required(ATTR_STRUCTURE)
    secteur = required(ATTR_SECTEUR)
    if secteur is not None and not _SECTEUR.fullmatch(secteur):
        add(ATTR_SECTEUR, f"{ATTR_SECTEUR} must be SAxx^{CS_SECTEUR}, received {secteur!r}")
    mode = required(ATTR_AUTH_MODE)
    if mode is not None and mode not in AUTH_MODES:
        add(ATTR_AUTH_MODE, f"{ATTR_AUTH_MODE} must be one of {', '.join(AUTH_MODES)}, received {mode!r}")
    _check_roles(attributes.get(ATTR_ROLE) or [], mode, add)

    resource = first(ATTR_RESOURCE_ID)
    if resource is None:
        if needs_patient:
            add("resource-id", f"{ATTR_RESOURCE_ID} (the patient's INS) is missing")
    else:
        problem = _resource_id_problem(resource)
        if problem:
            add("resource-id", problem)
    urn = required(ATTR_RESOURCE_URN)
    if urn is not None and urn != RESSOURCE_URN_DMP:
        add(ATTR_RESOURCE_URN, f"{ATTR_RESOURCE_URN} must be {RESSOURCE_URN_DMP}, received {urn!r}")
    purpose = required(ATTR_PURPOSE, "purposeofuse")
    if purpose is not None:
        code, _, system = purpose.partition("^")
        if not code or system != CS_PURPOSE:
            add("purposeofuse", f"PurposeOfUse must be a code of code system {CS_PURPOSE}, received {purpose!r}")
    for name in (ATTR_LPS_ID, ATTR_LPS_NOM, ATTR_LPS_VERSION, ATTR_LPS_HOMOLOGATION):
        required(name)
    if not check.name_id:
        add(PART_NAME_ID, f"Subject/NameID (IdNatPs) is {'missing' if check.name_id is None else 'empty'}")
    if not check.authn_context:
        add(PART_AUTHN_CONTEXT, "AuthnStatement/AuthnContext/AuthnContextClassRef is missing")
    return problems


def _check_roles(values: list[str], mode: str | None, add: Callable[[str, str], None]) -> None:
    if not values:
        add("role", f"{ATTR_ROLE} is missing")
        return
    codes = [tuple(v.strip().partition("^")[::2]) for v in values]
    if mode in (None, "DIRECTE"):
        if len(values) > 2:
            add("role", f"in DIRECTE mode the role holds the profession and the specialty, found {len(values)} values")
        if codes[0][1] != CS_G15:
            add("role", f"the first role must be a G15 profession (code system {CS_G15}), received {values[0]!r}")
        if len(codes) > 1 and codes[1][1] != CS_R01:
            add("role", f"the second role must be an R01 specialty (code system {CS_R01}), received {values[1]!r}")
    professions = [code for code, system in codes if system == CS_G15]
    needing = [code for code in professions if code in PROFESSIONS_NEEDING_SPECIALTY]
    if needing and not any(system == CS_R01 for _, system in codes):
        add(
            "specialty",
            f"{NO_SPECIALTY_MESSAGE}: profession {needing[0]} (médecin or pharmacien) needs an R01 specialty "
            f"(code system {CS_R01})",
        )


def _resource_id_problem(value: str) -> str | None:
    match = _RESOURCE_ID.fullmatch(value)
    if match is None:
        return f"{ATTR_RESOURCE_ID} must be <INS>^^^&<OID>&ISO^NH, received {value!r}"
    problems = ins.matricule_problems(match["ins"])
    if match["oid"] not in ins.INS_OIDS:
        problems.append(f"{match['oid']} is not an INS OID ({', '.join(sorted(ins.INS_OIDS))})")
    return f"{ATTR_RESOURCE_ID} {value!r}: " + "; ".join(problems) if problems else None
