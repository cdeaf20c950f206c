"""The PSC -> VIHF proxy mock: an API gateway in front of the DMP that turns a PSC token into a VIHF.

Modelled on ANS's GENVIHF Gravitee policy (``prosanteconnect/generate-VIHF@73acb91``): the product
sends its DMPi SOAP request without a VIHF, with the user's PSC access token as a Bearer token
and the headers ``X-Worksituation`` (profession + category of the practice) and ``X-insHeader``
(the patient's INS). The gateway checks the token by asking PSC's userinfo endpoint for the
user (GENVIHF reads the payload of Gravitee's OpenID Connect UserInfo policy), builds the VIHF
(:mod:`mock_services.vihf_proxy.claims`), puts it in ``wsse:Security`` in the SOAP header and
forwards the request to the DMP over mutual TLS with its own certificate; the DMP's answer goes
back as it came. Served at ``/si-dmp-server/v2/services/{service}`` (and per session).

Not in GENVIHF, so settings here: GENVIHF makes an *unsigned* token and says the proxy's
authentication and signature certificates presented to the DMP share one DN; the mock signs with
that certificate (``ProxySettings.signer``; None sends it unsigned). Error bodies are Gravitee's
JSON ``{"message", "http_status_code"}`` (inferred from Gravitee's defaults). GENVIHF parses the
body as one XML document, so MTOM (multipart) requests are refused with 415.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from lxml import etree
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harness.core.recorder import FAULT, OK, REJECTED, Exchange, ExchangeStore
from harness.protocols import mtom, soap, vihf
from mock_services.common import DEFAULT_SESSION, TRACE_HEADER, ScenarioStore, client_identity, scenario_endpoint
from mock_services.vihf_proxy.claims import (
    INS_HEADER,
    WORK_SITUATION_HEADER,
    ProxyIdentity,
    WrongWorkSituation,
    proxy_claims,
)

SERVICE = "vihf_proxy"
BASE_PATH = "si-dmp-server/v2/services"


@dataclass(frozen=True)
class Upstreams:
    """Where the proxy asks for the user (PSC userinfo) and where it forwards (the DMPi services base)."""

    userinfo_url: str
    dmp_base: str


@dataclass(frozen=True)
class ProxySettings:
    identity: ProxyIdentity = field(default_factory=ProxyIdentity)
    signer: vihf.VihfSigner | None = None
    # TLS towards PSC and the DMP: the proxy's client certificate and the CAs it trusts.
    client_tls: ssl.SSLContext | None = None
    timeout: float = 20.0
    max_body_bytes: int = 16 * 1024 * 1024


class _Refusal(Exception):
    def __init__(self, status: int, message: str, summary: dict[str, Any]):
        super().__init__(message)
        self.status, self.message, self.summary = status, message, summary


class VihfProxy:
    def __init__(self, store: ExchangeStore, settings: ProxySettings, upstreams: Callable[[str], Upstreams]):
        self.store, self.settings, self.upstreams = store, settings, upstreams
        self._http = httpx.Client(verify=settings.client_tls or True, timeout=settings.timeout)

    def close(self) -> None:
        self._http.close()

    async def endpoint(self, request: Request) -> Response:
        session_key = request.path_params.get("session_key", DEFAULT_SESSION)
        started = time.time()
        body = b""
        summary: dict[str, Any] = {"service": request.path_params["service"]}
        try:
            body = await self._read_body(request)
            status, payload, content_type = await self._forward(request, body, session_key, summary)
            outcome = OK if status < 400 else FAULT
        except _Refusal as refusal:
            summary.update(refusal.summary, refused=refusal.message)
            status, outcome, content_type = refusal.status, REJECTED, "application/json"
            payload = json.dumps({"message": refusal.message, "http_status_code": refusal.status}).encode()
        exchange = self.store.record(
            Exchange(
                service=SERVICE,
                session_key=session_key,
                operation=summary.get("service", "unknown"),
                outcome=outcome,
                request_body=body,
                response_body=payload,
                started_at=started,
                finished_at=time.time(),
                http_status=status,
                client_subject=client_identity(request.scope).subject,
                request_meta={"method": request.method, "path": request.url.path, "headers": dict(request.headers)},
                response_meta={"content_type": content_type},
                summary=summary,
            )
        )
        return Response(payload, status_code=status, headers={"content-type": content_type, TRACE_HEADER: exchange.id})

    async def _read_body(self, request: Request) -> bytes:
        """The body, read no further than the limit (a huge request is refused, not held in memory)."""
        limit, chunks, size = self.settings.max_body_bytes, [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _Refusal(413, f"request larger than {limit} bytes", {})
            chunks.append(chunk)
        return b"".join(chunks)

    async def _forward(
        self, request: Request, body: bytes, session_key: str, summary: dict[str, Any]
    ) -> tuple[int, bytes, str]:
        content_type = request.headers.get("content-type", "")
        if mtom.is_multipart(content_type):
            raise _Refusal(415, "the VIHF policy transforms an XML body; multipart (MTOM) is not supported", {})
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _Refusal(401, "Unauthorized: no Bearer access token", {"token": "absent"})
        upstream = self.upstreams(session_key)
        headers = dict(request.headers)
        try:
            # A blocking client with a pool of kept-alive mTLS connections, shared by the server's threads:
            # a new TLS handshake to PSC and to the DMP for each call would triple the proxy's latency.
            return await run_in_threadpool(
                self._relay, headers, request.path_params["service"], body, token.strip(), upstream, summary
            )
        except httpx.HTTPError as exc:
            raise _Refusal(502, f"Bad Gateway: {type(exc).__name__}: {exc}", {}) from None

    def _relay(
        self,
        headers: dict[str, str],
        service: str,
        body: bytes,
        token: str,
        upstream: Upstreams,
        summary: dict[str, Any],
    ) -> tuple[int, bytes, str]:
        content_type = headers.get("content-type", "")
        answer = self._http.get(upstream.userinfo_url, headers={"Authorization": f"Bearer {token}"})
        summary["userinfo_status"] = answer.status_code
        if answer.status_code != 200:
            raise _Refusal(401, "Unauthorized: the access token was refused by Pro Santé Connect", {"token": "refused"})
        userinfo = answer.json()
        work_situation, ins = headers.get(WORK_SITUATION_HEADER.lower()), headers.get(INS_HEADER.lower())
        summary.update(token="valid", id_nat_ps=userinfo.get("SubjectNameID"), work_situation=work_situation)
        summary["ins"] = ins
        try:
            claims = proxy_claims(userinfo, work_situation, ins, self.settings.identity)
        except WrongWorkSituation as exc:
            raise _Refusal(400, str(exc), {}) from None
        forwarded, assertion_id = self._with_vihf(body, claims)
        summary["vihf_id"] = assertion_id
        sent = self._http.post(
            f"{upstream.dmp_base}/{service}",
            content=forwarded,
            headers={"content-type": content_type or soap.SOAP12_CONTENT_TYPE},
        )
        summary.update(upstream_status=sent.status_code, upstream_trace=sent.headers.get(TRACE_HEADER))
        return sent.status_code, sent.content, sent.headers.get("content-type", soap.SOAP12_CONTENT_TYPE)

    def _with_vihf(self, body: bytes, claims: vihf.VihfClaims) -> tuple[bytes, str]:
        """The request with the proxy's VIHF appended to the SOAP header (GENVIHF appends, it replaces nothing)."""
        try:
            message = soap.parse_envelope(body)
        except soap.SoapInputError as exc:
            raise _Refusal(400, f"Something went wrong when generating VIHF token: {exc}", {}) from None
        signer = self.settings.signer
        issuer = signer.issuer if signer is not None else "CN=unsigned"
        assertion = vihf.build_assertion(claims, issuer=issuer)
        if signer is not None:
            assertion = signer.sign(assertion)
        security = etree.Element(etree.QName(vihf.WSSE, "Security"), nsmap={"wsse": vihf.WSSE})
        security.append(assertion)
        header = message.header
        if header is None:  # lenient: GENVIHF needs a soap:Header; the mock adds one rather than fail
            header = etree.Element(etree.QName(message.namespace, "Header"))
            message.envelope.insert(0, header)
        header.append(security)
        return etree.tostring(message.envelope, xml_declaration=True, encoding="utf-8"), str(assertion.get("ID"))


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"service": SERVICE, "status": "ok"})


def create_app(
    store: ExchangeStore,
    scenarios: ScenarioStore | None = None,
    settings: ProxySettings | None = None,
    upstreams: Callable[[str], Upstreams] | None = None,
) -> Starlette:
    """The proxy as an ASGI app; ``upstreams`` gives the PSC userinfo URL and DMP base of a session key."""
    if upstreams is None:
        raise ValueError("the VIHF proxy needs its upstreams: the PSC userinfo URL and the DMP base of a session")
    proxy = VihfProxy(store, settings or ProxySettings(), upstreams)
    scenarios = scenarios or ScenarioStore()
    app = Starlette(
        routes=[
            Route(f"/{BASE_PATH}/{{service}}", proxy.endpoint, methods=["POST"]),
            Route(f"/s/{{session_key}}/{BASE_PATH}/{{service}}", proxy.endpoint, methods=["POST"]),
            Route("/_segur/health", health, methods=["GET"]),
            Route("/_segur/scenario/{session_key}", scenario_endpoint(scenarios), methods=["PUT"]),
        ]
    )
    app.state.proxy = proxy  # its owner closes it (proxy.close) once the server has stopped
    return app
