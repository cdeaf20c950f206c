"""The INSi mock's behaviour switches (:class:`InsiSettings`), from code, a TOML file or a session's scenario.

Each default is the most likely behaviour of the real service; where it is inferred rather than
read in a source, the switch says so and ``profiles/insi/README.md`` gives the source or the reason.
A settings file (``segur serve --insi-settings FILE``, or ``SEGUR_INSI_SETTINGS`` for ``segur run``)
sets the server's defaults; the options of a session's scenario (``PUT /_segur/scenario/<key>``)
override some of them for that session only (:data:`SCENARIO_OPTIONS`).
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from mock_services.common import Scenario
from mock_services.insi.messages import HISTORY_DATES

SETTINGS_ENV = "SEGUR_INSI_SETTINGS"
AUTH_MODES = frozenset({"mtls", "cpx"})
# The real service answers its SOAP faults with HTTP 500 (padoa/tlsi-ins reads a fault only from a
# 500); 400 is what the SOAP 1.2 HTTP binding suggests for a Sender fault, kept for clients tested so.
FAULT_HTTP_STATUSES = (500, 400)
# Settings a session's scenario may override (the rest is the server's: TLS, trust, limits).
SCENARIO_OPTIONS = ("history_dates", "fault_http_status", "known_idams", "refused_idams")


@dataclass(frozen=True)
class InsiSettings:
    """Behaviour switches; the defaults follow the facts file and the public client, inferred points are marked."""

    known_idams: frozenset[str] | None = None  # None: any non-empty IDAM not refused is accepted
    refused_idams: frozenset[str] = frozenset()  # answered desir_550 even when listed as known
    # Inferred: INSi cannot authorise software that sends no ContexteLPS, so treat it as desir_550.
    missing_lps_context_is_fault: bool = True
    allowed_cns: frozenset[str] = frozenset({"INSI-AUTO", "INSI-MANU"})
    require_authentication: bool = True
    history_dates: str = "xsd"  # INSHISTO DateDeb/DateFin: see messages.resultat
    fault_http_status: int = 500  # HTTP status of every SOAP fault the service sends (FAULT_HTTP_STATUSES)
    max_body_bytes: int = 1024 * 1024
    cpx_trust_pems: tuple[bytes, ...] = ()
    # {"mtls"} alone: the TLS handshake itself requires a client certificate (the real mTLS host).
    auth_modes: frozenset[str] = field(default_factory=lambda: AUTH_MODES)

    def __post_init__(self) -> None:
        if self.history_dates not in HISTORY_DATES:
            raise ValueError(f"history_dates must be one of {', '.join(HISTORY_DATES)}, not {self.history_dates!r}")
        if self.fault_http_status not in FAULT_HTTP_STATUSES:
            known = " or ".join(map(str, FAULT_HTTP_STATUSES))
            raise ValueError(f"fault_http_status must be {known}, not {self.fault_http_status!r}")
        if not self.auth_modes or not self.auth_modes <= AUTH_MODES:
            raise ValueError(
                f"auth_modes must be a non-empty subset of {sorted(AUTH_MODES)}, not {sorted(self.auth_modes)}"
            )
        if self.max_body_bytes <= 0:
            raise ValueError(f"max_body_bytes must be positive, not {self.max_body_bytes}")

    @property
    def requires_client_certificate(self) -> bool:
        """True when the mock stands for the mTLS host only, so the handshake refuses a client without one."""
        return self.auth_modes == {"mtls"}

    def idam_refusal(self, idam: str | None) -> str | None:
        """Why this IDAM is refused (``missing``, ``refused`` or ``unknown``), None when it is accepted."""
        if not idam:
            return "missing"
        if idam in self.refused_idams:
            return "refused"
        if self.known_idams is not None and idam not in self.known_idams:
            return "unknown"
        return None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, origin: str = "INSi settings") -> InsiSettings:
        """Settings from a TOML/JSON-shaped mapping; unknown keys and wrong types raise ValueError."""
        values = {name: _convert(name, value, origin) for name, value in _known(data, _FILE_KEYS, origin).items()}
        return _build(cls(), values, origin)

    @classmethod
    def load(cls, path: Path) -> InsiSettings:
        """Settings from a TOML file (``profiles/insi/README.md`` lists its keys); ValueError when wrong."""
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: not valid TOML: {exc}") from exc
        return cls.from_mapping(data, origin=str(path))

    def for_session(self, options: Mapping[str, Any]) -> InsiSettings:
        """These settings with a session's INSi options applied (ValueError on a bad value).

        A session's scenario is shared by every mock, so options of the other mocks are left alone.
        """
        options = {name: value for name, value in options.items() if name in SCENARIO_OPTIONS}
        if not options:
            return self
        values = {name: _convert(name, value, "scenario options") for name, value in options.items()}
        return _build(self, values, "scenario options")


# cpx_trust_pems are certificates the harness loads from its PKI, not a file setting.
_FILE_KEYS = tuple(f.name for f in fields(InsiSettings) if f.name != "cpx_trust_pems")
_SETS = {"known_idams", "refused_idams", "allowed_cns", "auth_modes"}
_SCALARS: dict[str, type] = {
    "missing_lps_context_is_fault": bool,
    "require_authentication": bool,
    "history_dates": str,
    "fault_http_status": int,
    "max_body_bytes": int,
}


def _known(data: Mapping[str, Any], allowed: tuple[str, ...], origin: str) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise ValueError(f"{origin}: expected a table of settings, not {type(data).__name__}")
    for key in data:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"{origin}: unknown INSi setting {key!r}{hint}; known: {', '.join(allowed)}")
    return dict(data)


def _convert(name: str, value: Any, origin: str) -> Any:
    if name == "known_idams" and value is None:
        return None  # JSON null: any IDAM
    if name in _SETS:
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise ValueError(f"{origin}: {name} must be a list of strings, not {value!r}")
        if not all(isinstance(item, str) and item.strip() for item in value):
            raise ValueError(f"{origin}: {name} must hold non-empty strings, not {value!r}")
        return frozenset(item.strip() for item in value)
    expected = _SCALARS[name]
    # bool is an int in Python: a `true` where a number is expected is refused, not read as 1
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ValueError(f"{origin}: {name} must be {expected.__name__}, not {value!r}")
    return value


def _build(base: InsiSettings, values: dict[str, Any], origin: str) -> InsiSettings:
    try:
        return replace(base, **values)
    except ValueError as exc:
        raise ValueError(f"{origin}: {exc}") from exc


def check_scenario(scenario: Scenario) -> None:
    """Refuse, when it is set, a scenario whose INSi options the mock cannot apply (ValueError).

    Other keys may be other mocks' options (the scenario is the session's, shared by every mock):
    only an INSi setting that is not a session option, or a near miss of an INSi option, is refused.
    """
    for key in scenario.options:
        if key in SCENARIO_OPTIONS:
            continue
        if key in _FILE_KEYS:
            raise ValueError(
                f"scenario options: INSi setting {key!r} is not a session option (set it in the settings file); "
                f"session options: {', '.join(SCENARIO_OPTIONS)}"
            )
        close = difflib.get_close_matches(str(key), SCENARIO_OPTIONS, n=1, cutoff=0.8)
        if close:
            raise ValueError(f"scenario options: unknown INSi option {key!r} (did you mean {close[0]!r}?)")
    InsiSettings().for_session(scenario.options)
