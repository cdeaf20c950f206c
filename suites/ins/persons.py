"""Test persons of the INSi identity base (fixtures/insi/identities.toml), as SUT parameters."""

from __future__ import annotations

import tomllib
from functools import cache
from typing import Any

from harness.core.paths import data_dir


@cache
def _base() -> dict[str, Any]:
    with (data_dir("fixtures") / "insi" / "identities.toml").open("rb") as handle:
        return tomllib.load(handle)


def person(key: str) -> dict[str, Any]:
    """A person of the base (or of its not-found list) by its stable key."""
    for entry in _base().get("identity", []) + _base().get("not_found", []):
        if entry["key"] == key:
            return entry
    raise KeyError(f"no test person {key!r} in fixtures/insi/identities.toml")


def traits(key: str, *, document_checked: bool = False) -> dict[str, Any]:
    """Parameters of the insi.search_by_traits action for this person."""
    entry = person(key)
    return {
        "nom_naissance": entry["nom_naissance"],
        "prenoms": list(entry["prenoms"]),
        "sexe": entry["sexe"],
        "date_naissance": entry["date_naissance"],
        "lieu_naissance": entry.get("lieu_naissance", ""),
        "identity_document_checked": document_checked,
    }


def stored_identity(key: str, *, status: str = "QUAL", **changes: Any) -> dict[str, Any]:
    """The identity a product would hold for this person after a successful INSi search."""
    entry = person(key)
    identity = {
        "ins": entry["matricule"],
        "oid": entry["oid"],
        "nom_naissance": entry["nom_naissance"],
        "prenoms": list(entry["prenoms"]),
        "sexe": entry["sexe"],
        "date_naissance": entry["date_naissance"],
        "lieu_naissance": entry.get("lieu_naissance", ""),
        "status": status,
    }
    identity.update(changes)
    return identity


def with_carte_vitale() -> dict[str, Any]:
    """The first person of the base that has carte Vitale data."""
    for entry in _base().get("identity", []):
        if "carte_vitale" in entry:
            return entry
    raise KeyError("no test person with carte Vitale data in fixtures/insi/identities.toml")


def trusted_cards(insi: Any) -> tuple[bytes, ...]:
    """The CA of the test professionals' cards, which a CPx assertion must chain to (INS-04)."""
    return (insi.env.pki.intermediate_ca_pems["personnes"].read_bytes(),)
