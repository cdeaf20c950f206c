"""Storage behind one interface: both engines, versioned migrations, --store parsing."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from harness.core.errors import UsageError
from harness.core.recorder import COMPONENT, MIGRATIONS, Exchange, ExchangeStore, now
from harness.core.storage import (
    Migration,
    SchemaTooNew,
    SqliteDatabase,
    Storage,
    StoreUnavailable,
    migrate,
    open_postgresql,
    parse_store,
    same_for_both,
    schema_version,
)
from harness.core.storage.postgresql import redacted


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    if request.param == "sqlite":
        db = SqliteDatabase(tmp_path / "x.sqlite3")
    else:
        db = open_postgresql(request.getfixturevalue("pg_url"))
    yield db
    db.close()


def exchange(session: str = "s") -> Exchange:
    started = now()
    return Exchange("insi", session, "op", "ok", b"\x00req", b"resp\xff", started, started + 0.5, http_status=200)


# --- the interface, the same on both engines -------------------------------------------------


def test_a_transaction_commits_at_the_end_and_rolls_back_on_error(database):
    database.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)")
    with database.transaction() as tx:
        tx.execute("INSERT INTO t VALUES (?, ?)", ("a", 1))
        tx.executemany("INSERT INTO t VALUES (?, ?)", [("b", 2), ("c", 3)])
    with pytest.raises(RuntimeError), database.transaction() as tx:
        tx.execute("INSERT INTO t VALUES (?, ?)", ("d", 4))
        raise RuntimeError("abandoned")
    assert database.execute("SELECT k, v FROM t ORDER BY k") == [("a", 1), ("b", 2), ("c", 3)]
    assert database.read("SELECT COUNT(*) FROM t") == [(3,)]
    assert database.table_columns("t") == {"k", "v"}
    assert database.table_columns("absent") == set()


def test_a_nested_transaction_joins_the_outer_one(database):
    database.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
    with pytest.raises(RuntimeError), database.transaction() as outer:
        outer.execute("INSERT INTO t VALUES (?)", ("a",))
        with database.transaction() as inner:
            inner.execute("INSERT INTO t VALUES (?)", ("b",))
        raise RuntimeError("the outer transaction fails: neither row stays")
    assert database.execute("SELECT COUNT(*) FROM t") == [(0,)]


def test_blobs_come_back_byte_for_byte(database):
    database.execute("CREATE TABLE b (v BYTEA)" if database.dialect == "postgresql" else "CREATE TABLE b (v BLOB)")
    raw = bytes(range(256))
    database.execute("INSERT INTO b VALUES (?)", (raw,))
    assert database.execute("SELECT v FROM b") == [(raw,)]


def test_store_sql_with_a_percent_sign_is_refused_on_postgresql(pg_url):
    with open_postgresql(pg_url) as db, pytest.raises(ValueError, match="%"):
        db.execute("SELECT 'a%b'")


# --- migrations ---------------------------------------------------------------------------------

STEPS = (
    same_for_both(1, "table", "CREATE TABLE m (k TEXT PRIMARY KEY)"),
    same_for_both(2, "column", "ALTER TABLE m ADD COLUMN v TEXT NOT NULL DEFAULT 'x'"),
)


def test_migrations_from_an_empty_database_reach_the_last_version(database):
    assert schema_version(database, "demo") == 0
    assert migrate(database, "demo", STEPS) == 2
    assert database.table_columns("m") == {"k", "v"}
    assert migrate(database, "demo", STEPS) == 2  # opening again changes nothing
    listed = "SELECT version, description FROM segur_migration WHERE component = ? ORDER BY 1"
    rows = database.execute(listed, ("demo",))
    assert rows == [(1, "table"), (2, "column")]


def test_migrations_from_the_previous_version_keep_the_data(database):
    assert migrate(database, "demo", STEPS, target=1) == 1
    database.execute("INSERT INTO m (k) VALUES (?)", ("kept",))
    assert migrate(database, "demo", STEPS) == 2
    assert database.execute("SELECT k, v FROM m") == [("kept", "x")]


def test_a_failing_migration_leaves_the_previous_version_whole(database):
    broken = (*STEPS, same_for_both(3, "broken", "CREATE INDEX mi ON m(v)", "ALTER TABLE nowhere ADD COLUMN z TEXT"))
    migrate(database, "demo", STEPS)
    with pytest.raises(Exception, match="nowhere"):
        migrate(database, "demo", broken)
    assert schema_version(database, "demo") == 2


def test_a_database_of_a_newer_harness_is_refused(database):
    migrate(database, "demo", STEPS)
    with pytest.raises(SchemaTooNew, match="version 2 was written by a newer harness"):
        migrate(database, "demo", STEPS[:1])


def test_migrations_must_be_numbered_in_order(database):
    with pytest.raises(ValueError, match=r"1\.\.n"):
        migrate(database, "demo", (STEPS[1], STEPS[0]))


def test_concurrent_openings_of_one_postgresql_database_migrate_it_once(pg_url):
    errors: list[BaseException] = []

    def open_store() -> None:
        try:
            with open_postgresql(pg_url) as db:
                ExchangeStore(database=db)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with open_postgresql(pg_url) as db:
        assert db.execute("SELECT COUNT(*) FROM segur_migration WHERE component = ?", (COMPONENT,)) == [
            (len(MIGRATIONS),)
        ]


def test_the_exchange_schema_migrates_from_each_earlier_version_on_both_engines(database):
    migrate(database, COMPONENT, MIGRATIONS, target=1)
    database.execute(
        "INSERT INTO exchange (id, seq, service, session_key, operation, outcome, started_at, finished_at, "
        "request_meta, request_body, response_meta, response_body, summary) "
        "VALUES ('old', 1, 'insi', 's', 'op', 'ok', 1.0, 2.0, '{}', ?, '{}', ?, '{}')",
        (b"q", b"r"),
    )
    store = ExchangeStore(database=database)
    assert store.schema_version == len(MIGRATIONS)
    assert [(e.id, e.trace) for e in store.exchanges()] == [("old", "")]
    assert store.record(exchange()).seq == 2


# The exchange file of the harness before versioned migrations (main at f965a57, recorder.SCHEMA).
PREVIOUS_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS exchange (
    id TEXT PRIMARY KEY, seq INTEGER NOT NULL, service TEXT NOT NULL, session_key TEXT NOT NULL,
    operation TEXT NOT NULL, outcome TEXT NOT NULL, http_status INTEGER, client_subject TEXT,
    started_at REAL NOT NULL, finished_at REAL NOT NULL, request_meta TEXT NOT NULL,
    request_body BLOB NOT NULL, response_meta TEXT NOT NULL, response_body BLOB NOT NULL,
    summary TEXT NOT NULL, trace TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS exchange_session ON exchange(session_key, seq);
"""


