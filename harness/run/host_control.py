"""The host side of ``segur run --host``: the control endpoints of :mod:`harness.run.host_api`.

:class:`harness.run.sessions.SessionControl` hands these requests here; the
:class:`~mock_services.common.ControlGuard` in front of it has already refused whoever may not use
them (only the CA bundle, public, is open). Store and mail calls run in a thread: they may wait on
the database.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from harness.core import pki_bundle
from harness.core.recorder import Exchange
from harness.protocols import jsonbody
from harness.run import host_api
from mock_services.common import scoped_tenant
from mock_services.mssante.tenancy import tenant_mailbox

_SESSION_PATH = re.compile(r"^/_segur/sessions/(?P<key>[A-Za-z0-9._-]{1,120})/(?P<what>exchanges|mail|mail-lease)$")
# How long a session may keep the host's mail to itself without releasing it (a crashed run's lease lapses).
MAIL_LEASE_SECONDS = 120.0


def handles(path: str) -> bool:
    return (
        path in (host_api.CA_PATH, host_api.CREDENTIALS_PATH, host_api.FOREIGN_CERTIFICATE_PATH)
        or _SESSION_PATH.match(path) is not None
    )


def _error(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers or None)


async def answer(env: Any, scope: Scope, receive: Receive, send: Send) -> None:
    request = Request(scope, receive)
    try:
        response = await _route(env, request)
    except jsonbody.BadJson as exc:
        response = _error(exc.status, str(exc))
    except ValueError as exc:
        response = _error(400, str(exc))
    await response(scope, receive, send)


async def _route(env: Any, request: Request) -> Response:
    path, method = request.url.path, request.method
    if path == host_api.CA_PATH:
        if method != "GET":
            return _error(405, "GET only", Allow="GET")
        return Response(env.pki.ca_bundle.read_bytes(), media_type="application/x-pem-file")
    if path == host_api.CREDENTIALS_PATH:
        if method != "GET":
            return _error(405, "GET only", Allow="GET")
        files = await run_in_threadpool(pki_bundle.credential_bundle_files, env.pki)
        return JSONResponse({"files": {name: base64.b64encode(data).decode("ascii") for name, data in files.items()}})
    if path == host_api.FOREIGN_CERTIFICATE_PATH:
        if method != "PUT":
            return _error(405, "PUT only", Allow="PUT")
        body = await jsonbody.read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("foreign"), bool):
            raise ValueError('expected {"foreign": true|false}')
        env.active_session.foreign_certificate = body["foreign"]
        return JSONResponse({"foreign": body["foreign"]})
    match = _SESSION_PATH.match(path)
    assert match is not None  # handles() said so
    key = match["key"]
    if match["what"] == "exchanges":
        return await _exchanges(env, request, key)
    if match["what"] == "mail-lease":
        return _mail_lease(env, request, key)
    return await _mail(env, request, key)


def _mail_lease(env: Any, request: Request, key: str) -> Response:
    """POST: the host's mail goes to this session until DELETE (or the lease lapses); 409 while another holds it."""
    if request.method == "DELETE":
        env.active_session.release_lease(key)
        return Response(status_code=204)
    if request.method != "POST":
        return _error(405, "POST takes the mail lease, DELETE gives it back", Allow="POST, DELETE")
    if not env.active_session.take_lease(key, MAIL_LEASE_SECONDS):
        return _error(409, "another session holds the host's mail: retry", **{"Retry-After": "1"})
    return JSONResponse({"session": key, "expires_in": MAIL_LEASE_SECONDS})


async def _exchanges(env: Any, request: Request, key: str) -> Response:
    if request.method == "GET":
        service = request.query_params.get("service") or None
        found = await run_in_threadpool(env.store.exchanges, key, service)
        return JSONResponse({"session": key, "exchanges": [host_api.exchange_to_json(e) for e in found]})
    if request.method != "POST":
        return _error(405, "GET lists the session's exchanges, POST records one", Allow="GET, POST")
    body = await jsonbody.read_json(request, max_bytes=host_api.MAX_UPLOAD)
    given = host_api.exchange_from_json(body)
    # The host numbers, dates and signs it; the mark says the run, not a mock, saw it happen.
    exchange = Exchange(
        service=given.service,
        session_key=key,
        operation=given.operation,
        outcome=given.outcome,
        request_body=given.request_body,
        response_body=given.response_body,
        started_at=given.started_at,
        finished_at=given.finished_at,
        http_status=given.http_status,
        client_subject=given.client_subject,
        request_meta={**given.request_meta, host_api.RECORDED_FOR_RUN: True},
        response_meta=given.response_meta,
        summary=given.summary,
    )
    stored = await run_in_threadpool(env.store.record, exchange)
    return JSONResponse(host_api.exchange_to_json(stored), status_code=201)


async def _mail(env: Any, request: Request, key: str) -> Response:
    operator = env.mss
    if operator is None:
        return _error(404, "this host serves no MSSanté operator (segur serve --services ...,mss)")
    tenant = scoped_tenant(request)

    def mailbox(address: str) -> str:  # a tenant reads and fills its own copy of a test mailbox only
        return tenant_mailbox(address, tenant.id if tenant is not None else None)

    if request.method == "GET":
        address = request.query_params.get("address", "")
        folder = request.query_params.get("folder", "INBOX")
        if not address:
            raise ValueError("address= is required")
        messages = await run_in_threadpool(operator.store.messages, mailbox(address), folder)
        return JSONResponse({"messages": [base64.b64encode(m.raw).decode("ascii") for m in messages]})
    if request.method != "POST":
        return _error(405, "GET reads a mailbox, POST delivers to one", Allow="GET, POST")
    body = await jsonbody.read_json(request, max_bytes=host_api.MAX_UPLOAD)
    if not isinstance(body, dict) or not isinstance(body.get("address"), str) or "message" not in body:
        raise ValueError('expected {"address": "...", "message": "base64"}')
    raw = base64.b64decode(str(body["message"]), validate=True)
    await run_in_threadpool(operator.store.deliver, mailbox(body["address"]), raw)
    return Response(json.dumps({"delivered": len(raw)}), status_code=201, media_type="application/json")
