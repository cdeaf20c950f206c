"""The VIHF: the SAML 2.0 assertion that every DMP SOAP request carries in ``wsse:Security``.

The VIHF says who acts (NameID, structure, roles, authentication mode) and on whose record
(resource-id), so three parties need it. The reference client builds and signs tokens shaped
like the official kit samples (segur-facts §2.4). The DMP mock and the strict verdicts check
the tokens that products send. Verification must not be fooled: the classic attack on SAML is
XML signature wrapping, so name, attributes and instants are read only from the element that
signxml returns as signed, and a token whose signed element is not the assertion itself is
refused. Verification never raises. The mock is lenient and records every finding as a
problem code, and the callers decide which codes are fatal.

This package replaces :func:`harness.protocols.cpx.check_assertion` for the DMP. The official signed samples
do not verify, so they cannot serve as positive fixtures. Their SignedInfo signatures check
out against the embedded certificates, but the reference digests do not match, so the tokens
were changed after signing (probably when the kit was edited).

The package follows the token's life: ``names`` (namespaces, attribute names, problem codes),
``build`` (claims -> unsigned assertion), ``sign`` (:class:`VihfSigner`), ``check`` (the
:class:`VihfCheck` verdict and locating the token in ``wsse:Security``), ``verify`` (signature,
signer trust from ``trust``, times) and ``rules`` (the attribute rules). The names below are the
interface the reference client, the DMP mock and the verifiers use.
"""

from harness.protocols.vihf.build import Role, VihfClaims, build_assertion
from harness.protocols.vihf.check import VihfCheck, VihfProblem, find_assertion
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
    AUTH_MODES,
    CS_G15,
    CS_PURPOSE,
    CS_R01,
    CS_SECTEUR,
    DS,
    DSIG11,
    EXC_C14N,
    HL7,
    ISSUER_FORMAT,
    NO_SPECIALTY_MESSAGE,
    OMITTABLE,
    PART_AUTHN_CONTEXT,
    PART_NAME_ID,
    PROBLEM_CODES,
    PROFESSIONS_NEEDING_SPECIALTY,
    PURPOSE_CODE_SYSTEM_NAME,
    RESSOURCE_URN_DMP,
    SAML2,
    SMARTCARD_PKI,
    WSSE,
    XS,
    XSI,
)
from harness.protocols.vihf.rules import check_attributes
from harness.protocols.vihf.sign import VihfSigner
from harness.protocols.vihf.trust import trust_problem
from harness.protocols.vihf.verify import verify_assertion

__all__ = [
    "ATTR_AUTH_MODE",
    "ATTR_CONFIDENTIALITY",
    "ATTR_LPS_HOMOLOGATION",
    "ATTR_LPS_ID",
    "ATTR_LPS_NOM",
    "ATTR_LPS_VERSION",
    "ATTR_MODE_ACCES_RAISON",
    "ATTR_PURPOSE",
    "ATTR_RESOURCE_ID",
    "ATTR_RESOURCE_URN",
    "ATTR_ROLE",
    "ATTR_SECTEUR",
    "ATTR_STRUCTURE",
    "ATTR_SUBJECT_ID",
    "ATTR_VERSION",
    "AUTH_MODES",
    "CS_G15",
    "CS_PURPOSE",
    "CS_R01",
    "CS_SECTEUR",
    "DS",
    "DSIG11",
    "EXC_C14N",
    "HL7",
    "ISSUER_FORMAT",
    "NO_SPECIALTY_MESSAGE",
    "OMITTABLE",
    "PART_AUTHN_CONTEXT",
    "PART_NAME_ID",
    "PROBLEM_CODES",
    "PROFESSIONS_NEEDING_SPECIALTY",
    "PURPOSE_CODE_SYSTEM_NAME",
    "RESSOURCE_URN_DMP",
    "SAML2",
    "SMARTCARD_PKI",
    "WSSE",
    "XS",
    "XSI",
    "Role",
    "VihfCheck",
    "VihfClaims",
    "VihfProblem",
    "VihfSigner",
    "build_assertion",
    "check_attributes",
    "find_assertion",
    "trust_problem",
    "verify_assertion",
]
