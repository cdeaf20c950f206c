"""Building a VIHF: the claims a token carries and the unsigned ``saml2:Assertion`` made from them.

The reference client's tokens have the structure, attribute names and types of the official kit
samples; :attr:`VihfClaims.omit` leaves parts out so that the harness can build defective tokens
on purpose. Signing is :mod:`harness.protocols.vihf.sign`.
"""

from __future__ import annotations

import datetime as dt
import difflib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree

from harness import __version__
from harness.protocols.vihf.names import (
    ATTR_AUTH_MODE,
    ATTR_CONFIDENTIALITY,
    ATTR_LPS_HOMOLOGATION,
    ATTR_LPS_ID,
    ATTR_LPS_NOM,
    ATTR_LPS_VERSION,
    ATTR_MODE_ACCES_RAISON,
    ATTR_PURPOSE,
    ATTR_RESOURCE_ID,
    ATTR_RESOURCE_URN,
    ATTR_ROLE,
    ATTR_SECTEUR,
    ATTR_STRUCTURE,
    ATTR_SUBJECT_ID,
    ATTR_VERSION,
    CS_PURPOSE,
    HL7,
    ISSUER_FORMAT,
    OMITTABLE,
    PART_AUTHN_CONTEXT,
    PART_NAME_ID,
    PURPOSE_CODE_SYSTEM_NAME,
    RESSOURCE_URN_DMP,
    SAML2,
    SMARTCARD_PKI,
    XS,
    XSI,
    qname,
)


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
    attribute = etree.SubElement(parent, qname(SAML2, "Attribute"), Name=name)
    holder = etree.SubElement(attribute, qname(SAML2, "AttributeValue"), nsmap={"xs": XS})
    holder.set(qname(XSI, "type"), "xs:string")
    holder.text = value


def _ce_attribute(parent: etree._Element, name: str, tag: str, values: Sequence[Role]) -> None:
    attribute = etree.SubElement(parent, qname(SAML2, "Attribute"), Name=name)
    for value in values:
        holder = etree.SubElement(attribute, qname(SAML2, "AttributeValue"))
        element = etree.SubElement(holder, qname(HL7, tag), nsmap={None: HL7})
        element.set("code", value.code)
        element.set("codeSystem", value.code_system)
        if value.code_system_name is not None:
            element.set("codeSystemName", value.code_system_name)
        if value.display_name is not None:
            element.set("displayName", value.display_name)
        element.set(qname(XSI, "type"), "CE")


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

    assertion = etree.Element(qname(SAML2, "Assertion"), nsmap={"saml2": SAML2, "xsi": XSI})
    assertion.set("ID", f"_{uuid.uuid4()}")
    assertion.set("IssueInstant", _xs_datetime(instant))
    assertion.set("Version", "2.0")
    etree.SubElement(assertion, qname(SAML2, "Issuer"), Format=ISSUER_FORMAT).text = issuer
    if PART_NAME_ID not in omit:
        subject = etree.SubElement(assertion, qname(SAML2, "Subject"))
        etree.SubElement(subject, qname(SAML2, "NameID")).text = claims.name_id
    if lifetime is not None:
        etree.SubElement(
            assertion,
            qname(SAML2, "Conditions"),
            NotBefore=_xs_datetime(instant),
            NotOnOrAfter=_xs_datetime(instant + lifetime),
        )
    if PART_AUTHN_CONTEXT not in omit:
        # AuthnContext needs a class reference to be schema-valid, so the statement goes as a whole.
        statement = etree.SubElement(assertion, qname(SAML2, "AuthnStatement"), AuthnInstant=_xs_datetime(instant))
        context = etree.SubElement(statement, qname(SAML2, "AuthnContext"))
        etree.SubElement(context, qname(SAML2, "AuthnContextClassRef")).text = claims.authn_context

    statement = etree.SubElement(assertion, qname(SAML2, "AttributeStatement"))
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
