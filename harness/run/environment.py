"""A harness environment: data folder, test PKI, exchange store, and the mocks on loopback.

``segur run`` (through the pytest plugin) and ``segur serve`` both build one; mocks start
lazily, the first time a test or the user asks for a service.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.core import pki, pki_bundle
from harness.core.errors import UsageError
from harness.core.recorder import Exchange, ExchangeStore
from harness.core.signing import Signer
from harness.core.storage import Storage
from harness.core.tenants import TenantRegistry
from harness.protocols.mockserver import LOOPBACK, ServedApp, serve_app
from mock_services.common import CONTROL_TOKEN_ENV, ControlGuard, ScenarioStore
from mock_services.insi.settings import SETTINGS_ENV as INSI_SETTINGS_ENV
from mock_services.mssante.routing import SharedActiveSession
from mock_services.mssante.smtp import ActiveSession

if TYPE_CHECKING:
    from harness.core.pki_crl import CrlScenario
    from harness.run.console import RunningConsole
    from mock_services.crl import CrlPublication


def _insi_app(env: HarnessEnvironment) -> Any:
    from mock_services.insi import InsiSettings, create_app

    # The product's own INSi settings (TOML, keys in profiles/insi/README.md), when given.
    settings_file = os.environ.get(INSI_SETTINGS_ENV)
    try:
        settings = InsiSettings.load(Path(settings_file)) if settings_file else InsiSettings()
    except (OSError, ValueError) as exc:
        raise UnknownServiceError(f"INSi settings {settings_file}: {exc}") from exc
    return create_app(env.store, env.scenarios, settings=settings)


PSC_CLIENTS_ENV = "SEGUR_PSC_CLIENTS"


def _psc_app(env: HarnessEnvironment) -> Any:
    from mock_services.psc import Registry, create_app

    # The product's own client registration (TOML like fixtures/psc/clients.toml), when given.
    clients = os.environ.get(PSC_CLIENTS_ENV)
    try:
        registry = Registry.load(clients=Path(clients) if clients else None)
    except (OSError, ValueError, KeyError) as exc:
        raise UnknownServiceError(f"PSC client registry {clients}: {exc}") from exc
    # codes, tokens, CIBA requests, SSO sessions: in memory with SQLite (as before), shared with PostgreSQL
    return create_app(env.store, env.scenarios, registry=registry, database=env.storage.shared_database())


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
    registry = DmpRegistry(database=env.storage.database("dmp.sqlite3"))
    env.on_close.append(registry.close)
    settings = DmpSettings(trusted_signers=trusted)
    return create_app(env.store, env.scenarios, settings=settings, patients=patients, registry=registry, faults=faults)


def _vihf_proxy_app(env: HarnessEnvironment) -> Any:
    from harness.protocols.vihf import VihfSigner
    from mock_services.common import DEFAULT_SESSION
    from mock_services.vihf_proxy import ProxySettings, Upstreams, create_app

    # Both upstreams run before the proxy takes requests: it looks their URLs up per session key.
    env.start("psc")
    env.start("dmp")

    def upstreams(session_key: str) -> Upstreams:
        key = None if session_key == DEFAULT_SESSION else session_key
        userinfo = env.endpoint("psc", key) + "/protocol/openid-connect/userinfo"
        return Upstreams(userinfo_url=userinfo, dmp_base=env.endpoint("dmp", key))

    # GENVIHF: one certificate for the proxy's TLS client authentication and its VIHF signature.
    credential = env.pki.client("vihf-proxy")
    settings = ProxySettings(
        signer=VihfSigner.from_files(credential.key_pem, credential.cert_pem),
        client_tls=pki.client_ssl_context(env.pki, "vihf-proxy"),
    )
    app = create_app(env.store, env.scenarios, settings=settings, upstreams=upstreams)
    env.after_stop.setdefault("vihf_proxy", []).append(app.state.proxy.close)
    return app


def _sas_app(env: HarnessEnvironment) -> Any:
    from mock_services.sas import create_app

    return create_app(env.store, env.scenarios)


# service name -> (app factory, path of the service endpoint under a session prefix)
SERVICE_FACTORIES: dict[str, tuple[Callable[[HarnessEnvironment], Any], str]] = {
    "insi": (_insi_app, "lps"),
    "psc": (_psc_app, "auth/realms/esante-wallet"),
    "dmp": (_dmp_app, "si-dmp-server/v2/services"),
    "sas": (_sas_app, "sas"),  # the SAS platform's FHIR base (appointments the product sends)
    # The PSC -> VIHF gateway in front of the DMP (GENVIHF): DMPi services base, calls with a PSC token.
    "vihf_proxy": (_vihf_proxy_app, "si-dmp-server/v2/services"),
}
# Mail services have no URL path to carry a session: their listeners are started apart.
MAIL_SERVICES = {"mss"}
ALL_SERVICES = [*SERVICE_FACTORIES, *sorted(MAIL_SERVICES)]
PLANNED_SERVICES: set[str] = set()
MSS_DIRECTORY_ENV = "SEGUR_MSS_DIRECTORY"
# What a data folder holds (segur judge reads a serve's folder by these names).
STORE_FILE, PKI_FOLDER = "exchanges.sqlite3", "pki"
TENANTS_FILE = "tenants.sqlite3"  # segur tenant create writes it in the serve's data folder
# Addresses that bind every interface: no client can connect to them, so URLs name another host.
WILDCARD_HOSTS = {"0.0.0.0", "::", ""}


class UnknownServiceError(UsageError):
    pass


def check_services(names: list[str]) -> list[str]:
    for name in names:
        if name in PLANNED_SERVICES:
            available = ", ".join(ALL_SERVICES)
            raise UnknownServiceError(f"the {name} mock is not available in this version; available: {available}")
        if name not in ALL_SERVICES:
            raise UnknownServiceError(f"unknown service {name!r}; available: {', '.join(ALL_SERVICES)}")
    return names


class HarnessEnvironment:
    """Owns everything a run needs; use as a context manager so servers always stop."""

    def __init__(
        self,
        data_dir: Path | None = None,
        host: str = LOOPBACK,
        *,
        public_host: str | None = None,
        control_token: str | None = None,
        store: str | None = None,
        shared_mail_routing: bool = False,
    ):
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="segur-")
            data_dir = Path(self._tmp.name)
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.host = host
        # The host written in URLs and the endpoints file: the bound one, or loopback for a wildcard.
        self.public_host = public_host or (LOOPBACK if host in WILDCARD_HOSTS else host)
        self.control_token = control_token if control_token is not None else os.environ.get(CONTROL_TOKEN_ENV)
        if pki_bundle.is_credential_bundle(data_dir / PKI_FOLDER):  # its mocks would sign with keys it does not hold
            if self._tmp is not None:
                self._tmp.cleanup()
            raise UsageError(
                f"{data_dir} holds a shared host's credentials (segur run --host): give local mocks another --data-dir"
            )
        self.pki = pki.load_or_create_pki(data_dir / PKI_FOLDER)
        # SQLite files in the data folder, or the PostgreSQL database of --store / SEGUR_STORE.
        try:
            self.storage = Storage(data_dir, store)
        except BaseException:
            if self._tmp is not None:  # a refused store must not leave the temporary data folder behind
                self._tmp.cleanup()
            raise
        # The mocks sign what they record, so a pack's exchanges can be checked against their key.
        self.store = ExchangeStore(signer=Signer(self.pki.signers["trace"]), database=self.storage.database(STORE_FILE))
        # Scenarios stay in memory with SQLite (as before); with PostgreSQL, every process sharing it sees them.
        self.scenarios = ScenarioStore(self.storage.shared_database())
        # Who owns which session keys (segur tenant create); empty, everything behaves as for one user.
        self.tenants = TenantRegistry(self.storage.database(TENANTS_FILE))
        self.servers: dict[str, ServedApp] = {}
        self.apps: dict[str, Any] = {}
        self.on_close: list[Callable[[], None]] = []
        # Run right after one service's server stops (its kept-alive client connections to other mocks).
        self.after_stop: dict[str, list[Callable[[], None]]] = {}
        self.run_key = uuid.uuid4().hex[:12]
        # What this run made, apart from what the store already held (a kept --data-dir, a shared database)
        # and from what other runs make meanwhile on a shared database: see run_exchanges().
        self.session_keys: set[str] = set()
        self.opened_after_seq = self.store.last_seq()
        # Where mail goes: in this process, or (segur serve on PostgreSQL) in the database every worker reads.
        shared = self.storage.shared_database() if shared_mail_routing else None
        self.active_session = SharedActiveSession(shared) if shared is not None else ActiveSession()
        self.mss: Any = None  # the MSSanté operator, once started
        # Other server certificates the operator can present, by name (filled by crl_distribution()).
        self.operator_certificates: dict[str, Any] = {}
        self.crl: tuple[CrlScenario, CrlPublication, ServedApp] | None = None
        self.console: RunningConsole | None = None  # the operator console, once started
        self.trust_override: list[Any] | None = None

    def trusted_cas(self) -> list[Any]:
        """CAs whose end-entity certificates verifiers trust (a replay brings back the recorded run's)."""
        return self.trust_override if self.trust_override is not None else pki.trusted_ca_certificates(self.pki)

    def start(self, service: str) -> ServedApp:
        check_services([service])
        if service in MAIL_SERVICES:
            raise UnknownServiceError(f"{service} is a mail service: use start_mss()")
        if service not in self.servers:
            factory, _ = SERVICE_FACTORIES[service]
            self.apps[service] = factory(self)
            # A mock standing for an mTLS-only host (INSi with auth_modes = ["mtls"]) has the
            # handshake refuse a client without a certificate, with the TLS alert saying so.
            state = getattr(self.apps[service], "state", None)
            required = bool(getattr(state, "require_client_certificate", False))
            context = pki.server_ssl_context(self.pki, require_client_cert=required)
            from harness.run.sessions import SessionControl

            guarded = ControlGuard(SessionControl(self.apps[service], self), self.control_token, self.tenants)
            self.servers[service] = serve_app(guarded, name=service, host=self.host, ssl_context=context)
        return self.servers[service]

    def start_mss(self) -> Any:
        """The MSSanté operator (SMTP implicit TLS and STARTTLS, IMAP); PSC tokens checked by the PSC mock."""
        if self.mss is None:
            from mock_services.mssante import Directory, start_operator
            from mock_services.mssante.tenancy import MailTenancy

            directory_file = os.environ.get(MSS_DIRECTORY_ENV)
            try:
                directory = Directory.load(Path(directory_file) if directory_file else None)
            except (OSError, ValueError, KeyError) as exc:
                raise UnknownServiceError(f"MSSanté directory {directory_file}: {exc}") from exc

            def bearer(token: str) -> dict[str, Any] | None:
                psc = self.apps.get("psc")
                return psc.state.provider.keyring.verify(token) if psc is not None else None

            self.mss = start_operator(
                self.store,
                pki.server_ssl_context(self.pki, require_client_cert=False),
                foreign_ssl_context=pki.server_ssl_context(
                    self.pki, require_client_cert=False, credential=pki.foreign_server_credential(self.pki)
                ),
                data_dir=self.data_dir,
                host=self.host,
                directory=directory,
                bearer=bearer,
                active=self.active_session,
                database=self.storage.database("mailboxes.sqlite3"),
                other_certificates=self.operator_certificates,
                tenancy=MailTenancy(self.tenants),
            )
        return self.mss

    def crl_distribution(self) -> tuple[CrlScenario, CrlPublication]:
        """The CRL distribution point (plain HTTP) and the operator certificates naming it, made on first use.

        The operator presents them as ``crl-good`` and ``crl-revoked`` (``active_session.operator_certificate``).
        """
        if self.crl is None:
            from harness.core.pki_crl import issue_crl_scenario
            from mock_services.crl import CRL_PATH, CrlPublication, create_app

            self.start_mss()
            publication = CrlPublication(b"", b"")  # the CRLs come once the URL they are published at is known
            served = serve_app(create_app(self.store, publication, self.active_session), name="crl", host=self.host)
            self.on_close.append(served.stop)
            url = f"http://{self._bracketed_public_host()}:{served.port}{CRL_PATH}"
            # This environment's own folder: runs sharing a data folder never pair a certificate with another's key.
            scenario = issue_crl_scenario(self.pki, url, self.data_dir / "crl" / self.run_key)
            publication.current_crl, publication.expired_crl = scenario.current_crl, scenario.expired_crl
            for name, credential in (("crl-good", scenario.good), ("crl-revoked", scenario.revoked)):
                self.operator_certificates[name] = pki.server_ssl_context(self.pki, credential=credential)
            self.crl = (scenario, publication, served)
        return self.crl[0], self.crl[1]

    def start_any(self, service: str) -> None:
        self.start_mss() if service in MAIL_SERVICES else self.start(service)

    def start_console(self) -> RunningConsole:
        """The operator console (live exchanges, scenarios, manual steps), on loopback whatever ``host`` is."""
        if self.console is None:
            from harness.run.console import start_console

            self.console = start_console(
                self.store, self.scenarios, database=self.storage.shared_database(), tenants=self.tenants
            )
            self.on_close.append(self.console.stop)
        return self.console

    def endpoints_for(self, session_key: str) -> dict[str, str]:
        """Every endpoint a SUT may use in one test (mail endpoints are host:port)."""
        endpoints = {name: self.endpoint(name, session_key) for name in SERVICE_FACTORIES}
        for name, address in self._mail_endpoints(self.start_mss()).items():
            endpoints["mss" if name == "smtp" else f"mss_{name}"] = address
        return endpoints

    def endpoint(self, service: str, session_key: str | None = None) -> str:
        """The URL a client uses; with a session key, exchanges are recorded under that key."""
        served = self.start(service)
        path = SERVICE_FACTORIES[service][1]
        url = f"{served.scheme}://{self._bracketed_public_host()}:{served.port}"
        return f"{url}/s/{session_key}/{path}" if session_key else f"{url}/{path}"

    def _bracketed_public_host(self) -> str:
        return f"[{self.public_host}]" if ":" in self.public_host else self.public_host

    def _mail_endpoints(self, operator: Any) -> dict[str, str]:
        """The MSSanté listeners' host:port, naming the public host."""
        return {
            name: f"{self._bracketed_public_host()}:{address.rpartition(':')[2]}"
            for name, address in operator.endpoints().items()
        }

    def new_session_key(self, label: str = "", *, unguessable: bool = False) -> str:
        """A routing key; ``unguessable`` (a tenant's session, a capability on a shared host): 128 random bits."""
        safe = "".join(c if c.isalnum() else "-" for c in label)[-40:].strip("-")
        if unguessable:
            key = f"{safe}-{secrets.token_hex(16)}" if safe else secrets.token_hex(16)
        else:
            key = f"{self.run_key}-{safe}-{uuid.uuid4().hex[:6]}" if safe else f"{self.run_key}-{uuid.uuid4().hex[:8]}"
        self.session_keys.add(key)
        return key

    def run_exchanges(self) -> list[Exchange]:
        """The exchanges of this environment's sessions, and those of no session, recorded since it opened.

        Its store may hold every earlier run's (a data folder used again) and, on a shared database,
        other runs' at the same time: neither belongs in this run's report or evidence pack.
        """
        return [
            exchange
            for exchange in self.store.exchanges(after_seq=self.opened_after_seq)
            if exchange.session_key is None or exchange.session_key in self.session_keys
        ]

    def endpoints_document(self) -> dict[str, Any]:
        """The ``--endpoints-file`` JSON of the blueprint, for the services started."""
        doc: dict[str, Any] = {}
        if "insi" in self.servers:
            doc["insi"] = {"url": self.endpoint("insi")}
        if "psc" in self.servers:
            doc["psc"] = {"issuer": self.endpoint("psc")}
        if "dmp" in self.servers:
            doc["dmp"] = {"url": self.endpoint("dmp")}
        if "sas" in self.servers:
            doc["sas"] = {"url": self.endpoint("sas")}
        if "vihf_proxy" in self.servers:
            doc["vihf_proxy"] = {"url": self.endpoint("vihf_proxy")}
        if self.mss is not None:
            endpoints = self._mail_endpoints(self.mss)
            doc["mss"] = {key: endpoints[key] for key in ("smtp", "smtp_starttls", "imap")}
            if self.crl is not None:
                doc["mss"]["crl_distribution_point"] = self.crl[0].distribution_point
        client = self.pki.client("insi-auto")
        doc["pki"] = {
            "ca_bundle": str(self.pki.ca_bundle),
            "client_cert": str(client.cert_pem),
            "client_key": str(client.key_pem),
            "client_p12": str(client.p12),
            "p12_password": pki.P12_PASSWORD,
        }
        if self.console is not None:
            doc["console"] = {"url": self.console.url}
        return doc

    def close(self) -> None:
        servers = list(reversed(self.servers.items()))
        # Every listener is asked to stop before any is waited for: each takes 0.1 to 0.2 s to wind down,
        # which one after the other added a second or more to every run. Nothing is in flight by now.
        for _, served in servers:
            served.begin_stop()
        if self.mss is not None:
            self.mss.begin_stop()
        if self.crl is not None:
            self.crl[2].begin_stop()
        # Last started first: a mock calling others (the VIHF proxy) lets go of them before they stop.
        for name, served in servers:
            served.stop()
            for release in self.after_stop.pop(name, []):
                release()
        self.servers.clear()
        if self.mss is not None:
            self.mss.stop()
            self.mss = None
        self.crl = None
        for close in self.on_close:
            close()
        self.on_close.clear()
        self.store.close()
        self.storage.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> HarnessEnvironment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
