"""What every mock shares: session routing keys, per-session scenarios, the TLS client identity.

Routing: a mock serves its endpoint both at its real path (session ``default``) and under
``/s/{session_key}/...``, so that a test, or a person debugging, can keep the exchanges of one
scenario apart on a shared server.

Scenarios: fault injection is set per session key (latency, technical error, unavailable),
in process through :class:`ScenarioStore` or over HTTP with
``PUT /_segur/scenario/{session_key}`` and a JSON body.

Control endpoints (``/_segur/...`` but the health check: scenarios, PSC key rotation) change
how a mock behaves for everyone, so :class:`ControlGuard` answers them to loopback clients only,
or, when a control token is configured (``SEGUR_CONTROL_TOKEN``, ``segur serve --control-token``),
to whoever presents it as a Bearer token, loopback included. A tenant's token
(``harness.core.tenants``) is a *scoped* credential: it reaches the session endpoints and the
scenarios of the tenant's own sessions only; another tenant's key answers 404, as an unknown one
would, so keys cannot be probed; apart from the few shared ones a remote run needs
(``TENANT_SHARED_PATHS``), every other control endpoint is the operator's (403).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from cryptography import x509
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from harness.core.storage import Database, migrate, same_for_both
from harness.core.tenants import TOKEN_PREFIX, Tenant, TenantRegistry
from harness.protocols import jsonbody

DEFAULT_SESSION = "default"
# Every HTTP answer names the exchange the mock recorded (and signed) for it, so a client can cite it.
TRACE_HEADER = "X-Segur-Trace"
FAULTS = {"technical", "unavailable"}
CONTROL_PREFIX = "/_segur"
CONTROL_TOKEN_ENV = "SEGUR_CONTROL_TOKEN"
# Readiness probes must work from wherever the product runs; the health check changes nothing.
# The CA bundle is public too: a remote run checks the host's certificate with it before sending a token.
OPEN_CONTROL_PATHS = frozenset({"/_segur/health", "/_segur/ca"})
# Where ControlGuard puts the tenant a control request was scoped to (``request.state.segur_tenant``).
TENANT_STATE = "segur_tenant"
# What a tenant's token reaches: sessions (its own), and the scenario of one of its sessions.
_TENANT_SESSIONS = "/_segur/sessions"
_TENANT_KEYED = re.compile(r"/_segur/(?:sessions|scenario)/([^/]+)(?:/.*)?")
# Control endpoints a tenant shares with everyone, which segur run --host needs (harness/run/host_api.py):
# the test PKI's credentials, the same for every tenant, and the switch of the MSSanté operator's
# certificate (a host-wide switch: see docs/deployment.md).
TENANT_SHARED_PATHS = frozenset({"/_segur/credentials", "/_segur/mail/foreign-certificate"})


@dataclass(frozen=True)
class Scenario:
    """Behaviour switches for one session. Unknown keys are refused, never ignored."""

    latency_ms: int = 0
    fault: str | None = None  # None, "technical" (a SOAP technical fault) or "unavailable" (HTTP 503)
    options: dict[str, Any] = field(default_factory=dict)  # service-specific switches

    def __post_init__(self) -> None:
        if self.fault is not None and self.fault not in FAULTS:
            raise ValueError(f"unknown fault {self.fault!r}; known: {sorted(FAULTS)}")
        if not 0 <= self.latency_ms <= 60_000:
            raise ValueError(f"latency_ms must be between 0 and 60000, not {self.latency_ms}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scenario:
        known = {"latency_ms", "fault", "options"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown scenario keys {sorted(unknown)}; known: {sorted(known)}")
        fault, options = data.get("fault"), data.get("options", {})
        if fault is not None and not isinstance(fault, str):
            raise ValueError(f"fault must be a string or null, not {type(fault).__name__}")
        if not isinstance(options, dict):
            raise ValueError(f"options must be a JSON object, not {type(options).__name__}")
        try:
            latency_ms = int(data.get("latency_ms", 0))
        except (TypeError, ValueError):
            raise ValueError(f"latency_ms must be an integer, not {data.get('latency_ms')!r:.40}") from None
        return cls(latency_ms=latency_ms, fault=fault, options=dict(options))


SCENARIO_COMPONENT = "scenarios"
SCENARIO_MIGRATIONS = (
    same_for_both(
        1,
        "scenario by session key",
        "CREATE TABLE IF NOT EXISTS scenario (session_key TEXT PRIMARY KEY, body TEXT NOT NULL)",
    ),
)
_SAVE_SCENARIO = "INSERT INTO scenario VALUES (?, ?) ON CONFLICT (session_key) DO UPDATE SET body = excluded.body"


class ScenarioStore:
    """Scenarios by session key; thread-safe because tests set them from another thread.

    In memory by default (they never outlived a process). Given a database (the environment's
    PostgreSQL store), they live there as JSON, so every process serving one database sees the
    switches set through any of them; options must then be JSON values, as over HTTP.
    """

    def __init__(self, database: Database | None = None) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[str, Scenario] = {}
        self._db = database
        if database is not None:
            migrate(database, SCENARIO_COMPONENT, SCENARIO_MIGRATIONS)

    def get(self, session_key: str) -> Scenario:
        if self._db is not None:
            row = self._db.one("SELECT body FROM scenario WHERE session_key = ?", (session_key,))
            return Scenario.from_dict(json.loads(row[0])) if row else Scenario()
        with self._lock:
            return self._by_key.get(session_key, Scenario())

    def set(self, session_key: str, scenario: Scenario) -> None:
        if self._db is not None:
            self._db.execute(_SAVE_SCENARIO, (session_key, json.dumps(asdict(scenario))))
            return
        with self._lock:
            self._by_key[session_key] = scenario

    def update(self, session_key: str, **changes: Any) -> Scenario:
        if self._db is not None:
            with self._db.transaction() as tx:
                tx.lock("scenario")
                row = tx.one("SELECT body FROM scenario WHERE session_key = ?", (session_key,))
                scenario = replace(Scenario.from_dict(json.loads(row[0])) if row else Scenario(), **changes)
                tx.execute(_SAVE_SCENARIO, (session_key, json.dumps(asdict(scenario))))
            return scenario
        with self._lock:
            scenario = replace(self._by_key.get(session_key, Scenario()), **changes)
            self._by_key[session_key] = scenario
            return scenario

    def clear(self, session_key: str) -> None:
        if self._db is not None:
            self._db.execute("DELETE FROM scenario WHERE session_key = ?", (session_key,))
            return
        with self._lock:
            self._by_key.pop(session_key, None)


@dataclass(frozen=True)
class ClientIdentity:
    """The TLS client certificate presented on a connection, if any."""

    certificate: x509.Certificate | None

    @property
    def subject(self) -> str | None:
        return self.certificate.subject.rfc4514_string() if self.certificate else None

    @property
    def common_name(self) -> str | None:
        if not self.certificate:
            return None
        names = self.certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        return str(names[0].value) if names else None


def client_identity(scope: Mapping[str, Any]) -> ClientIdentity:
    """Read the client certificate from the ASGI TLS extension (``scope['extensions']['tls']``).

    The harness's server (``harness.protocols.mockserver``) fills ``client_cert_chain`` with PEM strings
    as the ASGI TLS extension specifies; in-process (httpx ASGI transport) there is none.
    """
    tls = (scope.get("extensions") or {}).get("tls") or {}
    chain = tls.get("client_cert_chain") or []
    if not chain:
        return ClientIdentity(None)
    return ClientIdentity(x509.load_pem_x509_certificate(chain[0].encode("ascii")))


def scenario_endpoint(scenarios: ScenarioStore, validate: Callable[[Scenario], None] | None = None) -> Any:
    """``PUT /_segur/scenario/{session_key}`` with a JSON scenario; a bad one answers 400, a huge one 413.

    ``validate`` is the mock's own check of the scenario (its options): a ValueError it raises is a 400.
    """

    async def set_scenario(request: Request) -> JSONResponse:
        try:
            data = await jsonbody.read_json(request)
            if not isinstance(data, dict):
                raise ValueError("the scenario must be a JSON object")
            scenario = Scenario.from_dict(data)
            if validate is not None:
                validate(scenario)
        except jsonbody.BadJson as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        scenarios.set(request.path_params["session_key"], scenario)
        return JSONResponse({"session_key": request.path_params["session_key"], "scenario": data})

    return set_scenario


def is_loopback_client(scope: Mapping[str, Any]) -> bool:
    """Whether the ASGI client address is a loopback one (127.0.0.0/8, ::1, ::ffff:127.x)."""
    client = scope.get("client")
    try:
        address = ipaddress.ip_address(str(client[0])) if client else None
    except ValueError:  # not an address (a test client's name, a Unix socket): not loopback
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address is not None and address.is_loopback


def _bearer(scope: Mapping[str, Any]) -> bytes | None:
    headers = dict(scope.get("headers") or [])
    scheme, _, presented = headers.get(b"authorization", b"").partition(b" ")
    return presented.strip() if scheme.lower() == b"bearer" else None


def control_refusal(scope: Mapping[str, Any], token: str | None) -> tuple[int, str] | None:
    """(HTTP status, reason) when a request may not reach a control endpoint, or None."""
    path = str(scope.get("path", ""))
    if not path.lower().startswith(CONTROL_PREFIX) or path in OPEN_CONTROL_PATHS:
        return None
    if not token:
        if is_loopback_client(scope):
            return None
        return 403, "control endpoints answer loopback clients only (or set a control token)"
    presented = _bearer(scope)
    if presented is not None and hmac.compare_digest(presented, token.encode("utf-8")):
        return None
    return 401, "control endpoints need the control token as a Bearer token"


def tenant_refusal(path: str, tenant: Tenant, tenants: TenantRegistry) -> tuple[int, str] | None:
    """(HTTP status, reason) when a tenant may not reach this control path, or None."""
    if path == _TENANT_SESSIONS or path in TENANT_SHARED_PATHS:
        return None
    keyed = _TENANT_KEYED.fullmatch(path)
    if keyed is None:
        return 403, "this control endpoint is the operator's (a tenant token reaches its own sessions only)"
    if tenants.owner(keyed.group(1)) != tenant.id:
        return 404, "unknown session"  # the same answer as a key nobody has: keys cannot be probed
    return None


def scoped_tenant(request: Request) -> Tenant | None:
    """The tenant a control request is scoped to (None: the operator, who sees every session)."""
    tenant = getattr(request.state, TENANT_STATE, None)
    return tenant if isinstance(tenant, Tenant) else None


class ControlGuard:
    """ASGI middleware putting :func:`control_refusal` (or, for a tenant token, :func:`tenant_refusal`)
    in front of a mock's app."""

    def __init__(self, app: ASGIApp, token: str | None = None, tenants: TenantRegistry | None = None) -> None:
        self.app, self.token, self.tenants = app, token, tenants

    def _refusal(self, scope: Scope) -> tuple[int, str] | None:
        path = str(scope.get("path", ""))
        presented = _bearer(scope)
        is_control = path.lower().startswith(CONTROL_PREFIX) and path not in OPEN_CONTROL_PATHS
        if not is_control or self.tenants is None or presented is None:
            return control_refusal(scope, self.token)
        if not presented.startswith(TOKEN_PREFIX.encode()):
            return control_refusal(scope, self.token)
        tenant = self.tenants.authenticate(presented.decode("utf-8", "replace"))
        if tenant is None:
            return 401, "unknown or revoked tenant token"
        scope.setdefault("state", {})[TENANT_STATE] = tenant
        return tenant_refusal(path, tenant, self.tenants)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = self._refusal(scope) if scope["type"] == "http" else None
        if refusal is None:
            await self.app(scope, receive, send)
            return
        status, reason = refusal
        headers = {"WWW-Authenticate": 'Bearer realm="segur-control"'} if status == 401 else None
        await JSONResponse({"error": reason}, status_code=status, headers=headers)(scope, receive, send)