@pytest.mark.sqlite_only("adoption of an exchange file written by a harness before migrations")
def test_an_exchange_file_of_the_previous_harness_is_adopted_then_migrated(tmp_path):
    path = tmp_path / "exchanges.sqlite3"
    with sqlite3.connect(path) as old:
        old.executescript(PREVIOUS_SQLITE_SCHEMA)
        old.execute(
            "INSERT INTO exchange VALUES ('e1', 7, 'insi', 's', 'op', 'ok', 200, NULL, 1.0, 2.0, '{}', x'00', '{}', "
            "x'01', '{}', 'sig')"
        )
    store = ExchangeStore(path)
    assert store.schema_version == len(MIGRATIONS)
    assert [(e.id, e.seq, e.trace) for e in store.exchanges()] == [("e1", 7, "sig")]
    assert store.record(exchange()).seq == 8
    versions = store.database.execute("SELECT version, description FROM segur_migration ORDER BY version")
    assert versions[:2] == [(1, "adopted: exchange table"), (2, "adopted: trace signature column")]
    assert versions[2] == (3, "sequence index")
    store.close()


def test_migration_steps_name_both_engines():
    for step in MIGRATIONS:
        assert isinstance(step, Migration) and step.sqlite and step.postgresql


# --- choosing the store -------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "", "sqlite"])
def test_no_store_or_sqlite_means_the_embedded_files(value):
    assert parse_store(value) is None


def test_a_postgresql_url_is_taken_as_is():
    assert parse_store("postgresql://u@h/db") == "postgresql://u@h/db"
    assert parse_store("postgres://u@h/db") == "postgres://u@h/db"


def test_another_store_is_a_usage_error_that_hides_the_password():
    with pytest.raises(UsageError, match="expected 'sqlite' or a postgresql:// URL") as caught:
        parse_store("mysql://user:secret@host/db")
    assert "secret" not in str(caught.value)
    assert redacted("postgresql://u:secret@h:5432/db") == "postgresql://u:***@h:5432/db"


def test_an_unreachable_postgresql_server_is_a_usage_error():
    import socket

    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(StoreUnavailable, match="cannot connect") as caught:
        open_postgresql(f"postgresql://u:secret@127.0.0.1:{port}/db")
    assert "secret" not in str(caught.value)
    # libpq's own reason, from the probe connection: not the pool's retries until its time-out
    assert "refused" in str(caught.value) and "within" not in str(caught.value)


def test_an_unknown_database_is_reported_with_its_name_and_without_the_password(pg_cluster):
    with pytest.raises(StoreUnavailable, match="cannot connect") as caught:
        open_postgresql(f"postgresql://segur:secret@127.0.0.1:{pg_cluster.port}/no_such_database")
    assert "no_such_database" in str(caught.value) and "secret" not in str(caught.value)


def test_storage_uses_the_environment_variable_when_no_store_is_given(tmp_path, monkeypatch, pg_url):
    monkeypatch.setenv("SEGUR_STORE", pg_url)
    storage = Storage(tmp_path)
    assert storage.engine == "postgresql"
    assert storage.database("a.sqlite3") is storage.database("b.sqlite3")  # one shared database
    storage.close()
    monkeypatch.setenv("SEGUR_STORE", "postgresql://ignored@127.0.0.1:1/x")
    local = Storage(tmp_path, "sqlite")  # an explicit --store wins over the variable
    assert local.engine == "sqlite"
    assert local.database("a.sqlite3") is not local.database("b.sqlite3")
    local.close()


def test_two_harnesses_keep_apart_in_one_database_through_their_search_path(pg_url):
    with open_postgresql(pg_url) as admin:
        admin.execute("CREATE SCHEMA team_a")
        admin.execute("CREATE SCHEMA team_b")
    stores = {}
    for team in ("team_a", "team_b"):
        stores[team] = ExchangeStore(database=open_postgresql(f"{pg_url}?options=-csearch_path%3D{team}"))
    try:
        stores["team_a"].record(exchange("a"))
        assert [e.session_key for e in stores["team_a"].exchanges()] == ["a"]
        assert stores["team_b"].exchanges() == []
        assert stores["team_b"].record(exchange("b")).seq == 1
    finally:
        for store in stores.values():
            store.database.close()


def test_an_environment_whose_store_is_refused_leaves_no_temporary_folder(monkeypatch, tmp_path):
    import tempfile

    from harness.run.environment import HarnessEnvironment

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the environment's own folder lands here
    with pytest.raises(UsageError, match="--store"):
        HarnessEnvironment(store="mysql://nowhere/db")
    assert list(tmp_path.iterdir()) == []
