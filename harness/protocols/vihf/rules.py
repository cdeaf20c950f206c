"""The VIHF attribute rules of the facts table (segur-facts §2.4), read from a verified token.

:func:`check_attributes` judges version, structure, sector, roles (profession and specialty),
the patient's INS in resource-id, the resource URN, purpose of use, the software's identity,
NameID and AuthnContext; its problem codes are ``attribute:<what>``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from harness.core import ins
from harness.protocols.vihf.check import VihfCheck, VihfProblem
from harness.protocols.vihf.names import (
    ATTR_AUTH_MODE,
    ATTR_LPS_HOMOLOGATION,
    ATTR_LPS_ID,
    ATTR_LPS_NOM,
    ATTR_LPS_VERSION,
    ATTR_PURPOSE,
    ATTR_RESOURCE_ID,
    ATTR_RESOURCE_URN,
    ATTR_ROLE,
    ATTR_SECTEUR,
    ATTR_STRUCTURE,
    ATTR_VERSION,
    AUTH_MODES,
    CS_G15,
    CS_PURPOSE,
    CS_R01,
    CS_SECTEUR,
    NO_SPECIALTY_MESSAGE,
    PART_AUTHN_CONTEXT,
    PART_NAME_ID,
    PROFESSIONS_NEEDING_SPECIALTY,
    RESSOURCE_URN_DMP,
)

_SECTEUR = re.compile(r"SA\d\d\^" + re.escape(CS_SECTEUR))
_RESOURCE_ID = re.compile(r"(?P<ins>[^^&]*)\^\^\^&(?P<oid>[^&]*)&ISO\^NH")


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
