"""What every SUT adapter shares: the context it acts in, its result, and its failures.

A conformance test asks the system under test (SUT) to perform a named action (see
:mod:`harness.run.sut.actions`); the adapter makes the product do it (built-in reference client,
a vendor's shell command, a person) and returns an :class:`ActionResult` whose ``data`` is
the product's answer in the documented JSON form.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from harness.core.errors import UsageError
from harness.core.recorder import Exchange


@dataclass(frozen=True)
class SutContext:
    """Where the SUT must connect and with which credentials, for one test."""

    session_key: str
    endpoints: dict[str, str]
    ca_bundle: Path
    client_cert: Path
    client_key: Path
    client_p12: Path
    p12_password: str
    work_dir: Path
    pki_dir: Path
    # Stores an exchange under this test, for an adapter that hands over exchanges the product made elsewhere.
    record_exchange: Callable[[Exchange], Exchange] | None = None

    def environment(self) -> dict[str, str]:
        """The environment variables a command adapter passes to the vendor's command."""
        env = {
            "SEGUR_SESSION_KEY": self.session_key,
            "SEGUR_CA_BUNDLE": str(self.ca_bundle),
            "SEGUR_CLIENT_CERT": str(self.client_cert),
            "SEGUR_CLIENT_KEY": str(self.client_key),
            "SEGUR_CLIENT_P12": str(self.client_p12),
            "SEGUR_P12_PASSWORD": self.p12_password,
            "SEGUR_WORK_DIR": str(self.work_dir),
            "SEGUR_PKI_DIR": str(self.pki_dir),
        }
        for service, url in self.endpoints.items():
            env[f"SEGUR_{service.upper()}_URL"] = url
        return env


@dataclass
class ActionResult:
    """The product's answer to one action, with what the adapter saw while it ran."""

    action: str
    params: dict[str, Any]
    data: dict[str, Any]
    duration: float = 0.0
    stdout: str = ""
    stderr: str = ""
    exit_status: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> str | None:
        value = self.data.get("outcome")
        return str(value) if value is not None else None


class _Bilingual(Exception):
    """An exception whose message (English) has a French wording for the French report."""

    def __init__(self, message: str, fr: str | None = None):
        super().__init__(message)
        self.fr = fr or message


class ActionNotSupported(_Bilingual):
    """The SUT configuration does not map this action: the test is not evaluated (precondition missing)."""


class SutFailure(_Bilingual):
    """The product did not complete the action (non-zero exit, time-out, unreadable answer).

    ``raw`` is what the product answered, when it answered something: the evidence pack keeps it.
    """

    def __init__(self, message: str, fr: str | None = None, *, raw: bytes | None = None):
        super().__init__(message, fr)
        self.raw = raw


class SutConfigError(UsageError):
    """The SUT description itself is wrong (bad TOML, unknown defect...): a usage error."""


class SutAdapter(Protocol):
    name: str

    def describe(self) -> dict[str, Any]:
        """Name, kind, version and options, for the reports."""
        ...

    def perform(self, action: str, params: dict[str, Any], context: SutContext) -> ActionResult:
        """Make the product perform ``action``; raise ActionNotSupported or SutFailure."""
        ...
