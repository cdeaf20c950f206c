"""DMP-30: a DMP call made for a user logged in with Pro Santé Connect carries that identity the way
the PSC -> VIHF proxy (ANS GENVIHF) does, judged on the recorded exchanges of PSC, proxy and DMP.

The PSC token response gives the tokens issued in the test; the proxy exchanges show what the
product presented (an access token PSC issued, still valid, the patient's INS); the DMP requests
show what reached the DMP: a VIHF signed by the proxy's certificate, with the proxy's AuthnContext
``MobileTwoFactorUnregistered`` and the logged-in user's IdNatPs, over the proxy's TLS identity.
A VIHF the product made itself, even dressed the same way, is not the proxy's.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from cryptography import x509

from harness.core.recorder import Exchange
from harness.core.results import Finding
from harness.protocols import vihf
from harness.run.verify.dmp.requests import requests

REQUIREMENT = "DMP-30"
MOBILE_TWO_FACTOR = "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorUnregistered"


def _finding(rule: str, en: str, fr: str, where: str | None = None, **values: Any) -> Finding:
    return Finding(f"dmp-psc.{rule}", en, message_fr=fr, requirement=REQUIREMENT, location=where, **values)


def issued_tokens(psc_exchanges: Sequence[Exchange]) -> tuple[set[str], set[str]]:
    """(access tokens, ID tokens) that PSC's token endpoint answered in these exchanges."""
    access, identity = set(), set()
    for exchange in psc_exchanges:
        if exchange.operation != "token" or exchange.http_status != 200:
            continue
        try:
            answer = json.loads(exchange.response_body)
        except ValueError:
            continue
        if isinstance(answer, dict):
            access |= {str(answer["access_token"])} if answer.get("access_token") else set()
            identity |= {str(answer["id_token"])} if answer.get("id_token") else set()
    return access, identity


def _expiry(token: str) -> float | None:
    """The ``exp`` of a JWT, read without checking the signature (the token came from PSC's own answer)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, KeyError, TypeError, ValueError, binascii.Error):
        return None


def _headers(exchange: Exchange) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (exchange.request_meta.get("headers") or {}).items()}


def check_proxy_calls(
    proxy_exchanges: Sequence[Exchange], psc_exchanges: Sequence[Exchange], patient_ins: str
) -> list[Finding]:
    """What the product presented to the proxy: PSC's access token, unexpired, and the patient's INS."""
    access, identity = issued_tokens(psc_exchanges)
    if not access:
        return [
            _finding(
                "token",
                "no PSC access token was issued to the product in this test (no successful token request)",
                "aucun jeton d'accès PSC n'a été délivré au produit dans ce test (aucune requête de jeton réussie)",
            )
        ]
    if not proxy_exchanges:
        return [
            _finding(
                "proxy",
                "the DMP was not called through the PSC -> VIHF proxy: no request reached it",
                "le DMP n'a pas été appelé au travers du proxy PSC -> VIHF : aucune requête ne lui est parvenue",
            )
        ]
    findings = []
    for exchange in proxy_exchanges:
        where = f"exchange {exchange.id} (vihf_proxy)"
        headers = _headers(exchange)
        scheme, _, token = headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            findings.append(
                _finding("bearer", "no Bearer token was sent to the proxy", "aucun jeton Bearer envoyé au proxy", where)
            )
        elif token in identity:
            findings.append(
                _finding(
                    "bearer",
                    "the ID token was presented to the proxy instead of the PSC access token",
                    "le jeton d'identité a été présenté au proxy au lieu du jeton d'accès PSC",
                    where,
                )
            )
        elif token not in access:
            findings.append(
                _finding(
                    "bearer",
                    "the Bearer token is not an access token PSC issued in this session",
                    "le jeton Bearer n'est pas un jeton d'accès délivré par PSC dans cette session",
                    where,
                )
            )
        elif (expiry := _expiry(token)) is not None and expiry <= exchange.started_at:
            findings.append(
                _finding(
                    "expired",
                    "the PSC access token had expired when it was sent to the proxy",
                    "le jeton d'accès PSC avait expiré quand il a été envoyé au proxy",
                    where,
                    expected=f"exp > {exchange.started_at:.0f}",
                    received=f"exp = {expiry:.0f}",
                )
            )
        if headers.get("x-insheader") != patient_ins:
            findings.append(
                _finding(
                    "ins",
                    "X-insHeader does not carry the patient's INS",
                    "X-insHeader ne porte pas l'INS du patient",
                    where,
                    expected=patient_ins,
                    received=headers.get("x-insheader") or "absent",
                )
            )
        if exchange.http_status in (400, 401, 403, 413, 415):
            findings.append(
                _finding(
                    "refused",
                    f"the proxy refused the call (HTTP {exchange.http_status})",
                    f"le proxy a refusé l'appel (HTTP {exchange.http_status})",
                    where,
                    received=exchange.response_body[:200].decode("utf-8", "replace"),
                )
            )
    return findings


def check_dmp_calls(
    dmp_exchanges: Sequence[Exchange],
    proxy_certificates: Sequence[x509.Certificate],
    trusted: Sequence[x509.Certificate],
    id_nat_ps: str,
) -> list[Finding]:
    """What reached the DMP: the proxy's signed VIHF for the logged-in user, over the proxy's TLS identity."""
    found = requests(list(dmp_exchanges))
    if not found:
        return [
            _finding(
                "dmp",
                "no request reached the DMP for the user logged in with PSC",
                "aucune requête n'est parvenue au DMP pour l'utilisateur connecté par PSC",
            )
        ]
    proxies = {c.subject.rfc4514_string() for c in proxy_certificates}
    expected_signer = ", ".join(sorted(proxies))
    findings = []
    for request in found:
        header = request.message.header if request.message is not None else None
        assertion, _ = vihf.find_assertion(header)
        moment = dt.datetime.fromtimestamp(request.exchange.started_at, dt.UTC)
        check = vihf.verify_assertion(assertion, trusted=trusted, now=moment)
        if check.signature != "valid" or not check.trusted or check.signer_subject not in proxies:
            findings.append(
                _finding(
                    "signer",
                    "the DMP did not receive the PSC proxy's VIHF: the token is not signed by the proxy's certificate",
                    "le DMP n'a pas reçu le VIHF du proxy PSC : le jeton n'est pas signé par le certificat du proxy",
                    request.where,
                    expected=expected_signer,
                    received=f"{check.signature}, {check.signer_subject or 'no signer'}",
                )
            )
            continue
        if request.exchange.client_subject not in proxies:
            findings.append(
                _finding(
                    "route",
                    "the request carrying the proxy's VIHF did not come from the proxy (TLS client certificate)",
                    "la requête portant le VIHF du proxy ne vient pas du proxy (certificat client TLS)",
                    request.where,
                    expected=expected_signer,
                    received=request.exchange.client_subject or "none",
                )
            )
        if check.authn_context != MOBILE_TWO_FACTOR:
            findings.append(
                _finding(
                    "authn-context",
                    "the VIHF's AuthnContextClassRef is not the proxy's",
                    "l'AuthnContextClassRef du VIHF n'est pas celui du proxy",
                    request.where,
                    expected=MOBILE_TWO_FACTOR,
                    received=check.authn_context or "absent",
                )
            )
        if check.name_id != id_nat_ps:
            findings.append(
                _finding(
                    "name-id",
                    "the VIHF does not name the user logged in with PSC",
                    "le VIHF ne désigne pas l'utilisateur connecté par PSC",
                    request.where,
                    expected=id_nat_ps,
                    received=check.name_id or "absent",
                )
            )
    return findings
