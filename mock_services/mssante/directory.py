"""The operator's directory of test mailboxes (``fixtures/mss/directory.toml``) and patient mailboxes."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from harness.core import ins
from harness.core.paths import data_dir

PATIENT_DOMAIN = "patient.mssante.fr"
TYPES = frozenset({"PER", "ORG", "APP", "CAB"})


@dataclass(frozen=True)
class Mailbox:
    address: str
    type: str
    name: str = ""
    owner: str | None = None  # IdNatPs of a PER mailbox's owner
    password: str | None = None
    certificate_cn: str | None = None
    auto_ack: str | None = None  # "processed" or "<code>^<label>" for a negative integration MDN
    delivery: str | None = None  # "full": accepted at RCPT, then not delivered (a failure DSN, 5.2.2)


class Directory:
    def __init__(self, mailboxes: list[Mailbox], patient_ins: frozenset[str]):
        self.mailboxes = {m.address.lower(): m for m in mailboxes}
        self.patient_ins = patient_ins

    @classmethod
    def load(cls, path: Path | None = None, patient_ins: frozenset[str] | None = None) -> Directory:
        path = path or data_dir("fixtures") / "mss" / "directory.toml"
        with path.open("rb") as handle:
            data = tomllib.load(handle)
        mailboxes = []
        for entry in data.get("mailbox", []):
            if entry.get("type") not in TYPES:
                raise ValueError(f"{path}: mailbox {entry.get('address')}: type must be one of {sorted(TYPES)}")
            if entry.get("delivery") not in (None, "full"):
                raise ValueError(f'{path}: mailbox {entry.get("address")}: delivery must be "full" when given')
            mailboxes.append(
                Mailbox(
                    address=entry["address"].lower(),
                    type=entry["type"],
                    name=entry.get("name", ""),
                    owner=entry.get("owner"),
                    password=entry.get("password"),
                    certificate_cn=entry.get("certificate_cn"),
                    auto_ack=entry.get("auto_ack"),
                    delivery=entry.get("delivery"),
                )
            )
        if patient_ins is None:
            from mock_services.dmp.patients import PatientBase

            patient_ins = frozenset(p.ins for p in PatientBase.load().by_ins.values() if p.status == "open")
        return cls(mailboxes, patient_ins)

    def get(self, address: str) -> Mailbox | None:
        return self.mailboxes.get(address.lower())

    def accepts(self, address: str) -> tuple[bool, str]:
        """Whether mail for ``address`` can be delivered, and why not."""
        address = address.lower()
        local, _, domain = address.partition("@")
        if domain == PATIENT_DOMAIN:
            if ins.matricule_problems(local):
                return False, f"{local} n'est pas un matricule INS valide"
            if local not in self.patient_ins:
                return False, "aucune messagerie patient pour cet INS"
            return True, ""
        if address in self.mailboxes:
            return True, ""
        return False, "boîte aux lettres inconnue"

    def by_certificate(self, common_name: str | None) -> list[Mailbox]:
        return [m for m in self.mailboxes.values() if common_name and m.certificate_cn == common_name]

    def by_owner(self, id_nat_ps: str | None) -> list[Mailbox]:
        return [m for m in self.mailboxes.values() if id_nat_ps and m.owner == id_nat_ps]
