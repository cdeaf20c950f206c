"""Tenants on a shared mock host: tenant B never reads, lists or alters what tenant A owns.

One host per engine (SQLite files, and PostgreSQL through ``pg_cluster``) with every mock started,
two tenants A and B, and for each service: A sees its own items (the positive case), B does not
(404 for A's session keys, nothing of A's in B's lists). Each isolation assertion goes through
:func:`leaked`, which is also run on the unscoped store to show it does find A's items there: a
check that would pass on a host that leaks would prove nothing.
"""

from __future__ import annotations

import base64
import email.utils
import imaplib
import json
import smtplib
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from observed_product import session_context

from harness.cli import main
from harness.core import pki
from harness.core.errors import UsageError
from harness.core.signing import load_chain, verify_signature
from harness.core.tenants import Tenant, TenantRegistry
from harness.run.environment import HarnessEnvironment
from harness.run.host_api import exchange_from_json
from harness.run.judge import check_tenant_session
from harness.run.sut.reference import ReferenceSut
from mock_services.dmp import DmpRegistry
from mock_services.dmp.patients import PatientBase
from mock_services.mssante.tenancy import tenant_mailbox

SENDER = "docteur.medecin-test@harnais.mssante.fr"
RECIPIENT = "claire.hospitaliere-test@harnais.mssante.fr"
HTTP_SERVICES = ("insi", "psc", "dmp", "sas")


