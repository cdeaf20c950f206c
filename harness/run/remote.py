"""``segur run --host URL``: the suites against a running shared host instead of local mocks.

:class:`RemoteEnvironment` stands where :class:`harness.run.environment.HarnessEnvironment` stands in
a local run, with the same attributes the fixtures and suites read, each backed by the host's
control API (:mod:`harness.run.host_api`, every call with the tenant's Bearer token):

- each test's session key is a session of the host (``POST /_segur/sessions``): its endpoints are
  the host's URLs under ``/s/<key>/``, and the host's mail goes to that newest session;
- the PKI is the host's credential bundle (CAs, client and server credentials, its trace
  certificate; never its signing keys), written in the run's data folder, with an evidence key of
  the run's own: the host signs the exchanges, the run seals the pack;
- the exchange store reads the session's exchanges over HTTP (bodies and trace signatures), and
  what the run itself records (produced documents, the SAS platform's requests) is recorded and
  signed by the host;
- scenarios and fault switches are ``PUT /_segur/scenario/<key>`` on the service's own mock.

The host's certificate is checked against ``--host-ca`` when given, else against the CA bundle the
host publishes at ``/_segur/ca`` (fetched once without verification: trust on first use, its
fingerprint printed), before any token is sent.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import ssl
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from harness.core import pki, pki_bundle
from harness.core.errors import UsageError
from harness.core.recorder import Exchange
from harness.core.results import SkipKind
from harness.core.skips import NotEvaluated
from harness.run import host_api
from harness.run.sessions import SESSIONS_PATH
from mock_services.common import Scenario

# What each suite's tests reach on the host (beyond what the run itself records); cda and fhir judge
# what the product produced and need no mock.
SUITE_SERVICES: dict[str, tuple[str, ...]] = {
    "ins": ("insi",),
    "psc": ("psc",),
    "cda": (),
    "dmp": ("dmp", "psc", "vihf_proxy"),  # DMP-30 consults through the VIHF proxy with a PSC login
    "mss": ("mss",),
    "fhir": (),
    "sas": ("sas", "psc"),
}
# The session document's entry of each service, and the SutContext endpoint names it gives.
_HTTP_SERVICES = {"insi": "url", "psc": "issuer", "dmp": "url", "vihf_proxy": "url", "sas": "url"}
_MAIL_ENDPOINTS = {"smtp": "mss", "smtp_starttls": "mss_smtp_starttls", "imap": "mss_imap"}


class HostError(UsageError):
    """The shared host cannot be used as given (unreachable, token refused, service missing): exit 2."""


class HostBusy(HostError):
    """409: what was asked is held by another session for now (the host's mail); retry."""


def _base_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise HostError(f"--host {url!r}: expected the https://HOST:PORT of one of the host's HTTP mocks")
    return f"{parts.scheme}://{parts.netloc}"


class HostClient:
    """HTTP calls to the host's control API, with the token; failures become :class:`HostError`."""

    def __init__(self, url: str, token: str | None, ca_file: Path | None = None, *, say: Callable[[str], None] = print):
        self.base = _base_url(url)
        self.token = token
        self.ca_pem = self._ca_bundle(ca_file, say)
        self.verify = ssl.create_default_context()
        if self.ca_pem:
            try:
                self.verify = ssl.create_default_context(cadata=self.ca_pem.decode("ascii"))
            except (ssl.SSLError, UnicodeDecodeError, ValueError) as exc:
                raise HostError(f"the host's CA bundle cannot be read as PEM certificates: {exc}") from None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(verify=self.verify, headers=headers, timeout=httpx.Timeout(60.0, connect=10.0))

    def _ca_bundle(self, ca_file: Path | None, say: Callable[[str], None]) -> bytes:
        if ca_file is not None:
            try:
                return Path(ca_file).read_bytes()
            except OSError as exc:
                raise HostError(f"--host-ca {ca_file}: {exc.strerror or exc}") from None
        if not self.base.startswith("https://"):
            return b""
        # Public certificates only, and no token on this unverified call: the token waits for the pin.
        with httpx.Client(verify=False, timeout=httpx.Timeout(30.0, connect=10.0)) as bare:
            response = self._send(bare, "GET", host_api.CA_PATH)
        pem = response.content
        if b"BEGIN CERTIFICATE" not in pem:
            raise HostError(f"{self.base}{host_api.CA_PATH} did not answer a CA bundle: is this a segur serve?")
        fingerprint = hashlib.sha256(pem).hexdigest()
        say(f"segur: trusting the CA bundle {self.base} publishes (SHA-256 {fingerprint}); --host-ca pins one")
        return pem

    def _send(self, http: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = path if path.startswith(("http://", "https://")) else f"{self.base}{path}"
        try:
            response = http.request(method, url, **kwargs)
        except httpx.ConnectError as exc:
            raise HostError(f"the host {self.base} cannot be reached ({exc}): is segur serve running there?") from None
        except httpx.TimeoutException as exc:
            raise HostError(f"the host {self.base} did not answer in time ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise HostError(f"the host {self.base}: {exc}") from None
        if response.status_code == 401:
            given = "the token given was refused" if self.token else "it needs a token"
            raise HostError(f"the host {self.base} refused the request (401): {given}; pass --tenant TOKEN")
        if response.status_code == 403:
            raise HostError(
                f"the host {self.base} refused the request (403, {_error_of(response)}): without a control token "
                "it answers loopback clients only; start it with --control-token and pass that token with --tenant"
            )
        if response.status_code == 409:
            raise HostBusy(_error_of(response))
        if response.status_code >= 400:
            raise HostError(
                f"the host {self.base} answered {response.status_code} to {method} {path}: {_error_of(response)}"
            )
        return response

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self._send(self.http, method, path, **kwargs)

    def new_session(self, label: str) -> dict[str, Any]:
        document = self.call("POST", SESSIONS_PATH, json={"label": label}).json()
        if not isinstance(document, dict) or not isinstance(document.get("session"), str):
            raise HostError(f"the host {self.base} answered a session request without a session key")
        return document

    def close(self) -> None:
        self.http.close()


def _error_of(response: httpx.Response) -> str:
    with contextlib.suppress(ValueError):
        body = response.json()
        if isinstance(body, dict) and "error" in body:
            return str(body["error"])
    return response.text[:200] or response.reason_phrase


def services_of(document: dict[str, Any]) -> set[str]:
    """The services a host's session document offers."""
    offered = {service for service in _HTTP_SERVICES if service in document}
    return offered | ({"mss"} if "mss" in document else set())


def missing_services(document: dict[str, Any], suites: Iterable[str]) -> dict[str, list[str]]:
    """Per suite, the services it needs that the host does not serve."""
    offered = services_of(document)
    missing = {suite: [s for s in SUITE_SERVICES.get(suite, ()) if s not in offered] for suite in suites}
    return {suite: services for suite, services in missing.items() if services}


def check_host(url: str, token: str | None, ca_file: Path | None, suites: list[str]) -> bytes:
    """Before any test: the host answers, takes the token, and serves what the suites need.

    Returns the CA bundle its certificate was checked with, for the rest of the run to pin.
    """
    client = HostClient(url, token, ca_file, say=lambda text: print(text, file=sys.stderr))
    try:
        document = client.new_session("segur-run-check")
    finally:
        client.close()
    missing = missing_services(document, suites)
    if missing:
        listed = "; ".join(f"suite {suite} needs {', '.join(services)}" for suite, services in missing.items())
        offered = ", ".join(sorted(services_of(document))) or "none"
        raise HostError(f"the host {_base_url(url)} serves {offered}: {listed} (segur serve --services ...)")
    return client.ca_pem


class RemoteExchangeStore:
    """The exchange store of a remote run: the host's exchanges of this run's sessions."""

    def __init__(self, env: RemoteEnvironment) -> None:
        self.env = env
        self.path = f"{env.client.base} (remote)"

    def exchanges(
        self, session_key: str | None = None, service: str | None = None, outcome: str | None = None
    ) -> list[Exchange]:
        keys = [session_key] if session_key is not None else list(self.env.sessions)
        found: list[Exchange] = []
        for key in keys:
            params = {"service": service} if service else {}
            answer = self.env.client.call("GET", f"{host_api.SESSION_PREFIX}{key}/exchanges", params=params).json()
            found += [host_api.exchange_from_json(e) for e in answer.get("exchanges", [])]
        return sorted((e for e in found if outcome is None or e.outcome == outcome), key=lambda e: e.seq)

    def record(self, exchange: Exchange) -> Exchange:
        """Recorded (numbered, signed) by the host; ``exchange`` gets the stored id, number and trace."""
        path = f"{host_api.SESSION_PREFIX}{exchange.session_key}/exchanges"
        stored = host_api.exchange_from_json(
            self.env.client.call("POST", path, json=host_api.exchange_to_json(exchange)).json()
        )
        exchange.id, exchange.seq, exchange.trace = stored.id, stored.seq, stored.trace
        exchange.request_meta = stored.request_meta
        return exchange

    def import_exchange(self, exchange: Exchange) -> None:
        raise UsageError("a run against a shared host cannot import exchanges (segur rejudge runs locally)")

    def get(self, exchange_id: str) -> Exchange:
        for exchange in self.exchanges():
            if exchange.id == exchange_id:
                return exchange
        raise KeyError(exchange_id)

    def close(self) -> None:
        """Nothing to close: the host owns the store."""


class RemoteScenarios:
    """Scenarios set on the host, each through the mock of the service the test switched."""

    def __init__(self, env: RemoteEnvironment) -> None:
        self.env = env
        self._set: dict[str, tuple[str, Scenario]] = {}

    def get(self, session_key: str) -> Scenario:
        return self._set.get(session_key, ("", Scenario()))[1]

    def update_for(self, service: str, session_key: str, **changes: Any) -> Scenario:
        scenario = replace(self.get(session_key), **changes)
        self._put(service, session_key, asdict(scenario))
        self._set[session_key] = (service, scenario)
        return scenario

    def update(self, session_key: str, **changes: Any) -> Scenario:
        return self.update_for(self.env.any_http_service(), session_key, **changes)

    def clear(self, session_key: str) -> None:
        if session_key in self._set:
            service, _ = self._set.pop(session_key)
            self._put(service, session_key, {})

    def _put(self, service: str, session_key: str, body: dict[str, Any]) -> None:
        base = _base_url(self.env.endpoint(service))
        self.env.client.call("PUT", f"{base}/_segur/scenario/{session_key}", json=body)


class RemoteActiveSession:
    """The host's mail routing as the fixtures set it: the mail lease, and the foreign certificate.

    SMTP carries no session key, so the host sends mail to one session at a time: a test that uses
    the operator takes the host's mail lease (:meth:`RemoteEnvironment.start_mss`), and gives it back
    when the fixtures set the key back to ``default`` at its end; other runs' mail tests wait for it.
    """

    def __init__(self, client: HostClient) -> None:
        self.client = client
        self.leased: str | None = None
        self._key = "default"
        self._foreign: bool | None = None

    @property
    def key(self) -> str:
        return self._key

    @key.setter
    def key(self, key: str) -> None:
        self._key = key
        if self.leased is not None and key != self.leased:
            self.client.call("DELETE", f"{host_api.SESSION_PREFIX}{self.leased}/mail-lease")
            self.leased, self._foreign = None, False  # the host resets the certificate with the lease

    def take_mail(self, key: str, patience: float = 600.0) -> None:
        """Wait until the host's mail goes to ``key`` (another run's mail test may hold it)."""
        if self.leased == key:
            return
        deadline = time.monotonic() + patience
        while True:
            try:
                self.client.call("POST", f"{host_api.SESSION_PREFIX}{key}/mail-lease")
                self.leased = key
                return
            except HostBusy:
                if time.monotonic() > deadline:
                    raise HostError(f"the host's mail stayed with another session for {patience:.0f} s") from None
                time.sleep(0.25)

    @property
    def foreign_certificate(self) -> bool:
        return bool(self._foreign)

    @foreign_certificate.setter
    def foreign_certificate(self, foreign: bool) -> None:
        if foreign != self._foreign:
            self.client.call("PUT", host_api.FOREIGN_CERTIFICATE_PATH, json={"foreign": foreign})
            self._foreign = foreign


@dataclass(frozen=True)
class RemoteMessage:
    raw: bytes


class RemoteMailStore:
    """The host's mailboxes, read and filled through the session of the running test."""

    def __init__(self, env: RemoteEnvironment) -> None:
        self.env = env

    def _path(self) -> str:
        return f"{host_api.SESSION_PREFIX}{self.env.latest_session}/mail"

    def messages(self, address: str, folder: str = "INBOX") -> list[RemoteMessage]:
        answer = self.env.client.call("GET", self._path(), params={"address": address, "folder": folder}).json()
        return [RemoteMessage(base64.b64decode(m)) for m in answer.get("messages", [])]

    def deliver(self, address: str, raw: bytes) -> None:
        self.env.client.call("POST", self._path(), json={"address": address, "message": base64.b64encode(raw).decode()})


class RemoteOperator:
    """The host's MSSanté operator as :class:`harness.run.fixtures.MailHandle` uses it."""

    def __init__(self, env: RemoteEnvironment, endpoints: dict[str, str]) -> None:
        self.store = RemoteMailStore(env)
        self._endpoints = endpoints

    def endpoints(self) -> dict[str, str]:
        return dict(self._endpoints)


class RemoteEnvironment:
    """A run's view of a shared host; a context manager like the local environment."""

    remote = True

    def __init__(self, host_url: str, token: str | None, data_dir: Path | None = None, ca_file: Path | None = None):
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="segur-remote-")
            data_dir = Path(self._tmp.name)
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:  # check_host has already said which CA bundle it trusts
            self.client = HostClient(host_url, token, ca_file, say=lambda _: None)
            files = self.client.call("GET", host_api.CREDENTIALS_PATH).json().get("files", {})
            self.pki = pki_bundle.write_credential_bundle(
                self.data_dir / "pki",
                {name: base64.b64decode(data) for name, data in files.items()},
                source=self.client.base,
            )
        except (ValueError, KeyError) as exc:
            self.close()
            raise HostError(
                f"the host {self.client.base} sent a credential bundle that cannot be used: {exc}"
            ) from None
        except BaseException:
            self.close()
            raise
        self.sessions: dict[str, dict[str, Any]] = {}
        self.latest_session = "default"
        self.store = RemoteExchangeStore(self)
        self.scenarios = RemoteScenarios(self)
        self.active_session = RemoteActiveSession(self.client)
        self.run_key = uuid.uuid4().hex[:12]
        self.on_close: list[Callable[[], None]] = []
        self.trust_override: list[Any] | None = None
        self.console = None
        self.crl = None  # the harness's CRL distribution point is a local mock: none on a shared host
        self._mss: RemoteOperator | None = None

    # -- what the fixtures and suites read ------------------------------------------------

    def trusted_cas(self) -> list[Any]:
        return self.trust_override if self.trust_override is not None else pki.trusted_ca_certificates(self.pki)

    def run_exchanges(self) -> list[Exchange]:
        """This run's exchanges: the host keeps those of every session, and answers for this run's."""
        return self.store.exchanges()

    def new_session_key(self, label: str = "") -> str:
        safe = "".join(c if c.isalnum() else "-" for c in label)[-40:].strip("-")
        document = self.client.new_session(safe)
        key = str(document["session"])
        self.sessions[key] = document
        self.latest_session = key
        return key

    def _document(self, session_key: str | None) -> dict[str, Any]:
        if session_key is not None and session_key in self.sessions:
            return self.sessions[session_key]
        if not self.sessions:
            self.new_session_key("endpoints")
        return next(reversed(self.sessions.values()))

    def endpoint(self, service: str, session_key: str | None = None) -> str:
        document = self._document(session_key)
        if service not in _HTTP_SERVICES or service not in document:
            raise HostError(f"the host {self.client.base} does not serve {service}")
        return str(document[service][_HTTP_SERVICES[service]])

    def endpoints_for(self, session_key: str) -> dict[str, str]:
        document = self._document(session_key)
        endpoints = {s: str(document[s][field]) for s, field in _HTTP_SERVICES.items() if s in document}
        for name, endpoint_name in _MAIL_ENDPOINTS.items():
            if name in document.get("mss", {}):
                endpoints[endpoint_name] = str(document["mss"][name])
        return endpoints

    def any_http_service(self) -> str:
        document = self._document(None)
        return next(s for s in _HTTP_SERVICES if s in document)

    def start_mss(self) -> RemoteOperator:
        if self._mss is None:
            mail = self._document(None).get("mss")
            if not mail:
                raise HostError(f"the host {self.client.base} does not serve mss")
            self._mss = RemoteOperator(self, {k: str(v) for k, v in mail.items()})
        self.active_session.take_mail(self.latest_session)  # each test using the operator: its own mail
        return self._mss

    def start(self, service: str) -> None:
        self.endpoint(service)  # the host started it, or says it does not serve it

    def start_any(self, service: str) -> None:
        self.start_mss() if service == "mss" else self.start(service)

    def crl_distribution(self) -> Any:
        """A test that needs the harness's own CRL distribution point is not judged against a shared host."""
        raise NotEvaluated(
            SkipKind.NOT_AUTOMATED,
            "not automated against a shared host (segur run --host): the CRL distribution point is a local mock",
            "non automatisé sur un hôte partagé (segur run --host) : le point de distribution de CRL est local",
        )

    def start_console(self) -> Any:
        raise HostError(
            "the operator console is the host's (segur serve prints its address); --sut manual runs locally"
        )

    def close(self) -> None:
        for close in self.on_close:
            close()
        self.on_close.clear()
        client = getattr(self, "client", None)
        if client is not None:
            client.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> RemoteEnvironment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
