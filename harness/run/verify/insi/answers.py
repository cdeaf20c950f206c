"""What the product did with INSi's answer (identity kept, status, export), and the precondition
that blames the product's request when INSi could not answer it."""

from __future__ import annotations

from typing import Any

from harness.core import ins
from harness.core.recorder import Exchange
from harness.core.results import Finding
from harness.core.skips import HarnessDataError, blocked_by
from harness.run.verify.insi.exchanges import InsiResponse, business_exchanges, read_response, where
from harness.run.verify.insi.requests import (
    check_addressing,
    check_authentication,
    check_contexts,
    check_traits_request,
)
from harness.run.verify.recorded import require_live

ANSWER_EN = "what it did with the answer of the harness's INSi mock"
ANSWER_FR = "ce qu'il a fait de la réponse du simulateur INSi du harnais"


def response_with_identity(exchanges: list[Exchange]) -> tuple[Exchange, InsiResponse] | None:
    for exchange in reversed(exchanges):
        response = read_response(exchange)
        if response.code_cr == "00":
            return exchange, response
    return None


def request_gates(
    exchanges: list[Exchange], person: dict[str, Any] | None = None, cpx_trust_pems: tuple[bytes, ...] = ()
) -> dict[str, list[Finding]]:
    """The requirements that judge the product's own INSi requests, each with its findings.

    They are the preconditions of every test that judges what the product did with INSi's
    answer: INS-03 only for a search by traits, whose given traits are ``person``.
    """
    calls = business_exchanges(exchanges)
    gates = {
        "INS-01": check_addressing(calls),
        "INS-02": check_contexts(exchanges),
        "INS-04": check_authentication(exchanges, cpx_trust_pems),
    }
    if person is not None:
        gates["INS-03"] = check_traits_request(calls, person)
    return gates


def require_answer(
    exchanges: list[Exchange],
    requirement: str,
    codes: tuple[str, ...] = ("00",),
    person: dict[str, Any] | None = None,
    cpx_trust_pems: tuple[bytes, ...] = (),
) -> None:
    """Precondition of a test judging what the product kept: INSi answered one of ``codes`` (CodeCR).

    When it did not, the product's own request is to blame if a requirement judging it fails
    (the test is then not evaluable because of that requirement); otherwise the harness's test
    data or mock is wrong, which is a harness error, never the product's.
    """
    require_live(requirement, ANSWER_EN, ANSWER_FR, exchanges=exchanges)
    if any(read_response(e).code_cr in codes for e in business_exchanges(exchanges)):
        return
    blocked_by(request_gates(exchanges, person, cpx_trust_pems), requirement)
    raise HarnessDataError(
        f"{requirement}: INSi gave no CR {'/'.join(codes)} in this scenario although the product's requests "
        "meet INS-01 to INS-04: the harness's test data or INSi mock is wrong"
    )


def check_kept_identity(
    answer: dict[str, Any],
    exchanges: list[Exchange],
    requirement: str,
    person: dict[str, Any] | None = None,
    cpx_trust_pems: tuple[bytes, ...] = (),
) -> list[Finding]:
    """INS-05 (and INS-08/10/12/14 through their data): the identity kept is INSi's, unchanged.

    Its precondition is :func:`require_answer`: INSi gave an identity (CR 00).
    """
    require_live(requirement, ANSWER_EN, ANSWER_FR, exchanges=exchanges, answer=answer)
    require_answer(exchanges, requirement, ("00",), person, cpx_trust_pems)
    found = response_with_identity(exchanges)
    assert found is not None  # require_answer saw a CR 00
    exchange, response = found
    location = where(exchange)
    if answer.get("outcome") != "found" or not isinstance(answer.get("identity"), dict):
        return [
            Finding(
                "insi.identity-kept",
                "INSi returned an identity (CR 00) but the product kept none",
                message_fr="INSi a renvoyé une identité (CR 00) mais le produit n'en a conservé aucune",
                expected_fr="résultat found avec l'identité",
                received_fr=f"résultat {answer.get('outcome')!r} : {answer.get('message', '')}",
                requirement=requirement,
                expected="outcome found with the identity",
                received=f"outcome {answer.get('outcome')!r}: {answer.get('message', '')}",
                location=location,
            )
        ]
    kept = answer["identity"]
    expected = {
        "ins": response.matricule,
        "oid": response.oid,
        "nom_naissance": response.traits.get("NomNaissance"),
        "prenoms": (response.traits.get("ListePrenom") or response.traits.get("Prenom") or "").split(),
        "sexe": response.traits.get("Sexe"),
        "date_naissance": response.traits.get("DateNaissance"),
        "lieu_naissance": response.traits.get("LieuNaissance", ""),
    }
    return [
        Finding(
            "insi.identity-kept",
            f"the identity kept differs from INSi's answer on {key}",
            message_fr=f"l'identité conservée diffère de la réponse d'INSi sur {key}",
            requirement=requirement,
            expected=repr(value),
            received=repr(kept.get(key)),
            location=location,
        )
        for key, value in expected.items()
        if kept.get(key) != value
    ]