@dataclass
class Host:
    env: HarnessEnvironment
    a: Tenant
    a_token: str
    b: Tenant
    b_token: str
    tmp: Path

    def http(self, service: str) -> httpx.Client:
        origin = self.env.endpoint(service).split("/", 3)[:3]
        context = pki.client_ssl_context(self.env.pki, "insi-auto")
        return httpx.Client(base_url="/".join(origin), verify=context, timeout=20)

    def control(self, method: str, path: str, token: str | None, service: str = "dmp", **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with self.http(service) as client:
            return client.request(method, path, headers=headers, **kw)

    def session(self, token: str, label: str = "") -> dict[str, Any]:
        answer = self.control("POST", "/_segur/sessions", token, json={"label": label})
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    def exported(self, key: str, token: str | None) -> httpx.Response:
        return self.control("GET", f"/_segur/sessions/{key}/exchanges", token)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def host(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    cluster = request.getfixturevalue("pg_cluster") if request.param == "postgresql" else None
    url = cluster.create_database() if cluster is not None else None
    tmp = tmp_path_factory.mktemp(f"tenants-{request.param}")
    env = HarnessEnvironment(tmp / "serve", store=url)
    try:
        for service in HTTP_SERVICES:
            env.start(service)
        env.start_mss()
        env.start_console()
        a, a_token = env.tenants.create("vendor-a")
        b, b_token = env.tenants.create("vendor-b")
        yield Host(env, a, a_token, b, b_token, tmp)
    finally:
        env.close()
        if cluster is not None and url is not None:
            cluster.drop_database(url)


def leaked(seen: Iterable[str], owned_by_a: Iterable[str]) -> set[str]:
    """A's items found in what B was shown."""
    return set(seen) & set(owned_by_a)


# -- sessions and control endpoints -----------------------------------------------------------


def test_a_tenant_session_is_bound_to_it_unguessable_and_leaves_the_operators_mail_session(host: Host):
    before = host.env.active_session.key
    session = host.session(host.a_token, "pipeline 7")
    key = session["session"]
    assert session["tenant"] == "vendor-a"
    assert host.env.tenants.owner(key) == host.a.id
    assert len(key.rpartition("-")[2]) == 32  # 128 random bits after the label
    assert host.env.active_session.key == before  # operator mail does not go to a tenant's session
    assert session["dmp"]["url"].endswith(f"/s/{key}/si-dmp-server/v2/services")


@pytest.mark.parametrize("service", HTTP_SERVICES)
def test_scenarios_of_a_session_answer_its_tenant_and_404_to_another(host: Host, service: str):
    key = host.session(host.a_token)["session"]
    body = {"latency_ms": 5}
    assert host.control("PUT", f"/_segur/scenario/{key}", host.a_token, service, json=body).status_code == 200
    refused = host.control("PUT", f"/_segur/scenario/{key}", host.b_token, service, json={"fault": "unavailable"})
    unknown = host.control("PUT", "/_segur/scenario/no-such-key", host.b_token, service, json=body)
    assert refused.status_code == unknown.status_code == 404
    assert refused.json() == unknown.json()  # nothing tells B that the key exists
    assert host.env.scenarios.get(key).fault is None  # B altered nothing
    assert host.env.scenarios.get(key).latency_ms == 5
    operator = host.control("PUT", f"/_segur/scenario/{key}", None, service, json={"latency_ms": 0})
    assert operator.status_code == 200  # loopback without a control token: the operator


def test_operator_endpoints_refuse_tenants_and_a_wrong_tenant_token_is_401(host: Host):
    assert host.control("POST", "/_segur/keys/rotate", host.a_token, "psc").status_code == 403
    forged = host.control("GET", "/_segur/sessions", "segur-tenant-not-a-real-one")
    assert forged.status_code == 401
    assert forged.headers["www-authenticate"].startswith("Bearer")


def test_session_lists_show_each_tenant_its_own_and_the_operator_all(host: Host):
    a_key, b_key = host.session(host.a_token)["session"], host.session(host.b_token)["session"]
    seen_by_a = host.control("GET", "/_segur/sessions", host.a_token).json()["sessions"]
    seen_by_b = host.control("GET", "/_segur/sessions", host.b_token).json()["sessions"]
    seen_by_operator = host.control("GET", "/_segur/sessions", None).json()["sessions"]
    assert a_key in seen_by_a and b_key in seen_by_b
    assert not leaked(seen_by_b, host.env.tenants.sessions(host.a.id))
    assert not leaked(seen_by_a, host.env.tenants.sessions(host.b.id))
    assert leaked(seen_by_operator, [a_key]) and leaked(seen_by_operator, [b_key])


# -- exchanges of every HTTP service ---------------------------------------------------------


def _touch(host: Host, service: str, key: str) -> None:
    """One request in the session, which the mock records whatever it answers."""
    path = {
        "insi": f"/s/{key}/lps",
        "psc": f"/s/{key}/auth/realms/esante-wallet/protocol/openid-connect/token",
        "dmp": f"/s/{key}/si-dmp-server/v2/services/DocumentRegistry",
        "sas": f"/s/{key}/sas/Appointment",
    }[service]
    with host.http(service) as client:
        if service == "psc":
            client.post(path, data={"grant_type": "authorization_code", "code": "none", "client_id": "unknown"})
        else:
            client.post(path, content=b"<not-a-request/>", headers={"Content-Type": "application/soap+xml"})


@pytest.mark.parametrize("service", HTTP_SERVICES)
def test_exchanges_of_a_session_are_exported_to_its_tenant_only(host: Host, service: str):
    a_key, b_key = host.session(host.a_token)["session"], host.session(host.b_token)["session"]
    _touch(host, service, a_key)
    _touch(host, service, b_key)
    mine = host.exported(a_key, host.a_token)
    assert mine.status_code == 200
    a_ids = [e["id"] for e in mine.json()["exchanges"] if e["service"] == service]
    assert a_ids, f"the {service} mock recorded nothing in A's session"
    assert host.exported(a_key, host.b_token).status_code == 404
    b_view = [e["id"] for e in host.exported(b_key, host.b_token).json()["exchanges"]]
    assert b_view and not leaked(b_view, a_ids)
    everything = [e.id for e in host.env.store.exchanges(service=service)]
    assert leaked(everything, a_ids)  # the unscoped store holds A's: the check above can see a leak
    # what the tenant fetched is what the mock recorded and signed
    assert host.env.store.signer is not None
    trace_certificate = load_chain(host.env.store.signer.chain_pem)[0]
    for document in mine.json()["exchanges"]:
        exchange = exchange_from_json(document)
        assert verify_signature(trace_certificate, exchange.trace_payload(), exchange.trace)


# -- DMP realm --------------------------------------------------------------------------------


def _product(host: Host, session: dict[str, Any], name: str) -> Any:
    product = ReferenceSut(frozenset())
    work = host.tmp / name
    work.mkdir(exist_ok=True)
    context = session_context(session, work)

    def do(action: str, **params: Any) -> dict[str, Any]:
        return dict(product.perform(action, params, context).data)

    return do


def test_dmp_documents_of_a_tenant_are_never_found_read_or_masked_by_another(host: Host):
    patient = PatientBase.load()["OUVERT"].identity()
    a_session, b_session = host.session(host.a_token, "dmp-a"), host.session(host.b_token, "dmp-b")
    as_a, as_b = _product(host, a_session, "a"), _product(host, b_session, "b")
    fed = as_a("dmp.feed_document", patient=patient, title="Compte rendu du locataire A", masking=[])
    unique_id = fed["unique_id"]
    assert unique_id
    a_found = [d["unique_id"] for d in as_a("dmp.find_documents", patient=patient).get("documents") or []]
    b_found = [d["unique_id"] for d in as_b("dmp.find_documents", patient=patient).get("documents") or []]
    assert unique_id in a_found  # A finds its own document (ITI-18)
    assert not leaked(b_found, [unique_id])
    assert as_a("dmp.read_document", patient=patient, unique_id=unique_id).get("outcome") == "ok"
    assert as_b("dmp.read_document", patient=patient, unique_id=unique_id).get("outcome") != "ok"  # ITI-43
    masked = as_b("dmp.mask_document", patient=patient, unique_id=unique_id, masked=True)  # ITI-57, A's uniqueId
    assert masked.get("outcome") != "done"
    registry = DmpRegistry(database=host.env.storage.database("dmp.sqlite3"))
    versions = registry.entries_by_unique_id(a_session["session"], unique_id)
    assert versions and not versions[-1].masked_from_professionals  # B's update did not reach A's document
    assert not registry.entries_by_unique_id(b_session["session"], unique_id)


# -- MSSanté ----------------------------------------------------------------------------------


def _message(subject: str) -> bytes:
    return (
        f"From: {SENDER}\r\nTo: {RECIPIENT}\r\nSubject: {subject}\r\n"
        f"Date: {email.utils.formatdate()}\r\nMessage-ID: {email.utils.make_msgid()}\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBonjour.\r\n"
    ).encode()


def _mail_address(host: Host, name: str) -> tuple[str, int]:
    found, _, port = host.env.mss.endpoints()[name].rpartition(":")
    return found, int(port)


def _send(host: Host, subject: str, password: str) -> None:
    context = pki.client_ssl_context(host.env.pki, None)
    with smtplib.SMTP_SSL(*_mail_address(host, "smtp"), context=context, timeout=20) as client:
        client.login(SENDER, password)
        client.sendmail(SENDER, [RECIPIENT], _message(subject))


def _imap(host: Host, password: str) -> imaplib.IMAP4_SSL:
    context = pki.client_ssl_context(host.env.pki, None)
    reader = imaplib.IMAP4_SSL(*_mail_address(host, "imap"), ssl_context=context, timeout=20)
    reader.login(RECIPIENT, password)
    return reader


def _subjects(reader: imaplib.IMAP4_SSL) -> list[str]:
    reader.select("INBOX")
    _, found = reader.search(None, "ALL")
    subjects = []
    for number in found[0].split():
        _, data = reader.fetch(number, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        header = next(part[1] for part in data if isinstance(part, tuple))
        subjects.append(header.decode().partition(":")[2].strip())
    return subjects


def test_mail_goes_to_the_tenant_of_the_login_and_imap_shows_each_tenant_its_own(host: Host):
    a_key, b_key = host.session(host.a_token)["session"], host.session(host.b_token)["session"]
    a_subject, b_subject = f"A {time.time_ns()}", f"B {time.time_ns()}"
    _send(host, a_subject, host.a_token)  # the tenant's token as the SMTP AUTH password
    _send(host, b_subject, host.b_token)
    with _imap(host, host.a_token) as reader:
        a_view = _subjects(reader)
    with _imap(host, host.b_token) as reader:
        b_view = _subjects(reader)
    assert a_subject in a_view and b_subject in b_view
    assert not leaked(b_view, [a_subject]) and not leaked(a_view, [b_subject])
    a_copy = host.env.mss.store.messages(tenant_mailbox(RECIPIENT, host.a.id))
    assert any(a_subject.encode() in m.raw for m in a_copy)  # A's message is in the store, in A's copy
    # the SMTP transaction is recorded under the tenant's newest session, exported to it only
    a_mail = [e for e in host.exported(a_key, host.a_token).json()["exchanges"] if e["operation"] == "smtp.data"]
    assert a_mail and host.exported(a_key, host.b_token).status_code == 404
    b_mail = [e["id"] for e in host.exported(b_key, host.b_token).json()["exchanges"]]
    assert not leaked(b_mail, [e["id"] for e in a_mail])
    a_imap = [e for e in host.exported(a_key, host.a_token).json()["exchanges"] if e["operation"] == "imap.login"]
    assert a_imap and all("segur-tenant-" not in json.dumps(e) for e in a_imap)  # recorded, token never shown


def test_imap_list_and_search_of_one_tenant_never_show_anothers_folders_or_messages(host: Host):
    host.session(host.a_token)
    host.session(host.b_token)
    secret = f"Secret-B-{time.time_ns()}"
    with _imap(host, host.b_token) as reader:
        assert reader.create(secret)[0] == "OK"
        _, b_list = reader.list()
    with _imap(host, host.a_token) as reader:
        _, a_list = reader.list()
        reader.select("INBOX")
        status, _ = reader.select(secret)
    assert any(secret.encode() in line for line in b_list)  # B sees its folder
    assert not any(secret.encode() in line for line in a_list)
    assert status == "NO"  # and A cannot open it by its name


def test_a_psc_token_issued_under_a_tenants_session_sends_into_that_session(host: Host):
    session = host.session(host.a_token, "psc-mail")
    keyring = host.env.apps["psc"].state.provider.keyring
    now = int(time.time())
    token = keyring.sign(
        {"preferred_username": "899900000011", "iss": session["psc"]["issuer"], "iat": now, "exp": now + 300}
    )
    subject = f"A by PSC {time.time_ns()}"
    context = pki.client_ssl_context(host.env.pki, None)
    with smtplib.SMTP_SSL(*_mail_address(host, "smtp"), context=context, timeout=20) as client:
        client.ehlo()
        blob = base64.b64encode(f"user={SENDER}\x01auth=Bearer {token}\x01\x01".encode()).decode()
        assert client.docmd("AUTH", f"XOAUTH2 {blob}")[0] == 235
        client.sendmail(SENDER, [RECIPIENT], _message(subject))
    exported = host.exported(session["session"], host.a_token).json()["exchanges"]
    assert any(e["operation"] == "smtp.data" for e in exported)
    with _imap(host, host.a_token) as reader:
        assert subject in _subjects(reader)
    with _imap(host, host.b_token) as reader:
        assert subject not in _subjects(reader)


def test_without_a_tenant_mail_stays_in_the_operators_mailboxes(host: Host):
    subject = f"operator {time.time_ns()}"
    _send(host, subject, "segur-test")  # the mailbox's own password: no tenant involved
    with _imap(host, "segur-test") as reader:
        assert subject in _subjects(reader)
    host.session(host.a_token)  # a tenant's token logs in once the tenant has a session, whatever ran before
    with _imap(host, host.a_token) as reader:
        assert subject not in _subjects(reader)


# -- operator console -------------------------------------------------------------------------


def _console(host: Host, method: str, path: str, token: str | None, **kw: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if method != "GET":
        headers["X-Segur-Console"] = "1"
    assert host.env.console is not None
    with httpx.Client(base_url=host.env.console.url.rstrip("/"), timeout=20) as client:
        return client.request(method, path, headers=headers, **kw)


def test_the_console_shows_and_changes_a_tenants_own_sessions_only(host: Host):
    a_key, b_key = host.session(host.a_token)["session"], host.session(host.b_token)["session"]
    _touch(host, "insi", a_key)
    _touch(host, "insi", b_key)
    b_ids = [e.id for e in host.env.store.exchanges(session_key=b_key)]
    a_rows = _console(host, "GET", "/api/exchanges?limit=500", host.a_token).json()["exchanges"]
    operator_rows = _console(host, "GET", "/api/exchanges?limit=500", None).json()["exchanges"]
    assert a_key in {r["session_key"] for r in a_rows}
    assert not leaked([r["id"] for r in a_rows], b_ids)
    assert leaked([r["id"] for r in operator_rows], b_ids)  # the operator sees B's: the check can fail
    assert _console(host, "GET", f"/api/exchanges/{b_ids[0]}", host.a_token).status_code == 404
    assert _console(host, "GET", f"/api/exchanges/{b_ids[0]}/request", host.a_token).status_code == 404
    assert _console(host, "GET", f"/api/exchanges?session={b_key}", host.a_token).status_code == 404
    assert _console(host, "GET", f"/api/sessions/{b_key}/evidence", host.a_token).status_code == 404
    change = {"json": {"fault": "unavailable"}}
    assert _console(host, "PUT", f"/api/scenarios/{b_key}", host.a_token, **change).status_code == 404
    assert _console(host, "DELETE", f"/api/scenarios/{b_key}", host.a_token).status_code == 404
    assert host.env.scenarios.get(b_key).fault is None
    assert _console(host, "PUT", f"/api/scenarios/{a_key}", host.a_token, **change).status_code == 200
    listed = [s["session_key"] for s in _console(host, "GET", "/api/scenarios", host.a_token).json()["sessions"]]
    assert a_key in listed and not leaked(listed, host.env.tenants.sessions(host.b.id))
    assert _console(host, "GET", "/api/exchanges", "segur-tenant-forged").status_code == 401


# -- judge, and the tenant commands -----------------------------------------------------------


def test_judge_refuses_another_tenants_session_as_unknown(host: Host):
    store = host.env.storage.url  # None: the serve's SQLite folder; else its PostgreSQL database
    a_key, b_key = host.session(host.a_token)["session"], host.session(host.b_token)["session"]
    _touch(host, "dmp", a_key)
    check_tenant_session(host.env.data_dir, a_key, host.a_token, store)
    with pytest.raises(UsageError, match="no session"):
        check_tenant_session(host.env.data_dir, b_key, host.a_token, store)
    with pytest.raises(UsageError, match="unknown or revoked"):
        check_tenant_session(host.env.data_dir, a_key, "segur-tenant-forged", store)


def test_segur_tenant_create_list_delete(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    data = tmp_path / "serve"
    data.mkdir()
    endpoints = tmp_path / "endpoints.json"
    endpoints.write_text(json.dumps({"dmp": {"url": "https://127.0.0.1:8443/si-dmp-server/v2/services"}}))
    assert main(["tenant", "create", "acme", "--data-dir", str(data), "--endpoints-file", str(endpoints)]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["token"].startswith("segur-tenant-")
    assert created["endpoints"]["sessions"] == "https://127.0.0.1:8443/_segur/sessions"
    assert main(["tenant", "create", "acme", "--data-dir", str(data)]) == 2
    assert "exists already" in capsys.readouterr().err
    assert main(["tenant", "list", "--data-dir", str(data)]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [t["name"] for t in listed] == ["acme"] and "token" not in listed[0]
    assert main(["tenant", "delete", "acme", "--data-dir", str(data)]) == 0
    assert main(["tenant", "delete", "acme", "--data-dir", str(data)]) == 2
    monkeypatch.delenv("SEGUR_STORE", raising=False)  # the PostgreSQL pass names its store there
    assert main(["tenant", "list"]) == 2  # neither --data-dir nor --store: said so, not guessed


def test_a_revoked_tenants_sessions_stay_hidden_from_a_new_tenant_of_the_same_name(tmp_path: Path):
    from harness.core.storage import SqliteDatabase

    with SqliteDatabase(tmp_path / "tenants.sqlite3") as database:
        registry = TenantRegistry(database)
        old, old_token = registry.create("acme")
        registry.bind_session("k-old", old)
        registry.delete("acme")
        new, _ = registry.create("acme")
        assert registry.authenticate(old_token) is None
        assert not registry.visible("k-old", new)
        assert registry.visible("k-old", None)  # the operator still sees it


def test_tenant_registry_on_postgresql(pg_url: str):
    from harness.core.storage import open_postgresql

    with open_postgresql(pg_url) as database:
        registry = TenantRegistry(database)
        tenant, token = registry.create("ci-pipeline")
        registry.bind_session("k1", tenant)
        assert registry.authenticate(token) == tenant
        assert registry.newest_session(tenant.id) == "k1"
        with pytest.raises(UsageError, match="exists already"):
            registry.create("ci-pipeline")


def test_a_tenant_created_by_the_command_counts_at_once_on_the_running_host(host: Host, capsys):
    store = ["--store", host.env.storage.url] if host.env.storage.url else ["--data-dir", str(host.env.data_dir)]
    name = f"late-{time.time_ns()}"
    assert main(["tenant", "create", name, *store]) == 0
    token = json.loads(capsys.readouterr().out)["token"]
    endpoints = host.tmp / f"{name}.json"
    endpoints.write_text(json.dumps(host.env.endpoints_document()), encoding="utf-8")
    assert main(["session", "new", "--endpoints-file", str(endpoints), "--tenant", token]) == 0
    key = json.loads(capsys.readouterr().out.split("\nsegur session new:")[0])["session"]
    assert host.env.tenants.owner(key) == next(t.id for t in host.env.tenants.tenants() if t.name == name)
    assert host.exported(key, host.a_token).status_code == 404


@pytest.mark.parametrize("command", [["tenant"], ["tenant", "create"], ["tenant", "list"], ["tenant", "delete"]])
def test_every_tenant_command_has_help(command: list[str], capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])
    assert exited.value.code == 0 and "usage:" in capsys.readouterr().out


def _scope(path: str, bearer: str | None, client: str = "192.0.2.7") -> dict[str, Any]:
    headers = [(b"authorization", f"Bearer {bearer}".encode())] if bearer else []
    return {"type": "http", "path": path, "headers": headers, "client": (client, 40000)}


def test_with_a_control_token_the_operator_sees_all_and_a_tenant_its_own(tmp_path: Path):
    from harness.core.storage import SqliteDatabase
    from mock_services.common import ControlGuard

    with SqliteDatabase(tmp_path / "tenants.sqlite3") as database:
        registry = TenantRegistry(database)
        a, a_token = registry.create("a")
        _, b_token = registry.create("b")
        registry.bind_session("key-a", a)

        async def mock(scope: Any, receive: Any, send: Any) -> None:
            raise AssertionError("only the guard's decision is looked at")

        guard = ControlGuard(mock, "operator-token", registry)

        def status(path: str, bearer: str | None) -> int | None:
            refusal = guard._refusal(_scope(path, bearer))
            return refusal[0] if refusal else None

        assert status("/_segur/scenario/key-a", "operator-token") is None
        assert status("/_segur/scenario/key-a", a_token) is None
        assert status("/_segur/sessions/key-a/exchanges", a_token) is None
        assert status("/_segur/scenario/key-a", b_token) == 404
        assert status("/_segur/keys/rotate", a_token) == 403
        assert status("/_segur/credentials", a_token) is None  # the shared test PKI a remote run needs
        assert status("/_segur/scenario/key-a", None) == 401
        assert status("/lps", b_token) is None  # the services themselves are not control endpoints
        registry.delete("a")
        assert status("/_segur/scenario/key-a", a_token) == 401  # a revoked token
