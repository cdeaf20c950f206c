"""DMP-21: a PFI shares the document another system produced as it came, not a document of its own."""

from __future__ import annotations

import hashlib

from harness.core.results import Finding
from harness.run.verify.dmp.requests import DmpRequest, succeeded


def check_relay(request: DmpRequest, received: bytes) -> list[Finding]:
    """The TD2.1 ``request`` carries ``received`` byte for byte, and the DMP accepted it."""
    shared = request.documents()
    if not any(content == received for content in shared.values()):
        return [
            Finding(
                "dmp.relay-unchanged",
                "the relayed submission does not carry the document received from the emitting system, byte for byte",
                message_fr="le lot relayé ne porte pas, à l'octet près, le document reçu du système émetteur",
                requirement="DMP-21",
                location=request.where,
                expected=f"a document of SHA-256 {hashlib.sha256(received).hexdigest()}",
                received=", ".join(hashlib.sha256(c).hexdigest()[:16] for c in shared.values()) or "no document",
            )
        ]
    if not succeeded(request.exchange):
        return [
            Finding(
                "dmp.relay-accepted",
                "the DMP refused the relayed submission",
                message_fr="le DMP a refusé le lot relayé",
                requirement="DMP-21",
                location=request.where,
            )
        ]
    return []