def check_no_identity_kept(answer: dict[str, Any], expected_outcome: str, requirement: str) -> list[Finding]:
    """INS-06/07/13: nothing kept, and the answer tells the user what happened."""
    require_live(requirement, ANSWER_EN, ANSWER_FR, answer=answer)
    findings = []
    if answer.get("identity"):
        findings.append(
            Finding(
                "insi.no-identity",
                "the product kept an identity where INSi gave none",
                message_fr="le produit a conservé une identité alors qu'INSi n'en a renvoyé aucune",
                expected_fr="aucune identité",
                requirement=requirement,
                expected="no identity",
                received=repr(answer.get("identity")),
            )
        )
    if answer.get("outcome") != expected_outcome:
        findings.append(
            Finding(
                "insi.outcome",
                "the product told the user something else than INSi answered",
                message_fr="le produit a indiqué à l'utilisateur autre chose que ce qu'INSi a répondu",
                requirement=requirement,
                expected=expected_outcome,
                received=f"{answer.get('outcome')!r}: {answer.get('message', '')}",
            )
        )
    return findings


def check_status(answer: dict[str, Any], document_checked: bool) -> list[Finding]:
    """INS-11: RECUP without an identity document check, QUAL with one."""
    require_live("INS-11", ANSWER_EN, ANSWER_FR, answer=answer)
    identity = answer.get("identity") or {}
    expected = ins.status_after(retrieved_from_insi=True, identity_document_checked=document_checked).value
    if identity.get("status") != expected:
        reason, reason_fr = ("with", "avec") if document_checked else ("without", "sans")
        return [
            Finding(
                "ins.identity-status",
                f"wrong identity status for an INSi identity {reason} document check",
                message_fr=f"statut d'identité erroné pour une identité INSi {reason_fr} contrôle de pièce d'identité",
                requirement="INS-11",
                expected=expected,
                received=repr(identity.get("status")),
            )
        ]
    return []


def check_export(answer: dict[str, Any], identity: dict[str, Any]) -> list[Finding]:
    """INS-16: the INS leaves the product only for a QUAL identity."""
    carried = [i for i in answer.get("identifiers", []) if i.get("value") == identity["ins"]]
    may_carry = ins.may_carry_ins_in_exchanges(ins.IdentityStatus(identity["status"]))
    if carried and not may_carry:
        return [
            Finding(
                "ins.export-unqualified",
                f"the INS is exported for an identity that is not qualified (status {identity['status']})",
                message_fr=f"l'INS est exporté pour une identité qui n'est pas qualifiée (statut {identity['status']})",
                expected_fr="aucun identifiant INS",
                requirement="INS-16",
                expected="no INS identifier",
                received=repr(carried),
            )
        ]
    if may_carry and not carried:
        return [
            Finding(
                "ins.export-qualified",
                "a qualified identity is exported without its INS",
                message_fr="une identité qualifiée est exportée sans son INS",
                expected_fr=f"{identity['ins']} avec l'OID {identity['oid']}",
                requirement="INS-16",
                expected=f"{identity['ins']} with OID {identity['oid']}",
                received=repr(answer.get("identifiers")),
            )
        ]
    if carried and carried[0].get("oid") != identity["oid"]:
        return [
            Finding(
                "ins.export-oid",
                "the exported INS does not carry its OID",
                message_fr="l'INS exporté ne porte pas son OID",
                requirement="INS-16",
                expected=identity["oid"],
                received=repr(carried[0].get("oid")),
            )
        ]
    return []
