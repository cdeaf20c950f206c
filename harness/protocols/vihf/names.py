"""The names a VIHF is written with: XML namespaces, attribute names, code systems and problem codes.

Builder, signer, verifier and attribute rules all spell the token the same way, as the official
kit samples do (segur-facts §2.4), so these names live in one module that imports nothing.
"""

from __future__ import annotations

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


def qname(namespace: str, local: str) -> str:
    """The Clark notation ``{namespace}local`` that lxml uses for tag and attribute names."""
    return f"{{{namespace}}}{local}"
