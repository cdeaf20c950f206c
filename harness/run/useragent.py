"""A scripted browser for login flows: what a person's browser would do, with no person.

For Pro Santé Connect it follows the product's authorization URL to the mock provider; when
the provider shows its login page (no ``login_hint``), it submits the form for the chosen test
professional, as a person would click; it returns the callback URL the browser lands on.
"""

from __future__ import annotations

import ssl
from html.parser import HTMLParser
from urllib.parse import urljoin

import httpx

from harness.run.sut.base import SutFailure


class LoginFailed(SutFailure):
    """The provider did not send the browser back to the product: the product's request was refused."""


class _FormReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "input" and values.get("type") == "hidden" and values.get("name"):
            self.fields[str(values["name"])] = values.get("value") or ""


def psc_login(url: str, professional: str, ssl_context: ssl.SSLContext, timeout: float = 10.0) -> str:
    """Follow ``url`` through the PSC mock as ``professional`` (IdNatPs); return the callback URL."""
    with httpx.Client(verify=ssl_context, timeout=timeout, follow_redirects=False) as browser:
        response = browser.get(url)
        if response.status_code == 200 and "<form" in response.text:
            form = _FormReader()
            form.feed(response.text)
            response = browser.post(url.split("?")[0], data={**form.fields, "professional": professional})
        if response.status_code not in (302, 303) or "location" not in response.headers:
            raise LoginFailed(f"the provider answered HTTP {response.status_code}: {response.text[:200]}")
        return urljoin(url, response.headers["location"])
