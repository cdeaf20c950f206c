"""Signing keys (with rotation) and the tokens the PSC mock issues, including bad ones on demand.

Bad tokens are served only when a scenario asks for them (``options.id_token_defect``), so a
suite can check that the product refuses them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

TOKEN_DEFECTS = (
    "bad_signature",
    "unknown_kid",
    "alg_none",
    "wrong_audience",
    "wrong_issuer",
    "expired",
    "nonce_mismatch",
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


PUBLISHED_SIGNING_KEYS = 2  # the newest signs; the previous one stays published for tokens already issued


def new_encryption_key() -> RSAKey:
    return RSAKey.generate_key(
        2048, parameters={"kid": "enc-" + uuid.uuid4().hex[:12], "use": "enc", "alg": "RSA-OAEP"}
    )


@cache
def published_encryption_key() -> RSAKey:
    """The encryption key a ring of this process publishes: one per process, since nothing is ever
    encrypted with it (it is there for the JWKS's shape) and an RSA key costs 50 to 150 ms to make."""
    return new_encryption_key()


def new_signing_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": uuid.uuid4().hex[:16], "use": "sig", "alg": "RS256"})


class KeyRing:
    """RS256 keys in this process's memory: the newest signs, every key still published verifies.

    :class:`mock_services.psc.keys.SharedKeyRing` keeps the same ring in the store instead, for
    several processes serving one PostgreSQL database; it refreshes ``keys`` in :meth:`refresh`.
    """

    def __init__(self) -> None:
        self.keys: list[RSAKey] = []
        # Keycloak publishes its encryption key beside the signing ones, first: a client that takes
        # the first key without looking at "use" and "kid" breaks on PSC, and must here too.
        self.encryption_key = published_encryption_key()
        self.rotate()

    def rotate(self) -> str:
        key = new_signing_key()
        self.keys = [*self.keys, key][-PUBLISHED_SIGNING_KEYS:]
        return str(key.kid)

    def refresh(self) -> None:
        """Bring the ring up to date before it is used (nothing to do for a ring of one process)."""

    @property
    def current(self) -> RSAKey:
        self.refresh()
        return self.keys[-1]

    def jwks(self) -> dict[str, Any]:
        self.refresh()
        return dict(KeySet([self.encryption_key, *self.keys]).as_dict(private=False))

    def key_set(self) -> KeySet:
        self.refresh()
        return KeySet(list[Any](self.keys))

    def sign(self, claims: dict[str, Any], defect: str | None = None) -> str:
        key = self.current  # refreshed once: the kid named and the key signing are the same one
        kid = str(key.kid)
        if defect == "alg_none":
            header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
            return f"{header}.{_b64(json.dumps(claims).encode())}."
        if defect == "unknown_kid":
            stranger = RSAKey.generate_key(2048, parameters={"kid": "unknown-" + kid})
            return jwt.encode({"alg": "RS256", "kid": "unknown-" + kid, "typ": "JWT"}, claims, stranger)
        token = jwt.encode({"alg": "RS256", "kid": kid, "typ": "JWT"}, claims, key)
        if defect == "bad_signature":
            head, payload, signature = token.split(".")
            flipped = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
            flipped[0] ^= 0xFF
            token = f"{head}.{payload}.{_b64(bytes(flipped))}"
        return token

    def verify(self, token: str) -> dict[str, Any] | None:
        """Claims of a token this provider issued and that has not expired; None otherwise."""
        try:
            decoded = jwt.decode(token, self.key_set(), algorithms=["RS256"])
        except Exception:  # joserfc raises several error types for bad tokens; all mean "no"
            return None
        claims = dict(decoded.claims)
        return claims if claims.get("exp", 0) > time.time() else None


@dataclass
class Lifetimes:
    """Lifetimes in seconds, all settings (profiles/psc/README.md gives each one's source).

    PSC's token lifetimes are not documented (facts §8 gap 3). The SSO session lifetimes, 30 min
    idle and 4 h at most, are those of ANS's PSC guide for identity providers (the README cites it).
    """

    access_token: int = 120
    id_token: int = 300
    refresh_token: int = 1800
    code: int = 60
    sso_idle: int = 30 * 60
    sso_max: int = 4 * 60 * 60


@dataclass
class Grant:
    """What a login produced: a professional's session with one client."""

    client_id: str
    sub: str
    id_nat_ps: str
    scope: str
    nonce: str | None
    auth_time: int
    acr: str
    session_state: str = field(default_factory=lambda: str(uuid.uuid4()))
    revoked: bool = False  # set when its code is replayed: every token it produced stops working
    # One login's grant; several grants may share one SSO session (session_state), so revocation is by this id.
    grant_id: str = field(default_factory=lambda: uuid.uuid4().hex)


def own_claims(token: str) -> dict[str, Any]:
    """The claims of a token this provider has just signed, read without verifying it again."""
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


def at_hash(access_token: str) -> str:
    return _b64(hashlib.sha256(access_token.encode()).digest()[:16])


def issue(keyring: KeyRing, issuer: str, grant: Grant, lifetimes: Lifetimes, defect: str | None) -> dict[str, Any]:
    """The token response for a grant; ``defect`` spoils the ID token in one named way."""
    now = int(time.time())
    common = {
        "iss": issuer,
        "sub": grant.sub,
        "azp": grant.client_id,
        "auth_time": grant.auth_time,
        "session_state": grant.session_state,
        "sid": grant.session_state,  # Keycloak's user session id, the same value as session_state
        "acr": grant.acr,
        "preferred_username": grant.id_nat_ps,
    }
    # Shaped like the official introspection sample: no "aud", an empty nonce when none was sent.
    access_claims = {
        **common,
        "typ": "Bearer",
        "nonce": grant.nonce or "",
        "email_verified": False,
        "scope": grant.scope,
        "jti": str(uuid.uuid4()),
        "iat": now,
        "exp": now + lifetimes.access_token,
    }
    access_token = keyring.sign(access_claims)
    id_claims = {
        **common,
        "typ": "ID",
        "aud": grant.client_id,
        "jti": str(uuid.uuid4()),
        "iat": now,
        "exp": now + lifetimes.id_token,
        "at_hash": at_hash(access_token),
    }
    if grant.nonce is not None:
        id_claims["nonce"] = grant.nonce
    if defect == "wrong_audience":
        id_claims["aud"] = "another-client"
    elif defect == "wrong_issuer":
        id_claims["iss"] = issuer + "-other"
    elif defect == "expired":
        id_claims["iat"], id_claims["exp"] = now - 600, now - 300
    elif defect == "nonce_mismatch":
        id_claims["nonce"] = "not-the-nonce-you-sent"
    sign_defect = defect if defect in ("bad_signature", "unknown_kid", "alg_none") else None
    return {
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": lifetimes.access_token,
        "refresh_expires_in": lifetimes.refresh_token,
        "id_token": keyring.sign(id_claims, sign_defect),
        "scope": grant.scope,
        "session_state": grant.session_state,
    }
