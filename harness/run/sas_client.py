"""The harness as the SAS platform: a FHIR client over mTLS that records every exchange.

The SAS couloir turns the roles around: the product serves, the harness asks. Each request is
recorded in the exchange store (service ``sas``) with the product's raw answer, so that the
verifiers (``harness.run.verify.sas``) judge recorded bytes, as for the mocks.
"""

from __future__ import annotations

import json
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from harness.core import pki
from harness.core.recorder import FAULT, OK, REJECTED, Exchange, ExchangeStore

SERVICE = "sas-agenda"  # the product's server, as the SAS client saw it ("sas" is the SAS platform mock)
ACCEPT = "application/fhir+json"
TIMEOUT_SECONDS = 15.0


@dataclass
class SasAnswer:
    """What the product answered (``status`` None when the TLS handshake or the connection failed)."""

    method: str
    url: str
    credential: str | None
    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    elapsed: float = 0.0
    transport_error: str | None = None
    exchange_id: str = ""

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None


class NotRecorded(LookupError):
    """Judging a past run again: the test asks for a request the recording does not hold."""


class SasClient:
    """Requests to the product's FHIR base, each with a named client credential of the harness PKI.

    With ``replay`` (``segur rejudge``), nothing is sent: each request gets, in order, the answer
    recorded for it in the test's session, so a SAS test is judged again on the recorded bytes.
    """

    def __init__(
        self, base_url: str, layout: pki.PkiLayout, store: ExchangeStore, session_key: str, *, replay: bool = False
    ):
        self.base_url = base_url.rstrip("/")
        self.layout, self.store, self.session_key = layout, store, session_key
        self.replay, self._replayed = replay, 0

    def _recorded(self, method: str, operation: str) -> SasAnswer:
        recorded = sorted(self.store.exchanges(session_key=self.session_key, service=SERVICE), key=lambda e: e.seq)
        if self._replayed >= len(recorded) or recorded[self._replayed].operation != operation:
            raise NotRecorded(f"no recorded answer to {operation} (request {self._replayed + 1} of the test)")
        exchange = recorded[self._replayed]
        self._replayed += 1
        return SasAnswer(
            method,
            str(exchange.request_meta.get("url", "")),
            exchange.request_meta.get("credential"),
            exchange.http_status,
            dict(exchange.response_meta.get("headers") or {}),
            exchange.response_body,
            float(exchange.summary.get("elapsed_seconds", 0.0)),
            exchange.response_meta.get("transport_error"),
            exchange.id,
        )

    def _context(self, credential: str | None) -> ssl.SSLContext:
        return pki.client_ssl_context(self.layout, credential)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: list[tuple[str, str | int | float | bool | None]] | None = None,
        body: dict[str, Any] | None = None,
        credential: str | None = "sas-platform",
    ) -> SasAnswer:
        url = path if path.startswith(("https://", "http://")) else f"{self.base_url}/{path.lstrip('/')}"
        operation = f"{method} {path.split('?')[0] if not path.startswith('http') else 'booking-url'}"
        if self.replay:
            return self._recorded(method, operation)
        raw = json.dumps(body, ensure_ascii=False).encode() if body is not None else b""
        headers = {"Accept": ACCEPT}
        if body is not None:
            headers["Content-Type"] = ACCEPT
        started = time.time()
        clock = time.perf_counter()
        answer = SasAnswer(method, url, credential, None)
        try:
            with httpx.Client(verify=self._context(credential), timeout=TIMEOUT_SECONDS) as client:
                response = client.request(method, url, params=params, content=raw or None, headers=headers)
            answer.status, answer.body = response.status_code, response.content
            answer.headers = {k.lower(): v for k, v in response.headers.items()}
            answer.url = str(response.request.url)
        except (httpx.HTTPError, ssl.SSLError, OSError) as exc:
            answer.transport_error = f"{type(exc).__name__}: {exc}"
        answer.elapsed = time.perf_counter() - clock
        outcome = OK if answer.status is not None and answer.status < 400 else FAULT
        if answer.status is None:
            outcome = REJECTED
        exchange = Exchange(
            SERVICE,
            self.session_key,
            operation,
            outcome,
            raw,
            answer.body,
            started,
            time.time(),
            http_status=answer.status,
            client_subject=self.layout.client(credential).subject if credential else None,
            request_meta={"method": method, "url": answer.url, "credential": credential},
            response_meta={"headers": answer.headers, "transport_error": answer.transport_error},
            summary={"elapsed_seconds": round(answer.elapsed, 4)},
        )
        answer.exchange_id = self.store.record(exchange).id
        return answer
