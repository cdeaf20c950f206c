"""Building the SOAP side of a DMP request: the VIHF, the WS-Addressing envelope and the TD0.2 body.

Written from the DMP kit's messages (not from the mock): SOAP 1.2 with WS-Addressing, and in
``wsse:Security`` a VIHF naming the reference professional, structure and software, signed with
the CPS signature key. The VIHF defects (unsigned, without software, another patient) are made here.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from lxml import etree

from harness.core import ins
from harness.protocols import soap, vihf, xds
from harness.run.sut.reference_cda import PROFESSIONAL, STRUCTURE
from harness.run.sut.reference_dmp.product import LPS, SOURCE_ID


def vihf_assertion(
    signer: vihf.VihfSigner | None, patient: dict[str, Any] | None, defects: frozenset[str], purpose_of_use: str
) -> etree._Element:
    """The VIHF of one request, about ``patient`` (None for a request about no patient)."""
    resource = None
    if patient is not None:
        matricule, oid = patient["ins"], patient["oid"]
        if "vihf_other_patient" in defects:
            matricule = _another_patient(matricule)
        resource = xds.format_cx(matricule, oid)
    omit = frozenset({"LPS_ID_HOMOLOGATION_DMP"}) if "vihf_without_software" in defects else frozenset()
    claims = vihf.VihfClaims(
        name_id=PROFESSIONAL["id_nat_ps"],
        structure_id=STRUCTURE["id"],
        secteur_activite="SA01^1.2.250.1.71.4.2.4",
        roles=(
            vihf.Role("10", "1.2.250.1.71.1.2.7", "Médecin"),
            vihf.Role("SM26", "1.2.250.1.71.4.2.5", "Qualifié en Médecine Générale (SM)"),
        ),
        patient_id=resource,
        purpose_of_use=purpose_of_use,
        lps_id=LPS["id"],
        lps_nom=LPS["nom"],
        lps_version=LPS["version"],
        lps_homologation=LPS["homologation"],
        subject_name=f"{PROFESSIONAL['given']} {PROFESSIONAL['family']}",
        omit=omit,
    )
    issuer = signer.issuer if signer else "CN=unsigned"
    assertion = vihf.build_assertion(claims, issuer=issuer)
    if signer is not None and "vihf_unsigned" not in defects:
        assertion = signer.sign(assertion)
    return assertion


def psc_self_made_vihf(
    signer: vihf.VihfSigner | None, patient: dict[str, Any] | None, id_nat_ps: str
) -> etree._Element:
    """Defect ``psc_dmp_self_made_vihf``: the product's own VIHF dressed as the PSC proxy's (indirect mode,
    AuthnContext MobileTwoFactorUnregistered, the PSC user's IdNatPs), signed with the product's key."""
    claims = vihf.VihfClaims(
        name_id=id_nat_ps,
        structure_id=STRUCTURE["id"],
        secteur_activite="SA01^1.2.250.1.71.4.2.4",
        roles=(vihf.Role("10", vihf.CS_G15), vihf.Role("SM54", vihf.CS_R01)),
        auth_mode="INDIRECTE",
        patient_id=xds.format_cx(patient["ins"], patient["oid"]) if patient is not None else None,
        lps_id=LPS["id"],
        lps_nom=LPS["nom"],
        lps_version=LPS["version"],
        lps_homologation=LPS["homologation"],
        authn_context="urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorUnregistered",
    )
    assertion = vihf.build_assertion(claims, issuer=signer.issuer if signer else "CN=unsigned")
    return signer.sign(assertion) if signer is not None else assertion


def envelope(action: str, body: etree._Element, assertion: etree._Element | None, defects: frozenset[str]) -> bytes:
    """The SOAP 1.2 envelope of ``body``, with WS-Addressing headers and the VIHF in ``wsse:Security``.

    Without ``assertion`` (a PSC call through the VIHF proxy) there is no ``wsse:Security``: the proxy adds it.
    """
    wsa = soap.WSA_NS
    header = []
    if "dmp_no_message_id" not in defects:
        header.append(soap.wsa_element("MessageID", f"urn:uuid:{uuid.uuid4()}"))
    header.append(soap.wsa_element("To", ""))
    reply_to = etree.Element(f"{{{wsa}}}ReplyTo", nsmap={"wsa": wsa})
    etree.SubElement(reply_to, f"{{{wsa}}}Address").text = "http://www.w3.org/2005/08/addressing/anonymous"
    header.append(reply_to)
    action_element = soap.wsa_element("Action", action)
    action_element.set(f"{{{soap.SOAP12_NS}}}mustUnderstand", "true")
    header.append(action_element)
    if assertion is not None:
        wsse = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
        security = etree.Element(f"{{{wsse}}}Security", nsmap={"wsse": wsse})
        security.append(assertion)
        header.append(security)
    return soap.envelope(body, header)


def td02_body(patient: dict[str, Any]) -> etree._Element:
    """PRPA_IN201307UV02 with reasonCode TEST_EXST, as in the DMP kit's TD0.2 request."""
    hl7 = "urn:hl7-org:v3"
    root = etree.Element(f"{{{hl7}}}PRPA_IN201307UV02", nsmap={None: hl7}, ITSVersion="XML_1.0")

    def add(parent: etree._Element, name: str, **attrs: str) -> etree._Element:
        return etree.SubElement(parent, f"{{{hl7}}}{name}", **attrs)

    add(root, "id", root=SOURCE_ID, extension=str(uuid.uuid4()))
    add(root, "creationTime", value=dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S"))
    add(root, "interactionId", root="2.16.840.1.113883.1.6", extension="PRPA_IN201307UV02")
    add(root, "processingCode", code="P")
    add(root, "processingModeCode", code="T")
    add(root, "acceptAckCode", code="AL")
    device = add(add(root, "receiver", typeCode="RCV"), "device", classCode="DEV", determinerCode="INSTANCE")
    add(device, "id", root="1.2.250.1.213.4.1.1.1")
    device = add(add(root, "sender", typeCode="SND"), "device", classCode="DEV", determinerCode="INSTANCE")
    add(device, "id", root=SOURCE_ID)
    control = add(root, "controlActProcess", classCode="CACT", moodCode="EVN")
    add(control, "reasonCode", code="TEST_EXST", codeSystem="1.2.250.1.213.1.1.4.11")
    query = add(control, "queryByParameter")
    add(query, "queryId", root=SOURCE_ID, extension=str(uuid.uuid4()))
    add(query, "statusCode", code="new")
    identifier = add(add(query, "parameterList"), "patientIdentifier")
    add(identifier, "value", root=patient["oid"], extension=patient["ins"])
    etree.SubElement(identifier, f"{{{hl7}}}semanticsText").text = "Patient.id"
    return root


def _another_patient(matricule: str) -> str:
    """A valid INS of someone else: same birth data, another order number, its own key."""
    body = matricule[:10] + f"{(int(matricule[10:13]) + 1) % 1000:03d}"
    return body + ins.compute_key(body)
