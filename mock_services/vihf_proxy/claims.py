"""What the PSC -> VIHF proxy puts in the VIHF, from the PSC userinfo of the user: pure functions.

Read in ANS's GENVIHF Gravitee policy (``prosanteconnect/generate-VIHF@73acb91``, ``VihfBuilder``
and ``Constants``): NameID = ``SubjectNameID``; ``Identifiant_Structure``, ``LPS_Nom``,
``LPS_Version`` and ``LPS_ID_HOMOLOGATION_DMP`` are the proxy's own configuration (not the
product's); ``Secteur_Activite`` from the userinfo; ``subject-id`` = "<family> <given>
<organisation>"; the role holds the profession of the chosen work situation and, for a médecin or
pharmacien, its savoir-faire; ``Authentification_mode`` = INDIRECTE; ``resource-id`` = the INS of
the ``X-insHeader`` request header with the INS-NIR TEST OID; purpose of use ``normal``;
AuthnContextClassRef ``MobileTwoFactorUnregistered``. GENVIHF sets no ``LPS_ID``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.protocols import vihf, xds

# GENVIHF Constants.AUTHN_CONTEXT_CLASS_REF: the class every proxy-made VIHF carries.
MOBILE_TWO_FACTOR = "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorUnregistered"
PROXY_AUTH_MODE = "INDIRECTE"  # GENVIHF Constants.AUTH_MODE_VALUE (a TODO there says "should be DELEGUEE")
# Request headers GENVIHF reads (GenerateVIHFPolicy.generate).
WORK_SITUATION_HEADER = "X-Worksituation"
INS_HEADER = "X-insHeader"


class WrongWorkSituation(ValueError):
    """GENVIHF's WrongWorkSituationKeyException: the key names no practice of the user (HTTP 400)."""


@dataclass(frozen=True)
class ProxyIdentity:
    """The proxy's configuration in GENVIHF (GenerateVIHFPolicyConfiguration), registered with the DMP."""

    structure_id: str = "PROXY-PSC-STRUCTURE-TEST"
    lps_nom: str = "PROSANTECONNECT_API_PROXY"  # the value of GENVIHF's own unit test
    lps_version: str = "1.0"
    lps_homologation: str = "PROXY-PSC-TEST"
    # GENVIHF hard-codes the INS-NIR TEST OID (1.2.250.1.213.1.4.10) after the X-insHeader matricule.
    ins_oid: str = "1.2.250.1.213.1.4.10"


def chosen_practice(exercices: Sequence[Mapping[str, Any]], work_situation: str | None) -> Mapping[str, Any]:
    """GENVIHF ``getExercicePro``: the only practice, or the one whose profession + category is the key."""
    if not exercices:
        raise WrongWorkSituation("the PSC user has no practice (SubjectRefPro.exercices is empty)")
    if len(exercices) == 1:
        return exercices[0]
    for practice in exercices:
        key = f"{practice.get('codeProfession', '')}{practice.get('codeCategorieProfessionnelle', '')}"
        if key == work_situation:
            return practice
    raise WrongWorkSituation(
        f"Wrong WorkSituationKey : practice designed by {work_situation} key submitted in request "
        "but absent in UserInfos"
    )


def proxy_claims(
    userinfo: Mapping[str, Any], work_situation: str | None, ins: str | None, proxy: ProxyIdentity
) -> vihf.VihfClaims:
    """The claims of the VIHF the proxy makes for this user and patient."""
    exercices = list((userinfo.get("SubjectRefPro") or {}).get("exercices") or [])
    practice = chosen_practice(exercices, work_situation)
    roles = [vihf.Role(str(practice.get("codeProfession", "")), vihf.CS_G15)]
    # GENVIHF adds the savoir-faire when any of the user's practices is médecin (10) or pharmacien (21).
    if any(str(p.get("codeProfession")) in vihf.PROFESSIONS_NEEDING_SPECIALTY for p in exercices):
        roles.append(vihf.Role(str(practice.get("codeSavoirFaire", "")), vihf.CS_R01))
    names = (userinfo.get("family_name"), userinfo.get("given_name"), userinfo.get("SubjectOrganization"))
    subject = " ".join(str(name or "") for name in names)
    return vihf.VihfClaims(
        name_id=str(userinfo.get("SubjectNameID") or ""),
        structure_id=proxy.structure_id,
        secteur_activite=str(userinfo.get("Secteur_Activite") or ""),
        roles=tuple(roles),
        auth_mode=PROXY_AUTH_MODE,
        # Without the header GENVIHF would write "null^^^..."; the mock leaves resource-id out instead.
        patient_id=xds.format_cx(ins, proxy.ins_oid) if ins else None,
        lps_nom=proxy.lps_nom,
        lps_version=proxy.lps_version,
        lps_homologation=proxy.lps_homologation,
        subject_name=subject,
        authn_context=MOBILE_TWO_FACTOR,
        omit=frozenset({vihf.ATTR_LPS_ID}),
    )
