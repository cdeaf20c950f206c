"""What every mock shares: session routing keys, per-session scenarios, the TLS client identity.

Routing: a mock serves its endpoint both at its real path (session ``default``) and under
``/s/{session_key}/...``, so that a test, or a person debugging, can keep the exchanges of one
scenario apart on a shared server.

Scenarios: fault injection is set per session key (latency, technical error, unavailable),
in process through :class:`ScenarioStore` or over HTTP with
``PUT /_segur/scenario/{session_key}`` and a JSON body.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from cryptography import x509
from starlette.requests import Request
from starlette.responses import JSONResponse

DEFAULT_SESSION = "default"
# Every HTTP answer names the exchange the mock recorded (and signed) for it, so a client can cite it.
TRACE_HEADER = "X-Segur-Trace"
FAULTS = {"technical", "unavailable"}


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
        return cls(
            latency_ms=int(data.get("latency_ms", 0)),
            fault=data.get("fault"),
            options=dict(data.get("options", {})),
        )


class ScenarioStore:
    """Scenarios by session key; thread-safe because tests set them from another thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[str, Scenario] = {}

    def get(self, session_key: str) -> Scenario:
        with self._lock:
            return self._by_key.get(session_key, Scenario())

    def set(self, session_key: str, scenario: Scenario) -> None:
        with self._lock:
            self._by_key[session_key] = scenario

    def update(self, session_key: str, **changes: Any) -> Scenario:
        with self._lock:
            scenario = replace(self._by_key.get(session_key, Scenario()), **changes)
            self._by_key[session_key] = scenario
            return scenario

    def clear(self, session_key: str) -> None:
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
    """``PUT /_segur/scenario/{session_key}`` with a JSON scenario; a bad one answers 400.

    ``validate`` is the mock's own check of the scenario (its options): a ValueError it raises is a 400.
    """

    async def set_scenario(request: Request) -> JSONResponse:
        try:
            data = await request.json()
            if not isinstance(data, dict):
                raise ValueError("the scenario must be a JSON object")
            scenario = Scenario.from_dict(data)
            if validate is not None:
                validate(scenario)
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            return JSONResponse({"error": str(exc)}, status_code=400)
        scenarios.set(request.path_params["session_key"], scenario)
        return JSONResponse({"session_key": request.path_params["session_key"], "scenario": data})

    return set_scenario
