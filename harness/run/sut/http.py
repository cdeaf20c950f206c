"""The ``http`` SUT: the product exposes a test hook over HTTP, one POST per action.

``--sut http://127.0.0.1:8089/segur`` (or ``https://``), or a TOML file with an ``[http]`` table::

    [sut]
    name = "Mon DPI"
    version = "2026.1"

    [http]
    url = "https://dpi-test.example:8443/segur"
    token_env = "DPI_HOOK_TOKEN"      # bearer token read from this variable (or token = "...")
    ca_bundle = "hook-ca.pem"         # to verify the hook's TLS certificate (paths relative to the file)
    client_cert = "harness.pem"       # client certificate the harness presents, with client_key
    client_key = "harness.key"
    connect_timeout = 5
    timeout = 60                      # seconds to wait for each answer
    actions = ["insi.search_by_traits"]  # optional: the actions the hook maps; others are skipped

Each action is ``POST url`` with the JSON body ``{"action", "params", "endpoints", "session_key",
"credentials"}`` (``credentials``: the paths of the CA bundle, client certificate and key, PKCS#12
file and its password, the harness PKI folder and this test's work folder, as the ``command`` adapter's
``SEGUR_*`` variables give them). The hook answers ``200`` with the same JSON object as a ``command``
SUT prints (`segur sut actions`), or ``501`` when it does not do that action (the test is then not
evaluated). Anything else (connection refused, time-out, another status, a body that is not a JSON
object, an outcome the contract does not know, an answer beyond :data:`MAX_ANSWER_BYTES` or
:data:`MAX_ANSWER_DEPTH`) is a product failure whose message says which, and the raw answer is kept
in the evidence pack.
"""

from __future__ import annotations

import json
import os
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from harness.protocols.jsonbody import BadJson, parse_json
from harness.run.sut.actions import ACTIONS, check_answer
from harness.run.sut.base import ActionNotSupported, ActionResult, SutConfigError, SutContext, SutFailure

SUT_KEYS = {"name", "version", "description"}
HTTP_KEYS = {
    "url",
    "token",
    "token_env",
    "ca_bundle",
    "client_cert",
    "client_key",
    "connect_timeout",
    "timeout",
    "actions",
}
NOT_SUPPORTED_STATUS = 501
# Documents travel base64-encoded in answers (CDA with a PDF, FHIR bundles): a generous cap, but a cap.
MAX_ANSWER_BYTES = 64 * 1024 * 1024
MAX_ANSWER_DEPTH = 64  # FHIR resources nest a dozen levels; deeper is a broken or hostile answer
RAW_QUOTE_LIMIT = 300  # characters of the product's answer quoted in a failure message; the whole answer is evidence


@dataclass(frozen=True)
class HttpSutSettings:
    url: str
    token: str | None = None
    ca_bundle: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    connect_timeout: float = 5.0
    timeout: float = 60.0
    actions: frozenset[str] | None = None
    sut: dict[str, Any] = field(default_factory=dict)
    source: str = ""


def _check_url(url: object, where: str) -> str:
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in {"http", "https"} or not parts.hostname:
        raise SutConfigError(f"{where}: the hook URL must be http://host:port/path or https://..., not {url!r}")
    return str(url)


