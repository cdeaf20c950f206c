"""A CRL distribution point: the test PKI's "organisations" CRL over plain HTTP (SC.MSS/CONF.22).

Products fetch it at the URL the operator's certificate names (its CRL Distribution Points
extension); HTTP, not HTTPS, as RFC 5280 §4.2.1.13 expects, since checking a TLS server for a CRL
would need a CRL. A test switches it to a fault: ``unavailable`` (503), ``garbage`` (200 with bytes
that are no CRL) or ``expired`` (a correctly signed CRL whose nextUpdate has passed). Every fetch is
recorded under the MSSanté test running at the time: a certificate cannot name a session.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harness.core.recorder import OK, REJECTED, Exchange, ExchangeStore
from mock_services.mssante.smtp import ActiveSession

CRL_PATH = "/crl/organisations.crl"
CRL_MEDIA_TYPE = "application/pkix-crl"  # RFC 5280 §4.2.1.13 / RFC 2585
FAULTS = ("unavailable", "garbage", "expired")
GARBAGE = b"<html><body>Service temporairement indisponible</body></html>"  # what a broken proxy may answer


class UnknownFault(ValueError):
    pass


@dataclass
class CrlPublication:
    """What the point publishes: the current CRL, unless a fault is switched on."""

    current_crl: bytes
    expired_crl: bytes
    fault: str | None = None

    def switch(self, fault: str | None) -> None:
        if fault is not None and fault not in FAULTS:
            raise UnknownFault(f"unknown CRL distribution fault {fault!r}; known: {', '.join(FAULTS)}")
        self.fault = fault

    def answer(self) -> tuple[int, bytes, str]:
        """(HTTP status, body, media type) for one fetch."""
        if self.fault == "unavailable":
            return 503, b"", "text/plain"
        if self.fault == "garbage":
            return 200, GARBAGE, CRL_MEDIA_TYPE
        if self.fault == "expired":
            return 200, self.expired_crl, CRL_MEDIA_TYPE
        return 200, self.current_crl, CRL_MEDIA_TYPE


def create_app(store: ExchangeStore, publication: CrlPublication, active: ActiveSession) -> Starlette:
    async def fetch(request: Request) -> Response:
        started = time.time()
        status, body, media_type = publication.answer()
        store.record(
            Exchange(
                service="crl",
                session_key=active.key,
                operation="crl.fetch",
                outcome=OK if status == 200 else REJECTED,
                request_body=b"",
                response_body=body,
                started_at=started,
                finished_at=time.time(),
                http_status=status,
                request_meta={"method": request.method, "path": request.url.path},
                summary={"fault": publication.fault or "none"},
            )
        )
        return Response(body, status_code=status, media_type=media_type)

    return Starlette(routes=[Route(CRL_PATH, fetch, methods=["GET", "HEAD"])])
