"""MSSanté rules of the DSR's SC.MSS/CONF family judged on the recorded SMTP submissions:
the TLS suites (MSS-09, SC.MSS/CONF.03), the end-of-exchange header (MSS-10, SC.MSS/CONF.21) and
the operator certificate from IGC-Santé only (MSS-11, SC.MSS/CONF.27).

The suites are read from ``profiles/mss/tls.toml``; what the mock records of a connection is the
negotiated version and suite and the client's TLS 1.2 suites the server also enables.
"""

from __future__ import annotations

import tomllib
from functools import cache
from typing import Any

from harness.core.paths import data_dir
from harness.core.results import Finding
from harness.run.verify.mss import Submitted, none_sent
from harness.run.verify.recorded import require_live

END_OF_EXCHANGE = ("X-MSS-MES", "FIN")  # SC.MSS/CONF.21: the value is "FIN", three capital letters


@cache
def tls_rules() -> dict[str, Any]:
    with (data_dir("profiles") / "mss" / "tls.toml").open("rb") as handle:
        return tomllib.load(handle)


def check_cipher_suites(messages: list[Submitted], rules: dict[str, Any] | None = None) -> list[Finding]:
    """MSS-09: each submission's TLS 1.2 suite, and the TLS 1.2 suites offered, are in the MSSanté list."""
    require_live(
        "MSS-09",
        "the TLS version and cipher suites of the session",
        "la version et les suites TLS de la session",
        exchanges=[m.exchange for m in messages],
    )
    if not messages:
        return none_sent("MSS-09")
    rules = rules or tls_rules()
    allowed = set(rules["tls12_cipher_suites"])
    findings = []
    for sent in messages:
        meta = sent.exchange.request_meta
        version, cipher = meta.get("tls_version"), meta.get("tls_cipher")
        tls13_accepted = version == "TLSv1.3" and rules.get("accept_tls13", True)
        if not tls13_accepted and (version != "TLSv1.2" or cipher not in allowed):
            findings.append(
                Finding(
                    "mss.tls-suite",
                    f"the TLS connection used {version} with {cipher}, outside the MSSanté suites",
                    message_fr=f"la connexion TLS a utilisé {version} avec {cipher}, hors des suites MSSanté",
                    expected_fr="TLS 1.2 avec une suite de SC.MSS/CONF.03",
                    requirement="MSS-09",
                    expected="TLS 1.2 with a suite of SC.MSS/CONF.03",
                    received=f"{version} {cipher}",
                    location=sent.where,
                )
            )
        others = sorted(set(meta.get("tls_offered") or []) - allowed)
        if others:
            findings.append(
                Finding(
                    "mss.tls-offered",
                    "the product offered TLS 1.2 suites outside the MSSanté list",
                    message_fr="le produit a proposé des suites TLS 1.2 hors de la liste MSSanté",
                    expected_fr="uniquement les suites de SC.MSS/CONF.03",
                    requirement="MSS-09",
                    expected="only the suites of SC.MSS/CONF.03",
                    received=", ".join(others),
                    location=sent.where,
                )
            )
    return findings


def check_end_of_exchange(messages: list[Submitted]) -> list[Finding]:
    """MSS-10: a message to a patient the professional wants no answer from carries X-MSS-MES: FIN."""
    if not messages:
        return none_sent("MSS-10")
    name, value = END_OF_EXCHANGE
    findings = []
    for sent in messages:
        received = sent.message.get_all(name) or []
        if [str(v).strip() for v in received] != [value]:
            findings.append(
                Finding(
                    "mss.end-of-exchange",
                    f"the message to the patient does not carry {name}: {value}",
                    message_fr=f"le message au patient ne porte pas {name}: {value}",
                    requirement="MSS-10",
                    expected=f"{name}: {value}",
                    received=repr(received),
                    location=sent.where,
                )
            )
    return findings


def check_foreign_certificate_refused(answer: dict[str, Any], messages: list[Submitted]) -> list[Finding]:
    """MSS-11: with a server certificate from outside IGC-Santé, the product sent nothing.

    ``messages`` are the submissions accepted while the operator presented that certificate.
    """
    if answer.get("outcome") != "sent" and not messages:
        return []
    return [
        Finding(
            "mss.foreign-certificate",
            "the product submitted a message to an operator whose certificate is not from IGC-Santé",
            message_fr="le produit a soumis un message à un opérateur dont le certificat n'est pas issu de l'IGC-Santé",
            expected_fr="connexion refusée, aucun message soumis",
            received_fr=f"résultat {answer.get('outcome')!r}, {len(messages)} message(s) accepté(s)",
            requirement="MSS-11",
            expected="connection refused, no message submitted",
            received=f"outcome {answer.get('outcome')!r}, {len(messages)} message(s) accepted",
            location=messages[0].where if messages else None,
        )
    ]
