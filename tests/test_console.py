"""The operator console: exchanges, raw bodies, scenarios, and the defences of a local page."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.cli import main
from harness.core.recorder import Exchange, ExchangeStore
from harness.run.console import ConsoleApp, ManualDesk, start_console
from harness.run.console.exchanges import HEX_SHOWN, TEXT_SHOWN
from harness.run.console.switches import FAULT_EFFECTS, HISTORY_DATES_EFFECTS, TOKEN_DEFECT_EFFECTS
from harness.run.environment import HarnessEnvironment
from mock_services.common import FAULTS, Scenario, ScenarioStore
from mock_services.insi.messages import HISTORY_DATES
from mock_services.psc.tokens import TOKEN_DEFECTS

BASE = "http://127.0.0.1:8000"
CHANGE = {"X-Segur-Console": "1", "Content-Type": "application/json"}
HOSTILE = '"><img src=x onerror=alert(1)><script>alert(2)</script>'


@pytest.fixture
def store(tmp_path: Path):
    exchanges = ExchangeStore(tmp_path / "exchanges.sqlite3", synchronous="OFF")
    yield exchanges
    exchanges.close()


@pytest.fixture
def scenarios() -> ScenarioStore:
    return ScenarioStore()


@pytest.fixture
def app(store: ExchangeStore, scenarios: ScenarioStore) -> ConsoleApp:
    return ConsoleApp(store, scenarios, ManualDesk())


def call(app: ConsoleApp, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app.asgi)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(send())


def record(store: ExchangeStore, service: str, session: str, operation: str = "op", **fields: Any) -> Exchange:
    now = time.time()
    fields.setdefault("request_body", b"<request/>")
    fields.setdefault("response_body", b"<response/>")
    return store.record(
        Exchange(
            service, session, operation, fields.pop("outcome", "ok"), started_at=now, finished_at=now + 0.01, **fields
        )
    )


def test_exchanges_are_listed_newest_first_and_filtered(app, store):
    first = record(store, "insi", "s1", "rechercherInsAvecTraitsIdentite")
    record(store, "dmp", "s1", "TD0.2")
    record(store, "insi", "s2", "rechercherInsAvecCarteVitale")
    listing = call(app, "GET", "/api/exchanges").json()
    assert [x["operation"] for x in listing["exchanges"]] == [
        "rechercherInsAvecCarteVitale",
        "TD0.2",
        "rechercherInsAvecTraitsIdentite",
    ]
    assert listing["last_seq"] == 3 and not listing["truncated"]
    assert listing["exchanges"][-1] | {"duration": 0} == {
        "id": first.id,
        "seq": 1,
        "service": "insi",
        "session_key": "s1",
        "operation": "rechercherInsAvecTraitsIdentite",
        "outcome": "ok",
        "http_status": None,
        "client_subject": None,
        "started_at": first.started_at,
        "duration": 0,
        "request_size": len(b"<request/>"),
        "response_size": len(b"<response/>"),
    }
    by_service = call(app, "GET", "/api/exchanges", params={"service": "insi"}).json()["exchanges"]
    assert [x["session_key"] for x in by_service] == ["s2", "s1"]
    by_session = call(app, "GET", "/api/exchanges", params={"session": "s1", "service": "dmp"}).json()["exchanges"]
    assert [x["operation"] for x in by_session] == ["TD0.2"]
    assert call(app, "GET", "/api/exchanges", params={"after": 3}).json() == {
        "exchanges": [],
        "last_seq": 3,
        "truncated": False,
    }
    newest = call(app, "GET", "/api/exchanges", params={"after": 1, "limit": 1}).json()
    assert [x["seq"] for x in newest["exchanges"]] == [3] and newest["truncated"]
    assert call(app, "GET", "/api/exchanges", params={"after": "x"}).status_code == 400


def test_an_exchange_shows_its_parsed_form_text_and_hex(app, store):
    exchange = record(
        store,
        "insi",
        "s1",
        http_status=500,
        client_subject="CN=INSI-AUTO,O=Test",
        outcome="fault",
        request_meta={"headers": {"content-type": "application/soap+xml"}},
        response_meta={"status": 500},
        summary={"fault": {"erreur_code": "insi_102"}},
        request_body="<nom>Hélène</nom>".encode(),
        response_body=bytes(range(256)) + b"\xff\xfe",
    )
    detail = call(app, "GET", f"/api/exchanges/{exchange.id}").json()
    assert detail["operation"] == "op" and detail["outcome"] == "fault" and detail["http_status"] == 500
    assert detail["client_subject"] == "CN=INSI-AUTO,O=Test" and detail["trace"] == ""
    assert detail["request_meta"] == {"headers": {"content-type": "application/soap+xml"}}
    assert detail["response_meta"] == {"status": 500} and detail["summary"] == {"fault": {"erreur_code": "insi_102"}}
    assert detail["request"] == {"encoding": "text", "size": 19, "shown": 19, "content": "<nom>Hélène</nom>"}
    assert detail["response"]["encoding"] == "hex" and detail["response"]["shown"] == 258
    lines = detail["response"]["content"].splitlines()
    assert lines[0] == "00000000  00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f  |................|"
    assert lines[4] == "00000040  40 41 42 43 44 45 46 47 48 49 4a 4b 4c 4d 4e 4f  |@ABCDEFGHIJKLMNO|"
    assert lines[-1].startswith("00000100  ff fe ")
    assert call(app, "GET", "/api/exchanges/unknown").status_code == 404


def test_big_bodies_are_shown_capped_with_their_size(app, store):
    # "é" straddles the cap: it is left out, never turned into a hex dump of the whole body
    text = b"a" * (TEXT_SHOWN - 1) + "é".encode() + b"b" * 1000
    exchange = record(store, "dmp", "s1", request_body=text, response_body=b"\x00" * (HEX_SHOWN * 2))
    detail = call(app, "GET", f"/api/exchanges/{exchange.id}").json()
    assert detail["request"]["encoding"] == "text"
    assert detail["request"]["size"] == len(text) and detail["request"]["shown"] == TEXT_SHOWN - 1
    assert detail["request"]["content"] == "a" * (TEXT_SHOWN - 1)
    assert detail["response"]["encoding"] == "hex"
    assert detail["response"]["shown"] == HEX_SHOWN and detail["response"]["size"] == HEX_SHOWN * 2
    assert len(detail["response"]["content"].splitlines()) == HEX_SHOWN // 16


def test_raw_bodies_are_downloads_never_rendered(app, store):
    exchange = record(store, "insi", "s1", request_body=b"<html><script>alert(1)</script>", response_body=b"\x00\x01")
    raw = call(app, "GET", f"/api/exchanges/{exchange.id}/request")
    assert raw.content == b"<html><script>alert(1)</script>"
    assert raw.headers["content-type"] == "application/octet-stream"
    assert raw.headers["content-disposition"] == f'attachment; filename="{exchange.id}-request.bin"'
    assert raw.headers["x-content-type-options"] == "nosniff"
    assert call(app, "GET", f"/api/exchanges/{exchange.id}/response").content == b"\x00\x01"
    assert call(app, "GET", f"/api/exchanges/{exchange.id}/other").status_code == 404
    assert call(app, "GET", "/api/exchanges/unknown/request").status_code == 404


def test_the_switches_are_those_the_mocks_read(app):
    catalog = call(app, "GET", "/api/scenarios").json()
    services = {name: service["switches"] for name, service in catalog["services"].items()}
    assert services == {
        "insi": ["latency_ms", "fault", "options.history_dates"],
        "psc": ["options.id_token_defect", "options.ciba_decision", "options.acr"],
        "dmp": ["latency_ms", "fault"],
        "mss": [],
    }
    choices = {switch["name"]: switch["choices"] for switch in catalog["switches"]}
    assert set(choices["fault"]) == {"", *FAULTS}
    assert set(choices["options.history_dates"]) == {"", *HISTORY_DATES}
    assert set(choices["options.id_token_defect"]) == {"", *TOKEN_DEFECTS}
    # every value a mock knows is described in French, so a new one cannot go unexplained
    assert FAULTS.issubset(FAULT_EFFECTS) and set(HISTORY_DATES).issubset(HISTORY_DATES_EFFECTS)
    assert set(TOKEN_DEFECTS).issubset(TOKEN_DEFECT_EFFECTS)
    assert catalog["sessions"] == [{"session_key": "default", "scenario": _plain(), "active": False}]


def _plain(**changes: Any) -> dict[str, Any]:
    return {"latency_ms": 0, "fault": None, "options": {}} | changes


def test_scenarios_are_set_and_cleared_in_the_scenario_store(app, store, scenarios):
    record(store, "psc", "s-psc")
    body = {"latency_ms": 250, "fault": "technical", "options": {"id_token_defect": "expired", "history_dates": ""}}
    answer = call(app, "PUT", "/api/scenarios/k1", json=body, headers=CHANGE)
    assert answer.status_code == 200, answer.text
    assert scenarios.get("k1") == Scenario(latency_ms=250, fault="technical", options={"id_token_defect": "expired"})
    sessions = {s["session_key"]: s for s in call(app, "GET", "/api/scenarios").json()["sessions"]}
    assert list(sessions) == ["default", "k1", "s-psc"]
    assert sessions["k1"]["active"] and not sessions["s-psc"]["active"]
    assert sessions["k1"]["scenario"] == _plain(
        latency_ms=250, fault="technical", options={"id_token_defect": "expired"}
    )
    refused = [
        {"fault": "crash"},
        {"latency_ms": 60_001},
        {"latency_ms": None},
        {"options": {"unknown": "x"}},
        {"options": {"ciba_decision": "maybe"}},
        {"surprise": 1},
        ["not", "an", "object"],
    ]
    for bad in refused:
        answer = call(app, "PUT", "/api/scenarios/k1", json=bad, headers=CHANGE)
        assert answer.status_code == 400 and answer.json()["error"], bad
    assert scenarios.get("k1").latency_ms == 250
    assert call(app, "DELETE", "/api/scenarios/k1", headers=CHANGE).json() == {
        "session_key": "k1",
        "scenario": _plain(),
    }
    assert scenarios.get("k1") == Scenario()


def test_changes_need_the_console_header_a_loopback_host_and_the_same_origin(app, scenarios):
    body = json.dumps({"fault": "unavailable"})
    plain = {"Content-Type": "application/json"}
    refused = [
        plain,  # what a cross-site form or fetch without preflight can send
        CHANGE | {"Origin": "http://evil.example"},
        CHANGE | {"Origin": "http://127.0.0.1:9999"},
        CHANGE | {"Origin": "null"},
        CHANGE | {"Sec-Fetch-Site": "cross-site"},
        CHANGE | {"Host": "evil.example:8000"},  # DNS rebinding
    ]
    for headers in refused:
        answer = call(app, "PUT", "/api/scenarios/k1", content=body, headers=headers)
        assert answer.status_code == 403, headers
        assert answer.headers["x-frame-options"] == "DENY"
    assert call(app, "DELETE", "/api/scenarios/k1").status_code == 403
    assert call(app, "POST", "/api/manual/answer", json={}).status_code == 403
    assert scenarios.get("k1") == Scenario()
    assert call(app, "GET", "/api/exchanges", headers={"Host": "attacker.example"}).status_code == 403
    not_json = call(app, "PUT", "/api/scenarios/k1", content=body, headers=CHANGE | {"Content-Type": "text/plain"})
    assert not_json.status_code == 415
    same_origin = CHANGE | {"Origin": BASE, "Sec-Fetch-Site": "same-origin"}
    assert call(app, "PUT", "/api/scenarios/k1", content=body, headers=same_origin).status_code == 200
    assert scenarios.get("k1").fault == "unavailable"
    for host in ("localhost:8000", "[::1]:8000"):
        assert call(app, "DELETE", "/api/scenarios/k1", headers=CHANGE | {"Host": host}).status_code == 200


def test_hostile_recorded_content_is_never_markup(app, store):
    exchange = record(store, "insi", HOSTILE, HOSTILE, request_body=HOSTILE.encode(), summary={"x": HOSTILE})
    page = call(app, "GET", "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert HOSTILE not in page.text and "onerror" not in page.text
    policy = page.headers["content-security-policy"]
    nonce = policy.split("'nonce-")[1].split("'")[0]
    assert f'<script nonce="{nonce}">' in page.text and "default-src 'none'" in policy
    assert "innerHTML" not in page.text and "insertAdjacentHTML" not in page.text
    for path in ("/api/exchanges", f"/api/exchanges/{exchange.id}", "/api/scenarios"):
        answer = call(app, "GET", path)
        assert b"<" not in answer.content and b">" not in answer.content, path
        assert answer.headers["x-content-type-options"] == "nosniff"
    listing = call(app, "GET", "/api/exchanges").json()["exchanges"][0]
    assert listing["operation"] == HOSTILE and listing["session_key"] == HOSTILE
    assert call(app, "GET", f"/api/exchanges/{exchange.id}").json()["request"]["content"] == HOSTILE


@pytest.mark.sqlite_only("an in-memory SQLite store cannot be read by the console's own connection")
def test_an_in_memory_store_is_refused_with_the_reason(scenarios):
    with pytest.raises(ValueError, match="in-memory"):
        ConsoleApp(ExchangeStore(), scenarios, ManualDesk())


@pytest.mark.slow
def test_the_environment_serves_the_console_on_loopback_and_names_it(tmp_path: Path):
    with HarnessEnvironment(tmp_path) as env:
        env.start("insi")
        before = env.endpoints_document()
        console = env.start_console()
        assert env.start_console() is console
        assert console.url.startswith("http://127.0.0.1:") and console.url.endswith("/")
        document = env.endpoints_document()
        assert document == before | {"console": {"url": console.url}}
        assert list(document)[:-1] == list(before)
        with httpx.Client(base_url=console.url, timeout=5) as http:
            assert "Console Ségur" in http.get("").text
            record(env.store, "insi", "live")
            assert [x["session_key"] for x in http.get("api/exchanges").json()["exchanges"]] == ["live"]
            answer = http.put("api/scenarios/live", json={"latency_ms": 10}, headers=CHANGE)
            assert answer.status_code == 200
            assert env.scenarios.get("live").latency_ms == 10
    with pytest.raises(httpx.TransportError):
        httpx.get(console.url, timeout=1)


@pytest.mark.slow
def test_a_console_started_alone_stops_by_itself(store, scenarios):
    with start_console(store, scenarios) as console:
        assert httpx.get(console.url + "api/manual/step", timeout=5).json() == {"step": None}
    with pytest.raises(httpx.TransportError):
        httpx.get(console.url, timeout=1)


def test_segur_serve_help_shows_the_console_switch(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["serve", "--help"])
    assert stopped.value.code == 0
    out = capsys.readouterr().out
    assert "--console, --no-console" in out and "127.0.0.1" in out


def test_the_evidence_a_session_has_gathered_for_segur_judge_shows_live(app, store):
    def evidence(key: str) -> dict[str, dict]:
        answer = call(app, "GET", f"/api/sessions/{key}/evidence")
        assert answer.status_code == 200
        return {row["requirement"]: row for row in answer.json()["requirements"]}

    assert evidence("s1")["MSS-01"]["missing_fr"] == ["un message accepté par l'opérateur MSSanté"]
    record(store, "mss", "s1", "smtp.data", request_meta={"rcpt_tos": ["claire@harnais.mssante.fr"]})
    record(store, "dmp", "s1", "TD0.2")
    now = evidence("s1")
    assert now["MSS-01"]["gathered"] and not now["MSS-05"]["gathered"]
    assert now["DMP-01"]["missing_en"] == ["a TD2.1 submission"], "the TD0.2 is there, the feed is not"
    assert not evidence("s2")["MSS-01"]["gathered"], "another session's traffic is not this one's evidence"
    assert "Preuves recueillies pour segur judge" in call(app, "GET", "/").text
