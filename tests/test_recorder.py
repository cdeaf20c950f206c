"""The exchange recorder: durable, ordered, filterable."""

from __future__ import annotations

import multiprocessing
import os
import threading

import pytest

from harness.core.recorder import FAULT, OK, REJECTED, Exchange, ExchangeStore, now


def make(session: str = "s1", outcome: str = OK, body: bytes = b"<x/>") -> Exchange:
    started = now()
    return Exchange(
        service="insi",
        session_key=session,
        operation="op",
        outcome=outcome,
        request_body=body,
        response_body=b"<r/>",
        started_at=started,
        finished_at=started + 0.001,
        http_status=200,
        client_subject="CN=INSI-AUTO",
        summary={"code_cr": "00"},
    )


@pytest.fixture
def store(tmp_path):
    store = ExchangeStore(tmp_path / "x.sqlite3")
    yield store
    store.close()


def test_round_trip_keeps_raw_bytes_and_summary(store):
    stored = store.record(make(body=b"\x00\xffraw"))
    again = store.get(stored.id)
    assert again.request_body == b"\x00\xffraw"
    assert again.summary == {"code_cr": "00"}
    assert again.client_subject == "CN=INSI-AUTO"
    assert again.seq == 1


def test_filters_by_session_service_and_outcome(store):
    for session, outcome in [("a", OK), ("a", REJECTED), ("b", FAULT)]:
        store.record(make(session, outcome))
    assert [e.outcome for e in store.exchanges(session_key="a")] == [OK, REJECTED]
    assert len(store.exchanges(outcome=FAULT)) == 1
    assert store.exchanges(service="dmp") == []


def test_concurrent_writers_get_distinct_sequence_numbers(store):
    threads = [threading.Thread(target=lambda: [store.record(make()) for _ in range(25)]) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seqs = [e.seq for e in store.exchanges()]
    assert seqs == list(range(1, 101))


def _record_then_die(path: str) -> None:
    store = ExchangeStore(path)
    store.record(make("crash"))
    os._exit(0)  # no close, no cleanup: like a process killed right after answering


def test_what_was_recorded_survives_a_crash(tmp_path):
    path = str(tmp_path / "x.sqlite3")
    process = multiprocessing.get_context("spawn").Process(target=_record_then_die, args=(path,))
    process.start()
    process.join(30)
    assert process.exitcode == 0
    reopened = ExchangeStore(path)
    assert [e.session_key for e in reopened.exchanges()] == ["crash"]
    assert reopened.record(make()).seq == 2
    reopened.close()
