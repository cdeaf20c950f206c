"""The /_segur/ control endpoints: loopback clients only, or a Bearer control token (mock_services.common)."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import httpx
import pytest

from harness.core.recorder import ExchangeStore
from harness.run.environment import HarnessEnvironment
from mock_services.common import ControlGuard, Scenario, ScenarioStore, control_refusal
from mock_services.insi import create_app as insi_app
from mock_services.psc import create_app as psc_app

SCENARIO = "/_segur/scenario/k1"


def scope(path: str, client: str | None, authorization: bytes | None = None) -> dict:
    headers = [(b"authorization", authorization)] if authorization is not None else []
    return {"type": "http", "path": path, "client": (client, 40000) if client else None, "headers": headers}


@pytest.mark.parametrize("client", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_loopback_clients_reach_the_control_endpoints_without_a_token(client):
    assert control_refusal(scope(SCENARIO, client), None) is None


@pytest.mark.parametrize("client", ["192.0.2.7", "10.0.0.1", "::ffff:192.0.2.7", "fd00::5", "testclient", None])
def test_other_clients_are_refused_403(client):
    refusal = control_refusal(scope(SCENARIO, client), None)
    assert refusal is not None and refusal[0] == 403
    assert control_refusal(scope("/_segur/keys/rotate", client), None) is not None
    assert control_refusal(scope("/_SEGUR/scenario/k1", client), None) is not None  # whatever the case
    assert control_refusal(scope("/_segur/health", client), None) is None  # readiness probes stay open
    assert control_refusal(scope("/lps", client), None) is None  # the service itself is not a control endpoint


@pytest.mark.parametrize("client", ["127.0.0.1", "192.0.2.7"])
def test_with_a_token_everyone_needs_it(client):
    token = "s3cret-token"
    for authorization in (None, b"Bearer wrong", b"Basic czNjcmV0LXRva2Vu", b"Bearer", "Bearer é".encode()):
        refusal = control_refusal(scope(SCENARIO, client, authorization), token)
        assert refusal is not None and refusal[0] == 401, authorization
    assert control_refusal(scope(SCENARIO, client, b"Bearer s3cret-token"), token) is None
    assert control_refusal(scope(SCENARIO, client, b"bearer  s3cret-token"), token) is None


def request(app, method: str, path: str, client: str, **kwargs) -> httpx.Response:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(client, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="https://mock.example") as http:
            return await http.request(method, path, **kwargs)

    return asyncio.run(send())


def test_a_remote_client_can_neither_set_scenarios_nor_rotate_psc_keys(tmp_path: Path):
    store = ExchangeStore(tmp_path / "exchanges.sqlite3", synchronous="OFF")
    scenarios = ScenarioStore()
    insi, psc = ControlGuard(insi_app(store, scenarios)), ControlGuard(psc_app(store, scenarios))
    try:
        refused = request(insi, "PUT", SCENARIO, "192.0.2.7", json={"fault": "technical"})
        assert refused.status_code == 403 and "loopback" in refused.json()["error"]
        assert scenarios.get("k1") == Scenario()
        assert request(psc, "POST", "/_segur/keys/rotate", "192.0.2.7").status_code == 403
        assert request(insi, "GET", "/_segur/health", "192.0.2.7").status_code == 200
        assert request(insi, "PUT", SCENARIO, "127.0.0.1", json={"fault": "technical"}).status_code == 200
        assert scenarios.get("k1").fault == "technical"
        guarded = ControlGuard(insi_app(store, scenarios), "tok")
        missing = request(guarded, "PUT", SCENARIO, "192.0.2.7", json={})
        assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
        bearer = {"Authorization": "Bearer tok"}
        assert request(guarded, "PUT", SCENARIO, "192.0.2.7", json={}, headers=bearer).status_code == 200
    finally:
        store.close()


def test_the_served_mocks_are_guarded_and_take_the_token_from_the_environment(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("SEGUR_CONTROL_TOKEN", "from-env")
    with HarnessEnvironment(tmp_path / "data") as env:
        base = env.endpoint("insi").rsplit("/lps", 1)[0]
        verify = ssl.create_default_context(cafile=str(env.pki.ca_bundle))
        with httpx.Client(verify=verify, timeout=10) as http:
            assert http.put(base + SCENARIO, json={"fault": "technical"}).status_code == 401
            ok = http.put(base + SCENARIO, json={"fault": "technical"}, headers={"Authorization": "Bearer from-env"})
            assert ok.status_code == 200
    monkeypatch.delenv("SEGUR_CONTROL_TOKEN")
    with HarnessEnvironment(tmp_path / "data2") as env:
        base = env.endpoint("insi").rsplit("/lps", 1)[0]
        verify = ssl.create_default_context(cafile=str(env.pki.ca_bundle))
        with httpx.Client(verify=verify, timeout=10) as http:  # a loopback client, as uvicorn reports it
            assert http.put(base + SCENARIO, json={"fault": "technical"}).status_code == 200


def test_a_wildcard_bind_names_loopback_or_the_public_host_in_the_endpoints(tmp_path: Path):
    with HarnessEnvironment(tmp_path / "data", host="0.0.0.0") as env:  # nothing is started: no wildcard bind
        assert env.public_host == "127.0.0.1"
    with HarnessEnvironment(tmp_path / "data", host="::") as env:
        assert env.public_host == "127.0.0.1"
    with HarnessEnvironment(tmp_path / "data", public_host="mocks.example") as env:
        env.start("insi")
        document = env.endpoints_document()
        assert document["insi"]["url"].startswith("https://mocks.example:")
        env.start_mss()
        assert all(a.startswith("mocks.example:") for a in env.endpoints_document()["mss"].values())
