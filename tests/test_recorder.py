"""The exchange recorder: durable, ordered, filterable, on SQLite and on PostgreSQL."""

from __future__ import annotations

import multiprocessing
import os
import threading

import pytest

from harness.core.recorder import FAULT, OK, REJECTED, Exchange, ExchangeStore, now
from harness.core.storage import open_postgresql


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


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        store = ExchangeStore(tmp_path / "x.sqlite3")
        yield store
        store.close()
        return
    database = open_postgresql(request.getfixturevalue("pg_url"))
    store = ExchangeStore(database=database)
    yield store
    store.close()
    database.close()


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


@pytest.mark.sqlite_only("SQLite WAL durability after a killed writer (PostgreSQL's: test_serve_workers)")
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


def _record_then_die_postgresql(url: str) -> None:
    database = open_postgresql(url)
    ExchangeStore(database=database).record(make("crash"))
    os._exit(0)


def test_what_was_recorded_in_postgresql_survives_the_process(pg_url):
    process = multiprocessing.get_context("spawn").Process(target=_record_then_die_postgresql, args=(pg_url,))
    process.start()
    process.join(30)
    assert process.exitcode == 0
    with open_postgresql(pg_url) as database:
        reopened = ExchangeStore(database=database)
        assert [e.session_key for e in reopened.exchanges()] == ["crash"]
        assert reopened.record(make()).seq == 2


def _record_many(url: str, session: str, count: int) -> None:
    with open_postgresql(url) as database:
        store = ExchangeStore(database=database)
        for _ in range(count):
            store.record(make(session))


def test_processes_sharing_one_postgresql_database_get_distinct_ordered_sequence_numbers(pg_url):
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_record_many, args=(pg_url, f"p{n}", 30)) for n in range(3)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    assert [p.exitcode for p in processes] == [0, 0, 0]
    with open_postgresql(pg_url) as database:
        seqs = [e.seq for e in ExchangeStore(database=database).exchanges()]
    assert seqs == list(range(1, 91))
