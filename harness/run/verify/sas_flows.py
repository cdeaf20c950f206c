"""SAS couloir, the flows beyond the slot search: mTLS refusals, regulator accounts (gestion des
comptes régulateurs), appointments sent to the SAS platform, the SSO redirect of a booking URL.

Pure functions from recorded exchanges to findings, as ``harness.run.verify.sas``.
"""

from __future__ import annotations

from typing import Any

from harness.core.results import Finding
from harness.run.verify.sas import SAS, finding


def refused(answer: Any, what: str, what_fr: str) -> list[Finding]:
    """A connection the server must refuse: a TLS failure, or an HTTP 4xx (as the ANS SAS kit accepts)."""
    if answer.status is None or 400 <= answer.status < 500:
        return []
    return [
        finding(
            "sas.mtls",
            f"the server accepted {what}",
            f"le serveur a accepté {what_fr}",
            expected="refus TLS ou HTTP 4xx",
            received=f"HTTP {answer.status}",
            location=f"{answer.method} {answer.url}",
            evidence=(answer.exchange_id,),
        )
    ]


def location_header(answer: Any, statuses: tuple[int, ...], what: str, what_fr: str) -> list[Finding]:
    """A create or update answered with one of ``statuses`` and a Location header naming a Practitioner."""
    where, evidence = f"{answer.method} {answer.url}", (answer.exchange_id,)
    if answer.status not in statuses:
        return [
            finding(
                "sas.regulator",
                f"{what}: unexpected HTTP status",
                f"{what_fr} : statut HTTP inattendu",
                expected=" | ".join(map(str, statuses)),
                received=f"{answer.status} {answer.body[:160]!r}",
                location=where,
                evidence=evidence,
            )
        ]
    location = answer.headers.get("location", "")
    if "/Practitioner/" not in location:
        return [
            finding(
                "sas.regulator",
                f"{what}: no Location header naming the Practitioner",
                f"{what_fr} : pas d'en-tête Location désignant le Practitioner",
                expected="Location: [base]/Practitioner/<id>",
                received=location or "absent",
                location=where,
                evidence=evidence,
            )
        ]
    return []


def refused_with_outcome(answer: Any, what: str, what_fr: str) -> list[Finding]:
    """Bad input: HTTP 4xx with an OperationOutcome (the guide names 400 and 422)."""
    body = answer.json()
    if (
        answer.status is not None
        and 400 <= answer.status < 500
        and isinstance(body, dict)
        and body.get("resourceType") == "OperationOutcome"
    ):
        return []
    return [
        finding(
            "sas.regulator",
            f"{what} was not refused with a 4xx OperationOutcome",
            f"{what_fr} n'a pas été refusé par un OperationOutcome en 4xx",
            expected="HTTP 400 | 422 + OperationOutcome",
            received=f"{answer.status} {answer.body[:160]!r}",
            location=f"{answer.method} {answer.url}",
            evidence=(answer.exchange_id,),
        )
    ]


APPOINTMENT_PROFILE = SAS + "FrAppointmentSAS"
OPERATOR_EXTENSION = "http://interopsante.org/fhir/StructureDefinition/FrAppointmentOperator"
FR_V2_0203 = "http://interopsante.org/fhir/CodeSystem/fr-v2-0203"


def appointment_operator(resource: dict[str, Any], regulator: dict[str, str], evidence: str) -> list[Finding]:
    """FrAppointmentSAS's extension[appointmentOperator]: valueReference.identifier with its type
    (fr-v2-0203), system and value, naming the regulator the SAS named."""
    extensions = [
        e for e in resource.get("extension") or [] if isinstance(e, dict) and e.get("url") == OPERATOR_EXTENSION
    ]
    identifier = ((extensions[0].get("valueReference") or {}).get("identifier") or {}) if extensions else {}
    codings = (identifier.get("type") or {}).get("coding") or [] if isinstance(identifier, dict) else []
    typed = len(codings) == 1 and codings[0].get("system") == FR_V2_0203 and codings[0].get("code")
    same = identifier.get("system") == regulator.get("system") and identifier.get("value") == regulator.get("value")
    if extensions and typed and same:
        return []
    return [
        finding(
            "sas.appointment-operator",
            "the appointment does not name the regulator who booked it (appointmentOperator)",
            "le rendez-vous ne désigne pas le régulateur qui l'a pris (appointmentOperator)",
            expected=f"{OPERATOR_EXTENSION}: {regulator.get('system')}|{regulator.get('value')} (type fr-v2-0203)",
            received=str(identifier) if extensions else "absent",
            location="Appointment.extension",
            evidence=(evidence,),
        )
    ]


def appointment_request(exchange: Any, method: str, what: str, what_fr: str) -> list[Finding]:
    """A recorded request to the SAS mock: this method, over mTLS (a client certificate was presented)."""
    findings = []
    if exchange.request_meta.get("method") != method:
        findings.append(
            finding(
                "sas.appointment",
                f"{what}: the product used another HTTP method",
                f"{what_fr} : le produit a utilisé une autre méthode HTTP",
                expected=method,
                received=str(exchange.request_meta.get("method")),
                evidence=(exchange.id,),
            )
        )
    if not exchange.client_subject:
        findings.append(
            finding(
                "sas.appointment",
                f"{what}: sent without a client certificate",
                f"{what_fr} : envoyé sans certificat client",
                expected="certificat IGC-Santé",
                received="aucun",
                evidence=(exchange.id,),
            )
        )
    return findings


def login_redirect(answer: Any, authorization_endpoint: str) -> list[Finding]:
    """The booking page redirects a user the product does not know to a PSC authorization request."""
    location = answer.headers.get("location", "")
    target, _, query = location.partition("?")
    if (
        answer.status in (301, 302, 303, 307, 308)
        and target == authorization_endpoint
        and "response_type=code" in query
    ):
        return []
    return [
        finding(
            "sas.sso",
            "the booking URL opened from the SAS does not send the user to the Pro Santé Connect login",
            "l'URL de prise de RDV ouverte depuis le SAS n'envoie pas l'utilisateur "
            "vers l'authentification Pro Santé Connect",
            expected=f"HTTP 302 → {authorization_endpoint}?response_type=code&…",
            received=f"HTTP {answer.status} {location or answer.transport_error or ''}".strip(),
            location=f"GET {answer.url}",
            evidence=(answer.exchange_id,),
        )
    ]
