"""The HL7 v2 data types that XDS.b slot values carry: CX (patient ids), XCN (persons), XON (institutions).

Each type is read leniently from its ``^``/``&`` separated text (missing components are empty or
None) and written in the DMP's forms: INS with ``ISO^NH``, IdNatPs and IdNatSt authorities.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.protocols.xds.names import OID_IDNPS, OID_IDNST


@dataclass(frozen=True)
class CX:
    """``id^^^&oid&ISO^type`` (patient identifiers)."""

    id: str
    authority_oid: str | None
    authority_type: str | None
    id_type: str | None


def parse_cx(value: str) -> CX:
    fields = value.split("^")
    authority = fields[3].split("&") if len(fields) > 3 else []
    return CX(
        id=fields[0],
        authority_oid=authority[1] if len(authority) > 1 and authority[1] else None,
        authority_type=authority[2] if len(authority) > 2 and authority[2] else None,
        id_type=fields[4] if len(fields) > 4 and fields[4] else None,
    )


def format_cx(identifier: str, oid: str, id_type: str = "NH") -> str:
    return f"{identifier}^^^&{oid}&ISO^{id_type}"


def patient_ins(value: str | None) -> tuple[str, str | None] | None:
    """(matricule, oid) from a CX patient id, or None when absent."""
    if not value:
        return None
    cx = parse_cx(value)
    return cx.id, cx.authority_oid


@dataclass(frozen=True)
class XCN:
    """``id^family^given^^^^^^&oid&ISO^D^^^IDNPS`` (authorPerson, legalAuthenticator)."""

    id: str
    family: str
    given: str
    authority_oid: str | None
    name_type: str | None
    id_type: str | None


def parse_xcn(value: str) -> XCN:
    fields = value.split("^")
    fields += [""] * (13 - len(fields))
    authority = fields[8].split("&")
    return XCN(
        id=fields[0],
        family=fields[1],
        given=fields[2],
        authority_oid=authority[1] if len(authority) > 1 and authority[1] else None,
        name_type=fields[9] or None,
        id_type=fields[12] or None,
    )


def format_xcn(id_nat: str, family: str, given: str) -> str:
    return f"{id_nat}^{family}^{given}^^^^^^&{OID_IDNPS}&ISO^D^^^IDNPS"


@dataclass(frozen=True)
class XON:
    """``name^^^^^&oid&ISO^IDNST^^^id`` (authorInstitution)."""

    name: str
    authority_oid: str | None
    id_type: str | None
    id: str


def parse_xon(value: str) -> XON:
    fields = value.split("^")
    fields += [""] * (10 - len(fields))
    authority = fields[5].split("&")
    return XON(
        name=fields[0],
        authority_oid=authority[1] if len(authority) > 1 and authority[1] else None,
        id_type=fields[6] or None,
        id=fields[9],
    )


def format_xon(name: str, id_nat_struct: str) -> str:
    return f"{name}^^^^^&{OID_IDNST}&ISO^IDNST^^^{id_nat_struct}"
