"""The INS library: matricule INS, identity-assigning OIDs, RNIV statuses, birth-place codes.

Pure functions, no I/O. Facts from ``shared/specs/segur-facts.md`` §1 (INSi XSD, CNDA test
persons, FR Core); where a rule is our reading rather than a published one, it says so.
"""

from __future__ import annotations

import enum
import re

OID_INS_NIR = "1.2.250.1.213.1.4.8"
OID_INS_NIA = "1.2.250.1.213.1.4.9"
OID_INS_NIR_TEST = "1.2.250.1.213.1.4.10"
OID_INS_NIR_DEMO = "1.2.250.1.213.1.4.11"
INS_OIDS = frozenset({OID_INS_NIR, OID_INS_NIA, OID_INS_NIR_TEST, OID_INS_NIR_DEMO})
_OID_KINDS = {OID_INS_NIR: "NIR", OID_INS_NIA: "NIA", OID_INS_NIR_TEST: "NIR-TEST", OID_INS_NIR_DEMO: "NIR-DEMO"}

SEXES = frozenset({"M", "F"})
CORSICA = {"2A": "19", "2B": "18"}
# Body layout: sex, YY, MM, department (2 chars, 2A/2B for Corsica), commune (3), order (3).
_BODY = re.compile(r"^\d{6}[0-9AB]\d{6}$")
_COG = re.compile(r"^(\d{2}|2A|2B)\d{3}$")


def oid_kind(oid: str | None) -> str | None:
    """ "NIR", "NIA", "NIR-TEST", "NIR-DEMO", or None for an OID that is not an INS OID."""
    return _OID_KINDS.get(oid or "")


def _numeric_body(body: str) -> int:
    department = body[5:7]
    if department in CORSICA:
        body = body[:5] + CORSICA[department] + body[7:]
    return int(body)


def compute_key(body: str) -> str:
    """Key = 97 − (body mod 97), on two digits, with 2A → 19 and 2B → 18 first (facts §1.1)."""
    if len(body) != 13 or not _BODY.match(body.upper()) or (body[6].isalpha() and body[5] != "2"):
        raise ValueError(f"not a 13-character matricule body: {body!r}")
    return f"{97 - _numeric_body(body.upper()) % 97:02d}"


def split_matricule(value: str) -> tuple[str, str]:
    """(13-character body, 2-character key)."""
    return value[:13], value[13:]


def matricule_problems(value: str) -> list[str]:
    """Every problem with a 15-character matricule INS (NIR or NIA); [] when it is valid.

    The NIR and the NIA share the layout and the key rule; which one a value is comes from
    its OID, never from the value (facts §1.1: a NIA may start with 1 or 2, like a NIR).
    """
    if not isinstance(value, str) or len(value) != 15:
        length = len(value) if isinstance(value, str) else type(value).__name__
        return [f"a matricule INS has 15 characters, received {length}"]
    body, key = split_matricule(value.upper())
    problems = []
    if not _BODY.match(body) or (body[6] in "AB" and body[5] != "2"):
        problems.append(
            f"body {body!r} must be 13 digits, with 2A or 2B allowed only as the department (characters 6-7)"
        )
    if not key.isdigit():
        problems.append(f"key {key!r} must be 2 digits")
    if problems:
        return problems
    if body[0] not in "12":
        # Facts §1.1 and every CNDA/DMP test person start with 1 or 2 (sex). Other first digits
        # exist for some temporary numbers; we report them rather than guess.
        problems.append(f"first digit (sex) must be 1 or 2, received {body[0]}")
    month = int(body[3:5])
    if not (1 <= month <= 12 or 20 <= month <= 42 or month in (50, 99)):
        # Unknown-month conventions (20-42, 50, 99) exist in NIR practice; accepted, not invented.
        problems.append(f"birth month {body[3:5]} is not a valid month code")
    expected = compute_key(body)
    if key != expected:
        problems.append(f"key {key} does not match the body: expected {expected}")
    return problems


def is_valid_matricule(value: str) -> bool:
    return not matricule_problems(value)


class IdentityStatus(enum.StrEnum):
    """RNIV identity statuses (FR Core CodeSystem fr-core-cs-v2-0445)."""

    PROV = "PROV"
    RECUP = "RECUP"
    VALI = "VALI"
    QUAL = "QUAL"

    @property
    def label(self) -> str:
        return {"PROV": "provisoire", "RECUP": "récupérée", "VALI": "validée", "QUAL": "qualifiée"}[self.value]


def may_carry_ins_in_exchanges(status: IdentityStatus) -> bool:
    """Only a qualified identity may carry the matricule INS in what is shared or exchanged."""
    return status is IdentityStatus.QUAL


def status_after(*, retrieved_from_insi: bool, identity_document_checked: bool) -> IdentityStatus:
    """The RNIV status from the two facts that make it: INS retrieved (INSi) and document checked."""
    if retrieved_from_insi and identity_document_checked:
        return IdentityStatus.QUAL
    if retrieved_from_insi:
        return IdentityStatus.RECUP
    if identity_document_checked:
        return IdentityStatus.VALI
    return IdentityStatus.PROV


def status_after_failed_verification(status: IdentityStatus) -> IdentityStatus:
    """Règle 49 of the INS guide: a failed INSi verification downgrades the identity one level.

    The INS goes with it (it is no longer retrieved): QUAL becomes VALI and RECUP becomes PROV;
    VALI and PROV, which carry no retrieved INS, keep their status.
    """
    return status_after(retrieved_from_insi=False, identity_document_checked=status in _DOCUMENT_CHECKED)


_DOCUMENT_CHECKED = (IdentityStatus.QUAL, IdentityStatus.VALI)


def birth_date_has_unknown_part(value: str) -> bool:
    """Règle 11 of the INS guide: INSi may write an unknown birth day or month as 00 (YYYY-MM-DD)."""
    parts = value.split("-")
    return len(parts) == 3 and "00" in parts[1:]


def cog_problems(code: str) -> list[str]:
    """Problems with an INSEE COG birth-place code (5 characters): commune, or 99xxx for a country."""
    if not isinstance(code, str) or len(code) != 5:
        return [f"a COG code has 5 characters, received {code!r}"]
    code = code.upper()
    if not _COG.match(code):
        return [f"{code!r} is neither a commune code (department + 3 digits, 2A/2B for Corsica) nor 99xxx"]
    if code.startswith("20"):
        return [f"{code!r}: department 20 no longer exists, Corsica is 2A or 2B"]
    if code.startswith("00"):
        return [f"{code!r}: department 00 does not exist"]
    return []


def is_valid_cog(code: str) -> bool:
    return not cog_problems(code)


def normalise_name(value: str) -> str:
    """Upper case, trimmed, inner spaces collapsed: for comparing names.

    Accents, hyphens and apostrophes are kept: they are part of the strict traits INSi returns,
    and a product must keep them exactly.
    """
    return " ".join(value.upper().split())
