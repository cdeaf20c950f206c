"""JSON bodies within limits (harness.protocols.jsonbody) on the mocks' scenario endpoint and the console."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from harness.core.errors import BadInput
from harness.core.recorder import ExchangeStore
from harness.protocols import jsonbody
from harness.run.console import ConsoleApp, ManualDesk
from mock_services.common import Scenario, ScenarioStore, scenario_endpoint

DEEP = b"[" * 100_000 + b"]" * 100_000
HUGE = b'{"options": {"x": "' + b"a" * (2 * 1024 * 1024) + b'"}}'


def test_depth_and_size_are_bad_input_never_a_recursion_error():
    assert jsonbody.nesting_depth(b'{"a": [1, {"b": "[[[["}]}') == 3
    with pytest.raises(jsonbody.BadJson, match="deeper than 32") as deep:
        jsonbody.parse_json(DEEP)
    assert deep.value.status == 400 and isinstance(deep.value, BadInput)
    with pytest.raises(jsonbody.JsonTooLarge) as huge:
        jsonbody.parse_json(HUGE)
    assert huge.value.status == 413
    with pytest.raises(jsonbody.BadJson):
        jsonbody.parse_json(b"\xff not json")
    assert jsonbody.nesting_depth(b"[" * 32 + b"]" * 32) == 32
    jsonbody.parse_json(b"[" * 32 + b"]" * 32)  # 32 levels are allowed


def put(app, path: str, content: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    async def send() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000") as c:
            return await c.put(path, content=content, headers=headers or {"Content-Type": "application/json"})

    return asyncio.run(send())


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (DEEP, 400),
        (HUGE, 413),
        (b'{"latency_ms": []}', 400),
        (b'{"fault": ["technical"]}', 400),
        (b'{"options": [1, 2]}', 400),
        (b'{"latency_ms": 10}', 200),
    ],
)
def test_the_scenario_endpoint_answers_400_or_413_never_500(body, status):
    scenarios = ScenarioStore()
    app = Starlette(routes=[Route("/_segur/scenario/{session_key}", scenario_endpoint(scenarios), methods=["PUT"])])
    answer = put(app, "/_segur/scenario/k", body)
    assert answer.status_code == status, answer.text
    assert scenarios.get("k") == (Scenario(latency_ms=10) if status == 200 else Scenario())


@pytest.mark.parametrize(("body", "status"), [(DEEP, 400), (HUGE, 413)])
def test_the_console_answers_400_or_413_never_500(body, status, tmp_path):
    exchanges = ExchangeStore(tmp_path / "exchanges.sqlite3", synchronous="OFF")
    console = ConsoleApp(exchanges, ScenarioStore(), ManualDesk())
    headers = {"X-Segur-Console": "1", "Content-Type": "application/json"}
    assert put(console.asgi, "/api/scenarios/k1", body, headers).status_code == status
    exchanges.close()