def _timeout(value: object, name: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise SutConfigError(f"{where}: {name} must be a positive number of seconds, not {value!r}")
    return float(value)


def settings_from_toml(path: Path, data: dict[str, Any]) -> HttpSutSettings:
    where = str(path)
    sut, http = data.get("sut", {}), data.get("http", {})
    unknown = sorted(set(sut) - SUT_KEYS) + sorted(set(http) - HTTP_KEYS)
    extra = sorted(set(data) - {"sut", "http"})
    if unknown or extra:
        raise SutConfigError(
            f"{where}: unknown keys {unknown + extra}; [sut] takes {sorted(SUT_KEYS)}, [http] takes {sorted(HTTP_KEYS)}"
        )
    token = http.get("token")
    if "token_env" in http:
        token = os.environ.get(str(http["token_env"]))
        if not token:
            raise SutConfigError(f"{where}: token_env names {http['token_env']!r}, which is not set")
    actions = http.get("actions")
    if actions is not None:
        wrong = sorted(a for a in actions if a not in ACTIONS)
        if wrong:
            raise SutConfigError(f"{where}: unknown actions {wrong}; `segur sut actions` lists them")
    if ("client_cert" in http) != ("client_key" in http):
        raise SutConfigError(f"{where}: client_cert and client_key go together")

    def local(key: str) -> Path | None:
        return (path.parent / str(http[key])) if key in http else None

    return HttpSutSettings(
        url=_check_url(http.get("url"), where),
        token=token,
        ca_bundle=local("ca_bundle"),
        client_cert=local("client_cert"),
        client_key=local("client_key"),
        connect_timeout=_timeout(http.get("connect_timeout", 5), "connect_timeout", where),
        timeout=_timeout(http.get("timeout", 60), "timeout", where),
        actions=frozenset(actions) if actions is not None else None,
        sut=dict(sut),
        source=where,
    )


def _quote(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace").strip()
    return text if len(text) <= RAW_QUOTE_LIMIT else text[:RAW_QUOTE_LIMIT] + "…"


class HttpSut:
    """Posts each action to the product's test hook; see the module docstring for the contract."""

    name = "http"

    def __init__(self, settings: HttpSutSettings):
        self.settings = settings
        self._cert = (str(settings.client_cert), str(settings.client_key)) if settings.client_cert else None
        self._verify: bool | str = str(settings.ca_bundle) if settings.ca_bundle else True
        self._headers = {"Accept": "application/json", "Content-Type": "application/json; charset=utf-8"}
        if settings.token:
            self._headers["Authorization"] = f"Bearer {settings.token}"
        self._client().close()  # the TLS files are read now, so a wrong path is a usage error before the run

    def _client(self) -> httpx.Client:
        """A client per action: nothing stays open between tests, and the adapter needs no closing."""
        try:
            return httpx.Client(
                verify=self._verify,
                cert=self._cert,
                headers=self._headers,
                timeout=httpx.Timeout(self.settings.timeout, connect=self.settings.connect_timeout),
                trust_env=False,  # a proxy from the environment must not sit between the harness and the hook
            )
        except (OSError, ValueError) as exc:
            where = self.settings.source or self.settings.url
            raise SutConfigError(f"{where}: cannot load the TLS files: {exc}") from exc

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {
            "name": self.settings.sut.get("name", self.settings.url),
            "version": self.settings.sut.get("version", ""),
            "description": self.settings.sut.get("description", ""),
            "kind": "http",
            "url": self.settings.url,
        }
        if self.settings.source:
            described["file"] = self.settings.source
        if self.settings.actions is not None:
            described["actions"] = sorted(self.settings.actions)
        return described

    def request_body(self, action: str, params: dict[str, Any], context: SutContext) -> dict[str, Any]:
        return {
            "action": action,
            "params": params,
            "endpoints": dict(context.endpoints),
            "session_key": context.session_key,
            "credentials": {
                "ca_bundle": str(context.ca_bundle),
                "client_cert": str(context.client_cert),
                "client_key": str(context.client_key),
                "client_p12": str(context.client_p12),
                "p12_password": context.p12_password,
                "pki_dir": str(context.pki_dir),
                "work_dir": str(context.work_dir),
            },
        }

    @staticmethod
    def _read_capped(response: httpx.Response, action: str) -> bytes:
        """The answer's bytes, read no further than :data:`MAX_ANSWER_BYTES`."""
        raw = bytearray()
        for chunk in response.iter_bytes():
            raw += chunk
            if len(raw) > MAX_ANSWER_BYTES:
                raise SutFailure(
                    f"action {action}: the test hook's answer exceeds {MAX_ANSWER_BYTES} bytes",
                    f"action {action} : la réponse du point d'accès de test dépasse {MAX_ANSWER_BYTES} octets",
                    raw=bytes(raw[:RAW_QUOTE_LIMIT]),
                )
        return bytes(raw)

    def perform(self, action: str, params: dict[str, Any], context: SutContext) -> ActionResult:
        url = self.settings.url
        if self.settings.actions is not None and action not in self.settings.actions:
            raise ActionNotSupported(
                f"the hook at {url} does not list action {action!r}",
                f"le point d'accès de test {url} ne liste pas l'action {action!r}",
            )
        body = json.dumps(self.request_body(action, params, context), ensure_ascii=False, default=str)
        started = time.perf_counter()
        try:
            with self._client() as client, client.stream("POST", url, content=body.encode("utf-8")) as response:
                raw = self._read_capped(response, action)
        except httpx.ConnectError as exc:
            raise SutFailure(
                f"action {action}: cannot connect to the product's test hook at {url} ({exc}): is it running?",
                f"action {action} : connexion impossible au point d'accès de test du produit {url} ({exc}) : "
                "est-il démarré ?",
            ) from exc
        except httpx.TimeoutException as exc:
            raise SutFailure(
                f"action {action}: the product's test hook at {url} did not answer within {self.settings.timeout} s",
                f"action {action} : le point d'accès de test {url} n'a pas répondu en {self.settings.timeout} s",
            ) from exc
        except httpx.HTTPError as exc:
            raise SutFailure(
                f"action {action}: the exchange with the test hook at {url} failed: {exc}",
                f"action {action} : l'échange avec le point d'accès de test {url} a échoué : {exc}",
            ) from exc
        result = ActionResult(
            action,
            params,
            {},
            time.perf_counter() - started,
            stdout=raw.decode("utf-8", errors="replace"),
            exit_status=response.status_code,
            notes=[f"HTTP {response.status_code} {response.headers.get('content-type', '')}".strip()],
        )
        if response.status_code == NOT_SUPPORTED_STATUS:
            raise ActionNotSupported(
                f"the hook at {url} answered 501: it does not do action {action!r}",
                f"le point d'accès de test {url} a répondu 501 : il ne fait pas l'action {action!r}",
            )
        if response.status_code != 200:
            raise SutFailure(
                f"action {action}: the test hook answered HTTP {response.status_code}: {_quote(raw)}",
                f"action {action} : le point d'accès de test a répondu HTTP {response.status_code} : {_quote(raw)}",
                raw=raw,
            )
        try:
            data = parse_json(raw, max_bytes=MAX_ANSWER_BYTES, max_depth=MAX_ANSWER_DEPTH)
        except BadJson as exc:
            raise SutFailure(
                f"action {action}: the test hook's answer is not JSON we can read ({exc}): {_quote(raw)}",
                f"action {action} : la réponse du point d'accès de test n'est pas un JSON lisible ({exc}) : "
                f"{_quote(raw)}",
                raw=raw,
            ) from None
        try:
            result.data = check_answer(action, data)
        except SutFailure as exc:
            raise SutFailure(str(exc), exc.fr, raw=raw) from None
        return result


def load_http_sut(spec: str) -> HttpSut | None:
    """The HTTP adapter for a hook URL or a TOML file with an ``[http]`` table; None for anything else."""
    if spec.startswith(("http://", "https://")):
        return HttpSut(HttpSutSettings(url=_check_url(spec, "--sut")))
    path = Path(spec)
    if path.suffix != ".toml" or not path.is_file():
        return None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None  # the command adapter's loader reports the syntax error
    if "http" not in data:
        return None
    return HttpSut(settings_from_toml(path, data))
