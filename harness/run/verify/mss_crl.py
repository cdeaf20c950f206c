"""MSS-12 (SC.MSS/CONF.22): the product keeps the last valid CRL when the distribution point fails.

The test presents an operator certificate naming the harness's CRL distribution point, lets the
product fetch the current CRL, then switches the point to each fault of ``profiles/mss/crl.toml``
and asks for one send with a certificate in good standing and one with the certificate that CRL
revokes. Each send is a :class:`CrlStep`; the verdict reads the answers, the submissions the
operator accepted and the recorded fetches.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from typing import Any

from harness.core.paths import data_dir
from harness.core.recorder import OK, Exchange
from harness.core.results import Finding, SkipKind
from harness.core.skips import NotEvaluated
from harness.run.verify.mss import Submitted

REQUIREMENT = "MSS-12"


@cache
def crl_rules() -> dict[str, Any]:
    with (data_dir("profiles") / "mss" / "crl.toml").open("rb") as handle:
        return tomllib.load(handle)


@dataclass(frozen=True)
class CrlStep:
    fault: str | None  # what the distribution point answered during the step; None: the current CRL
    certificate: str  # the operator certificate presented: "good" or "revoked"
    answer: dict[str, Any]  # the product's answer to the send
    accepted: list[Submitted]  # the submissions the operator accepted during the step
    fetches: list[Exchange]  # the product's fetches of the distribution point during the step

    @property
    def connected(self) -> bool:
        return bool(self.accepted) or self.answer.get("outcome") == "sent"


def check_last_valid_crl_kept(steps: list[CrlStep]) -> list[Finding]:
    """Findings of MSS-12; skipped for a reviewer when the product checks revocation without our CRL."""
    fetched = [e for s in steps if s.fault is None for e in s.fetches if e.outcome == OK]
    if not fetched:
        if not any(s.connected for s in steps if s.certificate == "revoked"):
            raise NotEvaluated(
                SkipKind.ATTESTATION,
                "MSS-12: the product fetched no CRL at the certificate's distribution point, yet refused the revoked "
                "operator certificate: it checks revocation otherwise (OCSP), and SC.MSS/CONF.22 only concerns CRLs; "
                "a reviewer attests how",
                "MSS-12 : le produit n'a récupéré aucune CRL au point de distribution du certificat mais a refusé le "
                "certificat révoqué de l'opérateur : il contrôle la révocation autrement (OCSP), et SC.MSS/CONF.22 ne "
                "concerne que les CRL ; un évaluateur atteste comment",
            )
        return [
            Finding(
                "mss.crl-not-fetched",
                "the product fetched no CRL at the operator certificate's distribution point and connected to "
                "an operator whose certificate is revoked: it keeps no CRL",
                message_fr="le produit n'a récupéré aucune CRL au point de distribution du certificat de "
                "l'opérateur et s'est connecté à un opérateur dont le certificat est révoqué : il ne conserve "
                "aucune CRL",
                requirement=REQUIREMENT,
                expected="the CRL fetched at the distribution point, the revoked certificate refused",
                expected_fr="la CRL récupérée au point de distribution, le certificat révoqué refusé",
                received="no fetch; a message sent to the revoked operator",
                received_fr="aucune récupération ; un message envoyé à l'opérateur révoqué",
            )
        ]
    return [finding for step in steps if step.fault is not None for finding in _judge(step)]


def _judge(step: CrlStep) -> list[Finding]:
    """The finding of one send made while the distribution point failed, if any."""
    outcome = step.answer.get("outcome")
    during_en = f"while the CRL distribution point failed ({step.fault}), the product"
    during_fr = f"pendant la panne du point de distribution de CRL ({step.fault}), le produit"
    if step.certificate == "good" and not step.connected:
        return [
            Finding(
                "mss.crl-kept",
                f"{during_en} did not connect to an operator whose certificate the last valid CRL does not revoke",
                message_fr=f"{during_fr} ne s'est pas connecté à un opérateur dont la dernière CRL valide ne "
                "révoque pas le certificat",
                requirement=REQUIREMENT,
                expected="the message sent, checked against the CRL kept from the last successful fetch",
                expected_fr="le message envoyé, contrôlé avec la CRL conservée de la dernière récupération réussie",
                received=f"outcome {outcome!r}: {step.answer.get('message')}",
                received_fr=f"résultat {outcome!r} : {step.answer.get('message')}",
            )
        ]
    if step.certificate == "revoked" and step.connected:
        return [
            Finding(
                "mss.crl-revoked-accepted",
                f"{during_en} connected to an operator whose certificate the last valid CRL revokes",
                message_fr=f"{during_fr} s'est connecté à un opérateur dont la dernière CRL valide révoque le "
                "certificat",
                requirement=REQUIREMENT,
                expected="connection refused: the kept CRL lists the certificate",
                expected_fr="connexion refusée : la CRL conservée liste le certificat",
                received=f"outcome {outcome!r}, {len(step.accepted)} message(s) accepted",
                received_fr=f"résultat {outcome!r}, {len(step.accepted)} message(s) accepté(s)",
                location=step.accepted[0].where if step.accepted else None,
            )
        ]
    return []
