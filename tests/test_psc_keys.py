"""The PSC mock's key ring in the store (mock_services/psc/keys.py): one ring for every process of a database."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from harness.core.storage import SqliteDatabase, open_postgresql, schema_version
from mock_services.psc.keys import COMPONENT, SharedKeyRing
from mock_services.psc.tokens import KeyRing


def _claims(**extra: object) -> dict[str, object]:
    now = int(time.time())
    return {"sub": "899900000011", "iat": now, "exp": now + 60, **extra}


def _kids(ring: KeyRing) -> list[str]:
    return [key["kid"] for key in ring.jwks()["keys"]]


def test_rings_of_process_memory_are_each_their_own():
    first, second = KeyRing(), KeyRing()  # one process each, as segur serve on SQLite has
    assert second.verify(first.sign(_claims())) is None
    signing = [[key["kid"] for key in ring.jwks()["keys"] if key["use"] == "sig"] for ring in (first, second)]
    assert signing[0] and set(signing[0]).isdisjoint(signing[1])
    # The published encryption key (never used to encrypt) is made once per process.
    assert first.jwks()["keys"][0]["use"] == "enc" and first.encryption_key is second.encryption_key


def test_two_processes_on_one_database_publish_and_verify_the_same_keys(pg_url):
    with open_postgresql(pg_url) as db_a, open_postgresql(pg_url) as db_b:  # two pools: like two workers
        first, second = SharedKeyRing(db_a), SharedKeyRing(db_b)
        assert schema_version(db_a, COMPONENT) == 1
        assert _kids(first) == _kids(second)
        assert first.jwks()["keys"][0]["use"] == "enc"  # the encryption key stays first, as on PSC
        token = first.sign(_claims())
        assert second.verify(token) is not None
        assert all("d" not in key for key in first.jwks()["keys"])  # published keys are public: no private part


def test_a_rotation_by_one_process_is_seen_by_the_other_and_old_tokens_still_verify(pg_url):
    with open_postgresql(pg_url) as db_a, open_postgresql(pg_url) as db_b:
        first, second = SharedKeyRing(db_a), SharedKeyRing(db_b)
        before = second.sign(_claims())
        old_kid = str(second.current.kid)
        new_kid = first.rotate()
        assert new_kid != old_kid
        assert str(second.current.kid) == new_kid  # the other process signs with the new key at once
        assert _kids(second) == _kids(first) and {old_kid, new_kid} <= set(_kids(second))
        assert first.verify(before) is not None and second.verify(before) is not None
        after = second.sign(_claims())
        assert first.verify(after) is not None
        first.rotate()  # a second rotation retires the key of ``before`` everywhere
        assert old_kid not in _kids(second)
        assert second.verify(before) is None and first.verify(before) is None
        assert first.verify(after) is not None
        rows = db_a.execute("SELECT use, COUNT(*) FROM psc_key GROUP BY use ORDER BY use")
        assert rows == [("enc", 1), ("sig", 2)]


def test_processes_opening_an_empty_store_at_once_create_one_ring(pg_url):
    databases = [open_postgresql(pg_url) for _ in range(3)]
    rings: list[SharedKeyRing] = []
    try:
        openers = [threading.Thread(target=lambda db=db: rings.append(SharedKeyRing(db))) for db in databases]
        for opener in openers:
            opener.start()
        for opener in openers:
            opener.join()
        assert len(rings) == 3
        assert len({tuple(_kids(ring)) for ring in rings}) == 1
        assert databases[0].execute("SELECT COUNT(*) FROM psc_key") == [(2,)]
    finally:
        for database in databases:
            database.close()


def test_the_ring_reads_the_same_on_a_sqlite_database(tmp_path: Path):
    with SqliteDatabase(tmp_path / "keys.sqlite3") as database:
        first, second = SharedKeyRing(database), SharedKeyRing(database)
        token = first.sign(_claims())
        second.rotate()
        assert str(first.current.kid) == str(second.current.kid)
        assert first.verify(token) is not None and second.verify(token) is not None
    with SqliteDatabase(tmp_path / "keys.sqlite3") as reopened:  # the ring outlives the process
        assert SharedKeyRing(reopened).verify(token) is not None


def test_a_token_of_another_store_does_not_verify(pg_url, tmp_path: Path):
    with open_postgresql(pg_url) as database, SqliteDatabase(tmp_path / "other.sqlite3") as other:
        assert SharedKeyRing(database).verify(SharedKeyRing(other).sign(_claims())) is None
