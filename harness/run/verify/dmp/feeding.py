"""How the product feeds the DMP: without asking for an authorisation, and on hold while it cannot.

SC.DMP/CONF.05 (DMP-14): feeding needs no access authorisation, so no TD0.3 is sent for it.
SC.DMP/ALI/PROG.06 and .07 (DMP-15): a send that cannot reach the DMP is put on hold without
the user, and goes by itself once the DMP can be reached again.
"""

from __future__ import annotations

from typing import Any

from harness.core.recorder import FAULT, Exchange
from harness.core.results import Finding
from harness.run.verify.dmp.requests import requests, succeeded
from harness.run.verify.recorded import require_live


def check_no_authorisation_for_feeding(exchanges: list[Exchange]) -> list[Finding]:
    """DMP-14: the product fed the DMP (one TD2.1 at least) and sent no TD0.3 for it."""
    # A handed-over feed shows no TD0.3 only because the files hold none: absence needs the live traffic.
    require_live(
        "DMP-14",
        "every request the product sent to the harness's DMP around the feed",
        "toutes les requêtes envoyées au DMP du harnais autour de l'alimentation",
        exchanges=exchanges,
    )
    authorisations = requests(exchanges, "TD0.3")
    return [
        Finding(
            "dmp.feed-without-authorisation",
            "the product asked for an access authorisation (TD0.3) to feed the DMP",
            message_fr="le produit a demandé une autorisation d'accès (TD0.3) pour alimenter le DMP",
            expected_fr="aucune TD0.3 pour l'alimentation",
            received_fr=f"{len(authorisations)} TD0.3",
            requirement="DMP-14",
            expected="no TD0.3 for feeding",
            received=f"{len(authorisations)} TD0.3",
            location=request.where,
        )
        for request in authorisations
    ]


def check_send_on_hold(feed_answer: dict[str, Any], exchanges: list[Exchange]) -> list[Finding]:
    """DMP-15: the send was put on hold (outcome ``queued``), then a TD2.1 reached the DMP afterwards."""
    findings = []
    if feed_answer.get("outcome") != "queued":
        findings.append(
            Finding(
                "dmp.send-on-hold",
                "the DMP could not be reached and the product did not put the send on hold",
                message_fr="le DMP était injoignable et le produit n'a pas mis l'envoi en attente",
                expected_fr="résultat queued (envoi en attente)",
                received_fr=f"résultat {feed_answer.get('outcome')!r} : {feed_answer.get('message', '')}",
                requirement="DMP-15",
                expected="outcome queued (send on hold)",
                received=f"outcome {feed_answer.get('outcome')!r}: {feed_answer.get('message', '')}",
            )
        )
    feeds = requests(exchanges, "TD2.1")
    last_refused = max((i for i, r in enumerate(feeds) if r.exchange.outcome == FAULT), default=-1)
    later = [r for r in feeds[last_refused + 1 :] if succeeded(r.exchange)]
    if not later:
        findings.append(
            Finding(
                "dmp.send-retried",
                "once the DMP could be reached again, the send on hold did not reach it",
                message_fr="une fois le DMP de nouveau joignable, l'envoi en attente ne lui est pas parvenu",
                expected_fr="une TD2.1 acceptée après l'indisponibilité",
                received_fr=f"{len(feeds)} TD2.1, aucune acceptée après la dernière refusée",
                requirement="DMP-15",
                expected="a TD2.1 accepted after the unavailability",
                received=f"{len(feeds)} TD2.1, none accepted after the last refused one",
            )
        )
    return findings
