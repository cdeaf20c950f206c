"""The fault injection switches the console offers, read from the mocks' own constants: each field
of :class:`mock_services.common.Scenario` with what it does in each mock, and the scenario built
from the console's JSON (unknown switches or values refused).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mock_services.common import FAULTS, Scenario
from mock_services.insi.messages import HISTORY_DATES
from mock_services.psc.tokens import TOKEN_DEFECTS


@dataclass(frozen=True)
class Switch:
    """One field of :class:`mock_services.common.Scenario` and what it does in each mock reading it."""

    name: str  # "latency_ms", "fault" or "options.<key>"
    label: str
    description: str
    services: tuple[str, ...]
    choices: dict[str, str] = field(default_factory=dict)  # value -> effect ("" leaves it unset); empty: a number

    @property
    def option(self) -> str | None:
        return self.name.removeprefix("options.") if self.name.startswith("options.") else None


FAULT_EFFECTS = {
    "technical": "erreur technique : INSi répond HTTP 500 (faute SOAP Receiver siram_40 / insi_102), "
    "DMP HTTP 500 (faute Receiver de la situation registry_error de sa table des fautes)",
    "unavailable": "service indisponible : HTTP 503 avec une faute SOAP Receiver",
}


HISTORY_DATES_EFFECTS = {
    "off": "sans DateDeb ni DateFin",
    "xsd": "DateDeb/DateFin après OID, dans l'ordre du XSD",
    "cnda": "DateDeb/DateFin avant IdIndividu, comme la réponse CNDA TEST_2.04 (refusée par ce XSD)",
}


TOKEN_DEFECT_EFFECTS = {
    "bad_signature": "signature RS256 altérée",
    "unknown_kid": "signé par une clé dont le kid n'est pas publié",
    "alg_none": "en-tête alg « none », sans signature",
    "wrong_audience": "aud désigne un autre client",
    "wrong_issuer": "iss différent de l'émetteur",
    "expired": "expiré depuis cinq minutes",
    "nonce_mismatch": "nonce différent de celui de la demande",
}


SWITCHES = (
    Switch("latency_ms", "Latence (ms)", "Attente avant la réponse, de 0 à 60 000 ms.", ("insi", "dmp")),
    Switch(
        "fault",
        "Panne",
        "Une réponse en erreur à la place de la réponse métier.",
        ("insi", "dmp"),
        {"": "aucune"} | {name: FAULT_EFFECTS.get(name, name) for name in sorted(FAULTS)},
    ),
    Switch(
        "options.history_dates",
        "Dates de l'historique INS",
        "Place des dates des blocs INSHISTO dans la réponse INSi.",
        ("insi",),
        {"": "réglage du mock (xsd par défaut)"}
        | {name: HISTORY_DATES_EFFECTS.get(name, name) for name in HISTORY_DATES},
    ),
    Switch(
        "options.id_token_defect",
        "Jeton d'identité défectueux",
        "Le point de jeton PSC délivre un ID token gâché de cette façon : le produit doit le refuser.",
        ("psc",),
        {"": "aucun"} | {name: TOKEN_DEFECT_EFFECTS.get(name, name) for name in TOKEN_DEFECTS},
    ),
    Switch(
        "options.ciba_decision",
        "Décision sur l'application e-CPS (CIBA)",
        "Ce que le professionnel répond à la demande d'authentification poussée.",
        ("psc",),
        {"": "accepte (par défaut)", "approve": "accepte", "deny": "refuse : access_denied"},
    ),
    Switch(
        "options.acr",
        "Niveau acr des jetons PSC",
        "Le niveau que portent l'ID token et le jeton d'accès (l'exemple officiel d'introspection montre eidas3).",
        ("psc",),
        {"": "eidas1 (par défaut)", "eidas1": "eidas1", "eidas3": "eidas3, comme l'exemple officiel"},
    ),
)


OPTION_SWITCHES = {switch.option: switch for switch in SWITCHES if switch.option}


def scenario_from_json(data: object) -> Scenario:
    """A scenario from the console's JSON (the mocks' own form); unknown switches or values are refused."""
    if not isinstance(data, dict):
        raise ValueError("le scénario doit être un objet JSON")
    options = data.get("options") or {}
    if not isinstance(options, dict):
        raise ValueError("options doit être un objet JSON")
    options = {key: value for key, value in options.items() if value not in ("", None)}
    for key, value in options.items():
        switch = OPTION_SWITCHES.get(key)
        if switch is None:
            raise ValueError(f"option inconnue {key!r} ; connues : {', '.join(sorted(OPTION_SWITCHES))}")
        if value not in switch.choices:
            known = ", ".join(choice for choice in switch.choices if choice)
            raise ValueError(f"valeur {value!r} inconnue pour {key} ; connues : {known}")
    try:
        return Scenario.from_dict({**data, "fault": data.get("fault") or None, "options": options})
    except TypeError as exc:  # latency_ms: null
        raise ValueError(str(exc)) from exc
