"""The defences of a local page: only a loopback Host is answered (DNS rebinding), a change needs
the ``X-Segur-Console`` header and a same-origin ``Origin`` (CSRF), every answer carries the
security headers, and JSON answers escape ``<``, ``>`` and ``&`` so that recorded bytes are
never read as markup.
"""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

CONSOLE_HEADER = "X-Segur-Console"


LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class SafeJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, default=_jsonable, separators=(",", ":"))
        # these characters only occur inside JSON strings: escaped, no answer can ever be read as markup
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()


def _jsonable(value: Any) -> Any:
    return value.hex() if isinstance(value, bytes) else str(value)


def _error(message: str, status: int) -> Response:
    return SafeJSONResponse({"error": message}, status)


def refusal(request: Request) -> str | None:
    """Why a request may not reach the console (wrong Host, cross-site change), or None."""
    host = request.headers.get("host", "")
    try:
        hostname = urlsplit(f"//{host}").hostname
    except ValueError:
        hostname = None
    if hostname not in LOOPBACK_NAMES:
        return "hôte refusé : la console ne répond qu'à 127.0.0.1, localhost ou [::1]"
    if request.method in ("GET", "HEAD"):
        return None
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{host}":
        return "origine refusée : seule la page de la console peut modifier l'état"
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return "requête inter-sites refusée"
    if request.headers.get(CONSOLE_HEADER) != "1":
        return f"en-tête {CONSOLE_HEADER}: 1 exigé pour modifier l'état (défense CSRF)"
    return None


class LoopbackGuard:
    """ASGI wrapper: refuses what :func:`refusal` refuses and adds the security headers to every answer."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        reason = refusal(Request(scope))
        if reason is not None:
            await _error(reason, 403)(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)
