"""The ``http`` SUT adapter against a stub hook on loopback: the contract, every kind of bad answer, the TOML."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harness.run.replay import InteractionLog
from harness.run.sut import SutConfigError, SutContext, SutFailure, load_sut
from harness.run.sut.base import ActionNotSupported
from harness.run.sut.http import HttpSut, HttpSutSettings
from tests.conftest import sut_context

Answer = Callable[[dict], tuple[int, bytes]]


@pytest.fixture
def context(tmp_path: Path) -> SutContext:
    return sut_context(tmp_path, "k1")


class StubHook:
    """A hook on 127.0.0.1:0 answering with ``answer(request)``; keeps what it received."""

    def __init__(self, answer: Answer):
        self.answer = answer
        self.received: list[tuple[dict[str, str], dict]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.received.append((dict(self.headers), body))
                status, payload = stub.answer(body)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except BrokenPipeError:
                    pass  # the client gave up waiting: the time-out test's point

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/segur"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> StubHook:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Callable[[Answer], StubHook]]:
    started: list[StubHook] = []

    def start(answer: Answer) -> StubHook:
        stub = StubHook(answer).__enter__()
        started.append(stub)
        return stub

    yield start
    for stub in started:
        stub.__exit__()


def json_answer(value: object, status: int = 200) -> Answer:
    return lambda request: (status, json.dumps(value).encode())


def test_each_action_is_a_post_of_action_params_endpoints_and_the_answer_is_the_command_json(hook, context):
    stub = hook(json_answer({"outcome": "not_found", "identity": None, "message": "rien"}))
    sut = HttpSut(HttpSutSettings(url=stub.url, token="s3cret"))
    result = sut.perform("insi.search_by_traits", {"nom_naissance": "ÉLODIE", "prenoms": ["A", "B"]}, context)
    headers, body = stub.received[0]
    assert body["action"] == "insi.search_by_traits"
    assert body["params"] == {"nom_naissance": "ÉLODIE", "prenoms": ["A", "B"]}
    assert body["endpoints"] == {"insi": "https://127.0.0.1:1/s/k1/lps"}
    assert body["session_key"] == "k1"
    assert body["credentials"]["client_cert"] == str(context.client_cert)
    assert headers["Authorization"] == "Bearer s3cret"
    assert result.outcome == "not_found" and result.exit_status == 200
    assert json.loads(result.stdout)["message"] == "rien"  # the raw answer, kept as evidence
    assert sut.describe()["kind"] == "http"


def test_the_raw_answer_goes_into_the_evidence_pack(hook, context, tmp_path):
    stub = hook(json_answer({"outcome": "not_found", "identity": None}))
    result = HttpSut(HttpSutSettings(url=stub.url)).perform("insi.search_by_traits", {}, context)
    log = InteractionLog(tmp_path / "pack")
    log.action(result)
    blob = log.entries[0]["raw_answer"]
    assert blob and any(p.read_bytes() == result.stdout.encode() for p in (tmp_path / "pack").rglob(f"*{blob}*"))


def test_501_means_the_hook_does_not_do_the_action(hook, context):
    stub = hook(json_answer({"error": "no"}, status=501))
    with pytest.raises(ActionNotSupported, match="501"):
        HttpSut(HttpSutSettings(url=stub.url)).perform("dmp.feed_document", {}, context)


def test_an_action_outside_the_listed_ones_is_not_sent(hook, context):
    stub = hook(json_answer({"outcome": "exported", "identifiers": []}))
    sut = HttpSut(HttpSutSettings(url=stub.url, actions=frozenset({"identity.export"})))
    with pytest.raises(ActionNotSupported):
        sut.perform("insi.search_by_traits", {}, context)
    assert stub.received == []
    assert sut.perform("identity.export", {}, context).outcome == "exported"


@pytest.mark.parametrize(
    ("status", "payload", "pattern"),
    [
        (200, b"<html>oops</html>", r"is not JSON we can read \(.*\): <html>oops</html>"),
        (200, b"[" * 100_000 + b"]" * 100_000, r"nests deeper than 64 levels"),
        (200, b'["found"]', r"must be a JSON object"),
        (200, b'{"outcome": "peut-etre"}', r"has outcome 'peut-etre'"),
        (500, b'{"error": "NullPointerException"}', re.escape('HTTP 500: {"error": "NullPointerException"}')),
    ],
)
def test_bad_answers_are_product_failures_keeping_the_raw_answer(hook, context, status, payload, pattern):
    stub = hook(lambda request: (status, payload))
    with pytest.raises(SutFailure, match=pattern) as caught:
        HttpSut(HttpSutSettings(url=stub.url)).perform("insi.search_by_traits", {}, context)
    assert caught.value.raw == payload
    assert caught.value.fr != str(caught.value)  # French wording for the French report


def test_failure_log_entry_keeps_the_raw_answer(tmp_path):
    log = InteractionLog(tmp_path / "pack")
    log.action_refused("insi.search_by_traits", "failure", "bad", "mauvais", raw=b"<html/>")
    assert log.entries[0]["raw_answer"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_connection_refused_says_the_hook_is_not_running(context):
    url = f"http://127.0.0.1:{free_port()}/segur"
    with pytest.raises(SutFailure, match="cannot connect to the product's test hook") as caught:
        HttpSut(HttpSutSettings(url=url, connect_timeout=2)).perform("insi.search_by_traits", {}, context)
    assert caught.value.raw is None


def test_a_hook_that_does_not_answer_in_time_is_a_timeout(hook, context):
    def slow(request: dict) -> tuple[int, bytes]:
        time.sleep(1.5)
        return 200, b'{"outcome": "not_found"}'

    stub = hook(slow)
    with pytest.raises(SutFailure, match=r"did not answer within 0\.3 s"):
        HttpSut(HttpSutSettings(url=stub.url, timeout=0.3)).perform("insi.search_by_traits", {}, context)


def test_load_sut_takes_a_url_or_a_toml_with_an_http_table(tmp_path, monkeypatch):
    assert load_sut("http://127.0.0.1:8089/segur").describe()["url"] == "http://127.0.0.1:8089/segur"
    monkeypatch.setenv("HOOK_TOKEN_FOR_TEST", "t0ken")
    path = tmp_path / "hook.toml"
    path.write_text(
        '[sut]\nname = "Mon DPI"\n[http]\nurl = "https://dpi.invalid/segur"\ntoken_env = "HOOK_TOKEN_FOR_TEST"\n'
        'timeout = 12\nactions = ["insi.search_by_traits"]\n',
        encoding="utf-8",
    )
    sut = load_sut(str(path))
    assert isinstance(sut, HttpSut)
    assert sut.settings.token == "t0ken" and sut.settings.timeout == 12.0
    assert sut.describe()["name"] == "Mon DPI"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[http]\nurl = "ftp://x/segur"\n', "must be http://"),
        ('[http]\nurl = "http://x/segur"\ntimeot = 3\n', "unknown keys"),
        ('[http]\nurl = "http://x/segur"\ntimeout = -1\n', "positive number"),
        ('[http]\nurl = "http://x/segur"\ntoken_env = "SURELY_NOT_SET_HOOK_TOKEN"\n', "not set"),
        ('[http]\nurl = "http://x/segur"\nactions = ["insi.nope"]\n', "unknown actions"),
        ('[http]\nurl = "http://x/segur"\nclient_cert = "c.pem"\n', "go together"),
    ],
)
def test_a_wrong_http_toml_is_a_usage_error(tmp_path, body, message):
    path = tmp_path / "hook.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(SutConfigError, match=message):
        load_sut(str(path))


def test_a_bad_url_is_a_usage_error():
    with pytest.raises(SutConfigError, match="must be http://"):
        load_sut("http://")


def test_the_example_http_toml_loads(monkeypatch):
    example = Path(__file__).resolve().parent.parent / "fixtures" / "sut" / "example-http.toml"
    monkeypatch.setenv("SEGUR_HOOK_TOKEN", "demo-token")
    sut = load_sut(str(example))
    assert isinstance(sut, HttpSut)
    assert sut.settings.url == "http://127.0.0.1:8089/segur" and sut.settings.token == "demo-token"


def test_an_answer_beyond_the_size_cap_is_refused_unread(hook, context, monkeypatch):
    from harness.run.sut import http

    monkeypatch.setattr(http, "MAX_ANSWER_BYTES", 1000)
    stub = hook(lambda request: (200, b'{"outcome": "not_found", "pad": "' + b"x" * 5000 + b'"}'))
    with pytest.raises(SutFailure, match="exceeds 1000 bytes") as caught:
        HttpSut(HttpSutSettings(url=stub.url)).perform("insi.search_by_traits", {}, context)
    assert caught.value.raw and len(caught.value.raw) <= http.RAW_QUOTE_LIMIT
