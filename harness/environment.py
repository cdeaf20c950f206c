"""A harness environment: data folder, test PKI, exchange store, and the mocks on loopback.

``segur run`` (through the pytest plugin) and ``segur serve`` both build one; mocks start
lazily, the first time a test or the user asks for a service.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import pki
from harness.errors import UsageError
from harness.mockserver import LOOPBACK, ServedApp, serve_app
from harness.recorder import ExchangeStore
from mock_services.common import ScenarioStore


def _insi_app(env: HarnessEnvironment) -> Any:
    from mock_services.insi import create_app

    return create_app(env.store, env.scenarios)


PSC_CLIENTS_ENV = "SEGUR_PSC_CLIENTS"


def _psc_app(env: HarnessEnvironment) -> Any:
    from mock_services.psc import Registry, create_app

    # The product's own client registration (TOML like fixtures/psc/clients.toml), when given.
    clients = os.environ.get(PSC_CLIENTS_ENV)
    try:
        registry = Registry.load(clients=Path(clients) if clients else None)
    except (OSError, ValueError, KeyError) as exc:
        raise UnknownServiceError(f"PSC client registry {clients}: {exc}") from exc
    return create_app(env.store, env.scenarios, registry=registry)


DMP_PATIENTS_ENV = "SEGUR_DMP_PATIENTS"
DMP_FAULTS_ENV = "SEGUR_DMP_FAULTS"


def _dmp_app(env: HarnessEnvironment) -> Any:
    from mock_services.dmp import DmpRegistry, DmpSettings, FaultTable, PatientBase, create_app

    patients_file, faults_file = os.environ.get(DMP_PATIENTS_ENV), os.environ.get(DMP_FAULTS_ENV)
    try:
        patients = PatientBase.load(Path(patients_file) if patients_file else None)
        faults = FaultTable.load(Path(faults_file) if faults_file else None)
    except (OSError, ValueError, KeyError) as exc:
        raise UnknownServiceError(f"DMP mock configuration: {exc}") from exc
    # The VIHF is trusted when signed under the harness's CAs (CPS-like cards, organisations).
    trusted = tuple(pki.trusted_ca_certificates(env.pki))
    registry = DmpRegistry(env.data_dir / "dmp.sqlite3")
    env.on_close.append(registry.close)
    settings = DmpSettings(trusted_signers=trusted)
    return create_app(env.store, env.scenarios, settings=settings, patients=patients, registry=registry, faults=faults)


# service name -> (app factory, path of the service endpoint under a session prefix)
SERVICE_FACTORIES: dict[str, tuple[Callable[[HarnessEnvironment], Any], str]] = {
    "insi": (_insi_app, "lps"),
    "psc": (_psc_app, "auth/realms/esante-wallet"),
    "dmp": (_dmp_app, "si-dmp-server/v2/services"),
}
PLANNED_SERVICES = {"mss"}


class UnknownServiceError(UsageError):
    pass


def check_services(names: list[str]) -> list[str]:
    for name in names:
        if name in PLANNED_SERVICES:
            available = ", ".join(SERVICE_FACTORIES)
            raise UnknownServiceError(f"the {name} mock is not available in this version; available: {available}")
        if name not in SERVICE_FACTORIES:
            raise UnknownServiceError(f"unknown service {name!r}; available: {', '.join(SERVICE_FACTORIES)}")
    return names


class HarnessEnvironment:
    """Owns everything a run needs; use as a context manager so servers always stop."""

    def __init__(self, data_dir: Path | None = None, host: str = LOOPBACK):
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="segur-")
            data_dir = Path(self._tmp.name)
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.pki = pki.load_or_create_pki(data_dir / "pki")
        self.store = ExchangeStore(data_dir / "exchanges.sqlite3")
        self.scenarios = ScenarioStore()
        self.servers: dict[str, ServedApp] = {}
        self.on_close: list[Callable[[], None]] = []
        self.run_key = uuid.uuid4().hex[:12]

    def start(self, service: str) -> ServedApp:
        check_services([service])
        if service not in self.servers:
            factory, _ = SERVICE_FACTORIES[service]
            context = pki.server_ssl_context(self.pki, require_client_cert=False)
            self.servers[service] = serve_app(factory(self), name=service, host=self.host, ssl_context=context)
        return self.servers[service]

    def endpoint(self, service: str, session_key: str | None = None) -> str:
        """The URL a client uses; with a session key, exchanges are recorded under that key."""
        served = self.start(service)
        path = SERVICE_FACTORIES[service][1]
        return f"{served.url}/s/{session_key}/{path}" if session_key else f"{served.url}/{path}"

    def new_session_key(self, label: str = "") -> str:
        safe = "".join(c if c.isalnum() else "-" for c in label)[-40:].strip("-")
        return f"{self.run_key}-{safe}-{uuid.uuid4().hex[:6]}" if safe else f"{self.run_key}-{uuid.uuid4().hex[:8]}"

    def endpoints_document(self) -> dict[str, Any]:
        """The ``--endpoints-file`` JSON of the blueprint, for the services started."""
        doc: dict[str, Any] = {}
        if "insi" in self.servers:
            doc["insi"] = {"url": self.endpoint("insi")}
        if "psc" in self.servers:
            doc["psc"] = {"issuer": self.endpoint("psc")}
        if "dmp" in self.servers:
            doc["dmp"] = {"url": self.endpoint("dmp")}
        client = self.pki.client("insi-auto")
        doc["pki"] = {
            "ca_bundle": str(self.pki.ca_bundle),
            "client_cert": str(client.cert_pem),
            "client_key": str(client.key_pem),
            "client_p12": str(client.p12),
            "p12_password": pki.P12_PASSWORD,
        }
        return doc

    def close(self) -> None:
        for served in self.servers.values():
            served.stop()
        self.servers.clear()
        for close in self.on_close:
            close()
        self.on_close.clear()
        self.store.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> HarnessEnvironment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
