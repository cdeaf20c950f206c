"""The loopback server runner: starts on port 0, serves, stops by itself, reports failures."""

from __future__ import annotations

import socket

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from harness.protocols.mockserver import ServerStartError, serve_app


async def echo_tls(request: Request) -> JSONResponse:
    tls = (request.scope.get("extensions") or {}).get("tls")
    return JSONResponse({"tls": tls is not None, "path": request.url.path})


APP = Starlette(routes=[Route("/{path:path}", echo_tls)])


def test_serves_on_a_free_loopback_port_and_stops():
    with serve_app(APP, name="demo") as served:
        assert served.host == "127.0.0.1" and served.port > 0
        answer = httpx.get(f"{served.url}/hello", timeout=5).json()
        assert answer == {"tls": False, "path": "/hello"}
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{served.url}/hello", timeout=2)


def test_a_busy_port_is_a_clear_start_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ServerStartError, match="cannot listen"):
            serve_app(APP, name="demo", port=port)
