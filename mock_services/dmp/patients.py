"""The DMP mock's test patients (``fixtures/dmp/patients.toml``): one situation each.

A vendor may add its own patients with a file of the same shape (``SEGUR_DMP_PATIENTS`` or
``segur serve --dmp-patients``); its entries replace built-in ones with the same INS.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core import ins
from harness.core.paths import data_dir

STATUSES = frozenset({"open", "not_created", "closed"})
AUTHORISATIONS = frozenset({"VALIDE", "NON_EXISTE", "INTERDIT", "EXPIRE"})
OPPOSITIONS = frozenset({"centre15", "bris_de_glace"})


@dataclass(frozen=True)
class SeedDocument:
    title: str
    type_code: str
    author: str
    author_structure: str
    confidentiality: tuple[str, ...] = ("N",)


@dataclass(frozen=True)
class DmpPatient:
    key: str
    ins: str
    oid: str
    nom_naissance: str
    prenoms: tuple[str, ...]
    sexe: str
    date_naissance: str
    lieu_naissance: str = ""
    status: str = "open"
    authorisation: str = "NON_EXISTE"
    refuses_authorisations: bool = False
    opposition: frozenset[str] = frozenset()
    linked_to_ens: bool = False
    # Facts §2.3 (FI PDT-INF-526): masked documents are readable in bris de glace / centre 15 only
    # "when the patient allowed it"; not allowing is the default.
    masked_visible_in_emergency: bool = False
    situation: str = ""
    documents: tuple[SeedDocument, ...] = field(default=())

    def identity(self) -> dict[str, Any]:
        """The identity in the form SUT actions use (``harness.run.sut.actions.IDENTITY_FIELDS``)."""
        return {
            "ins": self.ins,
            "oid": self.oid,
            "nom_naissance": self.nom_naissance,
            "prenoms": list(self.prenoms),
            "sexe": self.sexe,
            "date_naissance": self.date_naissance,
            "lieu_naissance": self.lieu_naissance,
            "status": "QUAL",
        }


def _patient(entry: dict[str, Any], source: Path) -> DmpPatient:
    where = f"{source}: patient {entry.get('key', '?')}"
    problems = ins.matricule_problems(str(entry.get("ins", "")))
    if problems:
        raise ValueError(f"{where}: INS {entry.get('ins')!r}: {'; '.join(problems)}")
    if entry.get("oid") not in ins.INS_OIDS:
        raise ValueError(f"{where}: oid must be one of {sorted(ins.INS_OIDS)}")
    status = entry.get("status", "open")
    authorisation = entry.get("authorisation", "NON_EXISTE")
    opposition = frozenset(entry.get("opposition", []))
    if status not in STATUSES:
        raise ValueError(f"{where}: status {status!r} not in {sorted(STATUSES)}")
    if authorisation not in AUTHORISATIONS:
        raise ValueError(f"{where}: authorisation {authorisation!r} not in {sorted(AUTHORISATIONS)}")
    if opposition - OPPOSITIONS:
        raise ValueError(f"{where}: opposition {sorted(opposition - OPPOSITIONS)} not in {sorted(OPPOSITIONS)}")
    masked_visible = entry.get("masked_visible_in_emergency", False)
    if not isinstance(masked_visible, bool):
        raise ValueError(f"{where}: masked_visible_in_emergency must be true or false, not {masked_visible!r}")
    documents = tuple(
        SeedDocument(
            title=d["title"],
            type_code=d["type_code"],
            author=d["author"],
            author_structure=d["author_structure"],
            confidentiality=tuple(d.get("confidentiality", ["N"])),
        )
        for d in entry.get("documents", [])
    )
    return DmpPatient(
        key=entry["key"],
        ins=str(entry["ins"]),
        oid=entry["oid"],
        nom_naissance=entry["nom_naissance"],
        prenoms=tuple(entry["prenoms"]),
        sexe=entry["sexe"],
        date_naissance=entry["date_naissance"],
        lieu_naissance=entry.get("lieu_naissance", ""),
        status=status,
        authorisation=authorisation,
        refuses_authorisations=bool(entry.get("refuses_authorisations", False)),
        opposition=opposition,
        linked_to_ens=bool(entry.get("linked_to_ens", False)),
        masked_visible_in_emergency=masked_visible,
        situation=entry.get("situation", ""),
        documents=documents,
    )


class PatientBase:
    def __init__(self, patients: list[DmpPatient]):
        self.by_ins = {p.ins: p for p in patients}
        self.by_key = {p.key: p for p in patients}

    @classmethod
    def load(cls, extra: Path | None = None) -> PatientBase:
        default = data_dir("fixtures") / "dmp" / "patients.toml"
        patients = {p.ins: p for p in _read(default)}
        if extra is not None:
            patients.update({p.ins: p for p in _read(extra)})
        return cls(list(patients.values()))

    def get(self, matricule: str | None) -> DmpPatient | None:
        return self.by_ins.get(matricule or "")

    def __getitem__(self, key: str) -> DmpPatient:
        return self.by_key[key]


def _read(path: Path) -> list[DmpPatient]:
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    return [_patient(entry, path) for entry in data.get("patient", [])]
