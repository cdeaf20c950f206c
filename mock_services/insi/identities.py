"""The INSi mock's identity base (``fixtures/insi/identities.toml``) and its matching rules."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.ins import normalise_name
from harness.core.paths import data_dir


@dataclass(frozen=True)
class HistoricIns:
    matricule: str
    oid: str
    date_deb: str | None = None
    date_fin: str | None = None


@dataclass(frozen=True)
class Identity:
    key: str
    nom_naissance: str
    prenoms: tuple[str, ...]
    sexe: str
    date_naissance: str
    lieu_naissance: str | None
    matricule: str
    oid: str
    history: tuple[HistoricIns, ...] = ()
    carte_vitale: dict[str, Any] = field(default_factory=dict)
    # TIQ fields the answer gives instead of the traits above (synthetic answers the product must refuse)
    answer: dict[str, str] = field(default_factory=dict)

    def matches_traits(self, nom: str, prenoms: list[str], sexe: str, date: str, lieu: str | None) -> bool:
        """INSi-like matching: strict traits, and the given names sent must name this person.

        The sent given names (joined by a space) must be the first given name, the full list,
        or one of the given names; this reproduces the CNDA cases (TCHITCHI: OLA -> 01,
        CATARINA -> 00) without claiming to be INSi's exact algorithm.
        """
        if normalise_name(nom) != normalise_name(self.nom_naissance) or sexe != self.sexe:
            return False
        if date != self.date_naissance:
            return False
        if lieu and self.lieu_naissance and lieu.upper() != self.lieu_naissance:
            return False
        if not prenoms:
            return True
        sent = normalise_name(" ".join(prenoms))
        own = [normalise_name(p) for p in self.prenoms]
        return sent in own or sent == " ".join(own)

    def matches_card(self, matricule_individu: str, date: str, nom: str | None) -> bool:
        if not self.carte_vitale or self.carte_vitale.get("matricule_individu") != matricule_individu:
            return False
        if date and date != self.date_naissance:
            return False
        return not nom or normalise_name(nom) == normalise_name(self.nom_naissance)


class IdentityBase:
    def __init__(self, identities: list[Identity]):
        self.identities = identities

    def by_traits(self, nom: str, prenoms: list[str], sexe: str, date: str, lieu: str | None) -> list[Identity]:
        return [i for i in self.identities if i.matches_traits(nom, prenoms, sexe, date, lieu)]

    def by_card(self, matricule_individu: str, date: str, nom: str | None) -> list[Identity]:
        return [i for i in self.identities if i.matches_card(matricule_individu, date, nom)]

    @classmethod
    def load(cls, path: Path | None = None) -> IdentityBase:
        path = path or data_dir("fixtures") / "insi" / "identities.toml"
        with path.open("rb") as handle:
            data = tomllib.load(handle)
        identities = [
            Identity(
                key=entry["key"],
                nom_naissance=entry["nom_naissance"],
                prenoms=tuple(entry["prenoms"]),
                sexe=entry["sexe"],
                date_naissance=entry["date_naissance"],
                lieu_naissance=entry.get("lieu_naissance"),
                matricule=entry["matricule"],
                oid=entry["oid"],
                history=tuple(
                    HistoricIns(h["matricule"], h["oid"], h.get("date_deb"), h.get("date_fin"))
                    for h in entry.get("history", [])
                ),
                carte_vitale=dict(entry.get("carte_vitale", {})),
                answer={name: str(value) for name, value in entry.get("answer", {}).items()},
            )
            for entry in data.get("identity", [])
        ]
        return cls(identities)
