"""What the transactions take and give: the acting professional as the VIHF says (:class:`Actor`),
the answer (:class:`Answer`), and the two ways to refuse: :class:`Refusal` (a protocol answer)
and :class:`BusinessError` (a refusal the transaction answers in its own shape).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from harness.core.recorder import OK
from harness.protocols import vihf, xds


class Refusal(Exception):
    """Ends handling with a protocol answer; ``outcome`` says how it is recorded."""

    def __init__(self, status: int, body: bytes, outcome: str, fault: dict[str, Any], mtom: bool = False):
        super().__init__(fault.get("reason", ""))
        self.status, self.body, self.outcome, self.fault, self.mtom = status, body, outcome, fault, mtom


@dataclass
class Answer:
    body: etree._Element
    outcome: str = OK
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)


class BusinessError(Exception):
    """A refusal the transaction answers in its own shape (RegistryResponse Failure...)."""

    def __init__(self, situation: str, detail: str = "", location: str = ""):
        super().__init__(situation)
        self.situation, self.detail, self.location = situation, detail, location


@dataclass(frozen=True)
class Actor:
    """Who acts, as the VIHF says (read from the signed part only)."""

    ps: str
    structure: str | None
    auth_mode: str | None
    purpose: str | None
    patient_ins: str | None
    patient_oid: str | None

    @classmethod
    def from_check(cls, check: vihf.VihfCheck) -> Actor:
        def first(name: str) -> str | None:
            values = check.attributes.get(name) or []
            return values[0] if values else None

        resource = first("urn:oasis:names:tc:xacml:2.0:resource:resource-id")
        patient = xds.patient_ins(resource)
        purpose = first("urn:oasis:names:tc:xspa:1.0:subject:purposeofuse")
        return cls(
            ps=check.name_id or "",
            structure=first("Identifiant_Structure"),
            auth_mode=first("Authentification_mode"),
            purpose=purpose.split("^")[0] if purpose else None,
            patient_ins=patient[0] if patient else None,
            patient_oid=patient[1] if patient else None,
        )

    @property
    def indirect(self) -> bool:
        return (self.auth_mode or "DIRECTE") != "DIRECTE"
