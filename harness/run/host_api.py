"""The control API a shared host (``segur serve``) offers ``segur run --host``: paths and wire formats.

Every path is under ``/_segur/``, so :class:`mock_services.common.ControlGuard` answers it to loopback
clients, or to whoever presents the host's Bearer token; only :data:`CA_PATH` (public certificates)
is open, like the health check. The server side is :class:`harness.run.sessions.SessionControl`, the
client side :mod:`harness.run.remote`.

- ``GET /_segur/ca``: the host's CA bundle (PEM), to check the host's TLS certificate with.
- ``GET /_segur/credentials``: the PKI files a run needs (CAs, CRL, client and server credentials,
  the trace certificate), never the host's signing keys; JSON ``{"files": {name: base64}}``.
- ``GET /_segur/sessions/{key}/exchanges[?service=S]``: the session's exchanges, bodies and trace
  signatures included (``{"session": key, "exchanges": [...]}``, in recording order).
- ``POST /_segur/sessions/{key}/exchanges``: record an exchange the run itself observed (an artefact
  the product produced, a request the harness sent the product); the host signs it as every other,
  and marks it ``request_meta["recorded_for_run"]``. Answers the stored exchange.
- ``POST /_segur/sessions/{key}/mail``: deliver ``{"address", "message"}`` (base64) to a mailbox.
- ``GET /_segur/sessions/{key}/mail?address=A&folder=F``: the mailbox's messages (base64).
- ``PUT /_segur/mail/foreign-certificate``: ``{"foreign": bool}``, the operator's server certificate.
"""

from __future__ import annotations

import base64
from typing import Any

from harness.core.recorder import Exchange

CA_PATH = "/_segur/ca"
CREDENTIALS_PATH = "/_segur/credentials"
SESSION_PREFIX = "/_segur/sessions/"
FOREIGN_CERTIFICATE_PATH = "/_segur/mail/foreign-certificate"
RECORDED_FOR_RUN = "recorded_for_run"
MAX_UPLOAD = 64 * 1024 * 1024  # an exchange the run records: a produced document or bundle, at most


def exchange_to_json(exchange: Exchange) -> dict[str, Any]:
    """An exchange with everything a verifier and a pack need, bodies in base64."""
    return {
        **exchange.identity(),
        "request_meta": exchange.request_meta,
        "response_meta": exchange.response_meta,
        "summary": exchange.summary,
        "trace": exchange.trace,
        "request_body": base64.b64encode(exchange.request_body).decode("ascii"),
        "response_body": base64.b64encode(exchange.response_body).decode("ascii"),
    }


_FIELDS: dict[str, type | tuple[type, ...]] = {
    "id": str,
    "seq": int,
    "service": str,
    "session_key": str,
    "operation": str,
    "outcome": str,
    "http_status": (int, type(None)),
    "client_subject": (str, type(None)),
    "started_at": (int, float),
    "finished_at": (int, float),
    "request_meta": dict,
    "response_meta": dict,
    "summary": dict,
    "trace": str,
}


def exchange_from_json(data: Any) -> Exchange:
    """The inverse of :func:`exchange_to_json`; ``ValueError`` for anything of another shape."""
    if not isinstance(data, dict):
        raise ValueError("an exchange must be a JSON object")
    fields: dict[str, Any] = {}
    for name, kind in _FIELDS.items():
        if name in data:
            if not isinstance(data[name], kind) or isinstance(data[name], bool):
                raise ValueError(f"exchange field {name!r} has the wrong type")
            fields[name] = data[name]
    for name in ("service", "operation", "outcome", "started_at", "finished_at"):
        if name not in fields:
            raise ValueError(f"exchange field {name!r} is missing")
    try:
        bodies = {
            side: base64.b64decode(str(data.get(f"{side}_body", "")), validate=True) for side in ("request", "response")
        }
    except ValueError as exc:
        raise ValueError(f"an exchange body is not base64: {exc}") from None
    fields.setdefault("session_key", "")
    return Exchange(**fields, request_body=bodies["request"], response_body=bodies["response"])
