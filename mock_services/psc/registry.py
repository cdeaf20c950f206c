"""Who the PSC mock knows: test professionals (with PSC's userinfo claims) and registered clients."""

from __future__ import annotations

import difflib
import tomllib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.core.paths import data_dir

AUTH_METHODS = {"client_secret_basic", "client_secret_post", "tls_client_auth"}
# Keycloak federated-user subject: f:<provider uuid>:<identifier> (facts §4); the uuid is ours.
FEDERATION_ID = "5e9d1f3a-7c2b-4f60-9a41-3c8e2d7b0f15"
ACTIVITY_FIELDS = (
    "codeSectionPharmacien",
    "codeRole",
    "numeroSiretSite",
    "numeroSirenSite",
    "numeroFinessSite",
    "numeroFinessetablissementJuridique",
    "identifiantTechniqueDeLaStructure",
    "enseigneCommercialeSite",
    "complementDestinataire",
    "complementPointGeographique",
    "numeroVoie",
    "indiceRepetitionVoie",
    "codeTypeDeVoie",
    "libelleVoie",
    "mentionDistribution",
    "bureauCedex",
    "codePays",
    "telephone",
    "telephone2",
    "telecopie",
    "adresseEMail",
    "ancienIdentifiantDeLaStructure",
    "autoriteDenregistrement",
)


@dataclass(frozen=True)
class Professional:
    key: str
    id_nat_ps: str
    data: dict[str, Any]

    @property
    def sub(self) -> str:
        return f"f:{FEDERATION_ID}:{self.id_nat_ps}"

    def userinfo(self) -> dict[str, Any]:
        """The PSC userinfo document, shaped like the PSC sample (empty strings for absent values).

        The official sample has codeCivilite only inside SubjectRefPro, not at the top level.
        """
        d = self.data
        exercices = []
        if d["profession"]:
            activity = {name: "" for name in ACTIVITY_FIELDS}
            activity.update(
                codeModeExercice=d["mode_exercice"],
                codeSecteurDactivite=d["secteur"],
                codeGenreActivite="GENR01",
                raisonSocialeSite=d["structure"],
                codePostal=d["code_postal"],
                codeCommune=d["code_commune"],
                codeDepartement=d["code_commune"][:2],
            )
            exercices.append(
                {
                    "codeProfession": d["profession"],
                    "codeCategorieProfessionnelle": d["categorie"],
                    "codeCiviliteDexercice": d["civilite"],
                    "nomDexercice": d["family_name"],
                    "prenomDexercice": d["given_name"],
                    "codeTypeSavoirFaire": d["savoir_faire_type"],
                    "codeSavoirFaire": d["savoir_faire"],
                    "activities": [activity],
                }
            )
        return {
            "sub": self.sub,
            "preferred_username": self.id_nat_ps,
            "given_name": d["given_name"],
            "family_name": d["family_name"],
            "email_verified": False,
            "SubjectNameID": self.id_nat_ps,
            "SubjectOrganization": d["structure"],
            "SubjectOrganizationID": "",
            "SubjectRole": list(d.get("subject_roles", [])),
            "Secteur_Activite": f"{d['secteur']}^1.2.250.1.71.4.2.4",
            "Palier_Authentification": "APPPRIP3^1.2.250.1.213.1.5.1.1.1",
            "UITVersion": "1.0",
            "Acces_Regulation_Medicale": "FAUX",
            "Mode_Acces_Raison": "",
            "PSI_Locale": "1.2.250.1.213.1.3.1.1",
            "otherIds": [{"identifiant": d["rpps"], "origine": "RPPS", "qualite": 1}] if d["rpps"] else [],
            "SubjectRefPro": {"codeCivilite": d["civilite"], "exercices": exercices},
        }


@dataclass(frozen=True)
class Client:
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]
    token_endpoint_auth_method: str


class Registry:
    def __init__(self, professionals: list[Professional], clients: list[Client]):
        self.professionals = {p.id_nat_ps: p for p in professionals}
        self.by_key = {p.key: p for p in professionals}
        self.clients = {c.client_id: c for c in clients}

    def professional(self, hint: str) -> Professional | None:
        """By IdNatPs, RPPS or fixture key (the forms a test's login_hint may take)."""
        found = self.professionals.get(hint) or self.by_key.get(hint)
        if found is None:
            found = next((p for p in self.professionals.values() if p.data.get("rpps") == hint and hint), None)
        return found

    @classmethod
    def load(cls, professionals: Path | None = None, clients: Path | None = None) -> Registry:
        folder = data_dir("fixtures") / "psc"
        with (professionals or folder / "professionals.toml").open("rb") as handle:
            pros = [Professional(p["key"], p["id_nat_ps"], p) for p in tomllib.load(handle)["professional"]]
        with (clients or folder / "clients.toml").open("rb") as handle:
            entries = tomllib.load(handle)["client"]
        registered = []
        for entry in entries:
            method = entry["token_endpoint_auth_method"]
            if method not in AUTH_METHODS:
                close = difflib.get_close_matches(method, sorted(AUTH_METHODS), n=1)
                raise ValueError(f"client {entry['client_id']}: unknown auth method {method!r}; did you mean {close}?")
            registered.append(
                Client(
                    entry["client_id"],
                    entry.get("client_secret", ""),
                    tuple(entry["redirect_uris"]),
                    tuple(entry.get("post_logout_redirect_uris", [])),
                    tuple(entry["grant_types"]),
                    method,
                )
            )
        return cls(pros, registered)


def new_id() -> str:
    return str(uuid.uuid4())
