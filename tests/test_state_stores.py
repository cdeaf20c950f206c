"""The mocks' state stores on both engines: DMP registry (and, below, the MSSanté mail store)."""

from __future__ import annotations

import sqlite3

import pytest

from harness.core.storage import SqliteDatabase, open_postgresql, schema_version
from mock_services.dmp.registry import _NEXT_SEQ, DmpRegistry, NewSubmissionSet, StoredEntry
from mock_services.mssante.store import MailStore


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    if request.param == "sqlite":
        db = SqliteDatabase(tmp_path / "state.sqlite3")
    else:
        db = open_postgresql(request.getfixturevalue("pg_url"))
    yield db
    db.close()


def entry(uuid: str, unique_id: str, patient: str = "INS1", version: int = 1) -> StoredEntry:
    return StoredEntry(
        uuid, f"lid-{unique_id}", version, unique_id, patient, "Approved", "author", "structure",
        ("N",), "11488-4", "text/xml", "h", 3, "ss1", b"<meta/>\x00",
    )  # fmt: skip


def test_dmp_submissions_come_back_in_the_order_they_were_stored(database):
    registry = DmpRegistry(database=database)
    assert registry.claim_realm("r") and not registry.claim_realm("r")
    batch = [entry(f"urn:uuid:{n}", f"1.2.{n}") for n in (9, 3, 7)]  # not in key order
    registry.store("r", NewSubmissionSet("ss1", "1.2.250", "INS1", b"<ss/>"), batch, {"1.2.9": b"\x00doc"})
    registry.store("r", None, [entry("urn:uuid:1", "1.2.1")], {})
    assert [e.entry_uuid for e in registry.entries("r", "INS1")] == [
        "urn:uuid:9", "urn:uuid:3", "urn:uuid:7", "urn:uuid:1",
    ]  # fmt: skip
    assert registry.content("r", "1.2.9") == b"\x00doc"
    assert registry.entries("other-realm", "INS1") == []
    assert registry.submission_sets("r", "INS1") == [("ss1", "1.2.250", b"<ss/>")]
    assert registry.unique_id_used("r", "1.2.250") and not registry.unique_id_used("r", "1.2.404")


def test_a_dmp_submission_that_fails_leaves_nothing_behind(database):
    registry = DmpRegistry(database=database)
    registry.store("r", None, [entry("urn:uuid:1", "1.2.1")], {})
    duplicate = [entry("urn:uuid:2", "1.2.2"), entry("urn:uuid:1", "1.2.1")]  # the second breaks the key
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        registry.store("r", NewSubmissionSet("ss2", "1.2.99", "INS1", b""), duplicate, {"1.2.2": b"x"})
    assert [e.entry_uuid for e in registry.entries("r", "INS1")] == ["urn:uuid:1"]
    assert registry.content("r", "1.2.2") is None and registry.submission_sets("r", "INS1") == []


def test_dmp_authorisations_are_set_replaced_and_removed(database):
    registry = DmpRegistry(database=database)
    registry.set_authorisation("r", "INS2", "ps", "VALIDE")
    registry.set_authorisation("r", "INS1", "ps", "EXPIRE")
    registry.set_authorisation("r", "INS1", "ps", "VALIDE")
    assert registry.authorisation("r", "INS1", "ps") == "VALIDE"
    assert registry.authorised_patients("r", "ps") == ["INS1", "INS2"]
    registry.set_authorisation("r", "INS1", "ps", None)
    assert registry.authorisation("r", "INS1", "ps") is None


def test_the_dmp_registry_reopens_with_what_it_held(database):
    DmpRegistry(database=database).store("r", None, [entry("urn:uuid:1", "1.2.1")], {})
    again = DmpRegistry(database=database)
    assert [e.unique_id for e in again.entries("r", "INS1")] == ["1.2.1"]
    assert schema_version(database, "dmp") == 2


def test_the_dmp_registry_numbers_a_submission_from_its_sequence_indexes(tmp_path):
    """The next sequence number is read from an index, not from a scan of every realm ever stored."""
    registry = DmpRegistry(database=SqliteDatabase(tmp_path / "dmp.sqlite3"))
    plan = " ".join(str(row[-1]) for row in registry._db.execute(f"EXPLAIN QUERY PLAN {_NEXT_SEQ}"))
    assert "entry_seq" in plan and "submission_set_seq" in plan, plan


# The registry's schema before versioned migrations (main at f965a57, mock_services/dmp/registry.py SCHEMA).
PREVIOUS_DMP_SCHEMA = """
CREATE TABLE IF NOT EXISTS entry (
    realm TEXT NOT NULL, entry_uuid TEXT NOT NULL, lid TEXT NOT NULL, version INTEGER NOT NULL,
    unique_id TEXT NOT NULL, patient_ins TEXT NOT NULL, status TEXT NOT NULL,
    author TEXT NOT NULL, author_structure TEXT NOT NULL, confidentiality TEXT NOT NULL,
    type_code TEXT NOT NULL, mime_type TEXT NOT NULL, hash TEXT NOT NULL, size INTEGER NOT NULL,
    submission_set TEXT NOT NULL, metadata BLOB NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (realm, entry_uuid)
);
CREATE INDEX IF NOT EXISTS entry_unique ON entry(realm, unique_id);
CREATE INDEX IF NOT EXISTS entry_patient ON entry(realm, patient_ins);
CREATE TABLE IF NOT EXISTS content (
    realm TEXT NOT NULL, unique_id TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY (realm, unique_id)
);
CREATE TABLE IF NOT EXISTS submission_set (
    realm TEXT NOT NULL, entry_uuid TEXT NOT NULL, unique_id TEXT NOT NULL, patient_ins TEXT NOT NULL,
    metadata BLOB NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (realm, entry_uuid)
);
CREATE TABLE IF NOT EXISTS authorisation (
    realm TEXT NOT NULL, patient_ins TEXT NOT NULL, ps TEXT NOT NULL, status TEXT NOT NULL,
    PRIMARY KEY (realm, patient_ins, ps)
);
CREATE TABLE IF NOT EXISTS realm (realm TEXT PRIMARY KEY);
"""


@pytest.mark.sqlite_only("a DMP SQLite file written by a harness before migrations")
def test_a_dmp_file_of_the_previous_harness_is_migrated_with_its_documents(tmp_path):
    path = tmp_path / "dmp.sqlite3"
    with sqlite3.connect(path) as old:
        old.executescript(PREVIOUS_DMP_SCHEMA)
        old.execute(
            "INSERT INTO entry VALUES ('r', 'u', 'l', 1, '1.2', 'INS1', 'Approved', 'a', 's', '[]', 't', "
            "'text/xml', 'h', 1, 'ss', x'00', 5)"
        )
    registry = DmpRegistry(path)
    assert [e.entry_uuid for e in registry.entries("r", "INS1")] == ["u"]
    registry.store("r", None, [entry("urn:uuid:2", "1.3")], {})
    assert [e.entry_uuid for e in registry.entries("r", "INS1")] == ["u", "urn:uuid:2"]
    registry.close()


def test_mail_uids_are_never_reused_and_survive_a_reopening(database):
    store = MailStore(database=database)
    assert [store.deliver("Dr@Example.fr", b"one"), store.deliver("dr@example.fr", b"two")] == [1, 2]
    store.set_flags("dr@example.fr", "INBOX", 2, frozenset({"\\Deleted"}))
    assert store.expunge("dr@example.fr") == [2]
    assert store.deliver("dr@example.fr", b"three") == 3
    again = MailStore(database=database)
    assert again.uidvalidity == store.uidvalidity
    assert [(m.uid, m.raw) for m in again.messages("dr@example.fr")] == [(1, b"one"), (3, b"three")]
    assert again.next_uid("dr@example.fr") == 4


def test_a_delivery_to_several_mailboxes_is_all_or_nothing(database):
    store = MailStore(database=database)
    assert store.deliver_all([("a@x.fr", b"m"), ("b@x.fr", b"m")]) == [1, 1]
    with pytest.raises(Exception, match=r"(?i)null"):  # the second delivery breaks NOT NULL
        store.deliver_all([("a@x.fr", b"m2"), ("b@x.fr", None)])  # type: ignore[list-item]
    assert [m.uid for m in store.messages("a@x.fr")] == [1] and store.next_uid("a@x.fr") == 2


def test_folder_validities_are_distinct_and_new_after_a_folder_is_dropped(database):
    store = MailStore(database=database)
    inbox, archive = store.folder_validity("a@x.fr"), store.folder_validity("a@x.fr", "Archive")
    assert inbox != archive and store.folder_validity("a@x.fr", "Archive") == archive
    store.deliver("a@x.fr", b"m", folder="Archive")
    store.rename_folder("a@x.fr", "Archive", "Old")
    assert store.folder_validity("a@x.fr", "Old") == archive and store.folders("a@x.fr") == ["INBOX", "Old"]
    store.drop_folder("a@x.fr", "Old")
    assert store.folder_validity("a@x.fr", "Old") not in {inbox, archive}


def test_scenarios_in_postgresql_are_seen_by_every_process_sharing_the_database(pg_url):
    from mock_services.common import Scenario, ScenarioStore

    with open_postgresql(pg_url) as first_db, open_postgresql(pg_url) as second_db:
        setter, server = ScenarioStore(first_db), ScenarioStore(second_db)  # two pools: like two processes
        assert server.get("k") == Scenario()
        setter.set("k", Scenario(fault="technical", options={"acr": "eidas3"}))
        assert server.get("k") == Scenario(fault="technical", options={"acr": "eidas3"})
        assert server.update("k", latency_ms=20) == Scenario(20, "technical", {"acr": "eidas3"})
        assert setter.get("k").latency_ms == 20
        setter.clear("k")
        assert server.get("k") == Scenario()
        with pytest.raises(TypeError):
            setter.set("k", Scenario(options={"not json": object()}))
        assert server.get("k") == Scenario()


def test_scenarios_without_a_database_stay_in_memory_as_before():
    from mock_services.common import Scenario, ScenarioStore

    store = ScenarioStore()
    store.set("k", Scenario(options={"kept": ("as", "given")}))  # any Python value, never serialised
    assert store.get("k").options == {"kept": ("as", "given")}


def test_two_psc_providers_on_one_database_share_codes_tokens_and_sessions(pg_url):
    import base64
    import hashlib
    from urllib.parse import parse_qs, urlparse

    from starlette.testclient import TestClient

    from harness.core.recorder import ExchangeStore
    from mock_services.psc import create_app

    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    token_path = "/auth/realms/esante-wallet/protocol/openid-connect/token"
    auth = ("segur-reference", "segur-reference-secret")
    with open_postgresql(pg_url) as db_a, open_postgresql(pg_url) as db_b:  # two pools: like two processes
        store = ExchangeStore()
        with (
            TestClient(create_app(store, database=db_a), base_url="https://psc.test") as first,
            TestClient(create_app(store, database=db_b), base_url="https://psc.test") as second,
        ):
            params = {
                "response_type": "code", "client_id": auth[0], "redirect_uri": "http://127.0.0.1:8765/callback",
                "scope": "openid scope_all", "state": "s", "nonce": "n", "login_hint": "899900000011",
                "code_challenge": challenge, "code_challenge_method": "S256",
            }  # fmt: skip
            login = first.get("/wallet/auth", params=params, follow_redirects=False)
            code = parse_qs(urlparse(login.headers["location"]).query)["code"][0]
            redeem = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier}
            redeem["redirect_uri"] = params["redirect_uri"]
            tokens = second.post(token_path, data=redeem, auth=auth)  # the code issued by the first
            assert tokens.status_code == 200, tokens.text
            refresh = {"grant_type": "refresh_token", "refresh_token": tokens.json()["refresh_token"]}
            assert first.post(token_path, data=refresh, auth=auth).status_code == 200
            replay = first.post(token_path, data=redeem, auth=auth)  # the code again: its grant is revoked
            assert replay.json()["error"] == "invalid_grant"
            assert second.post(token_path, data=refresh, auth=auth).json()["error"] == "invalid_grant"
        store.close()
        kinds = {row[0] for row in db_a.execute("SELECT DISTINCT kind FROM psc_state")}
        assert {"code", "refresh", "sso", "access", "revoked-grant"} <= kinds


def test_a_manual_step_in_postgresql_is_answered_from_another_process_desk(pg_url):
    import threading

    from harness.run.console.desk import ManualDesk, ManualStep, StepGone

    step = ManualStep(
        "insi.search_by_traits", "résumé", {"nom_naissance": "X"}, {}, "{}", ["found"], "k", {"insi": "u"}, {}
    )
    with open_postgresql(pg_url) as db_a, open_postgresql(pg_url) as db_b:
        runner, console = ManualDesk(db_a), ManualDesk(db_b)  # the SUT's process, the console's
        runner.post(step)
        assert console.current() == step
        answering = threading.Timer(0.3, console.answer, (step.id, "not_supported", None, "pas fait"))
        answering.start()
        answer = runner.wait(step.id, timeout=10)
        answering.join()
        assert answer is not None and answer.kind == "not_supported" and answer.reason == "pas fait"
        assert console.current() is None
        with pytest.raises(StepGone):
            console.answer(step.id, "not_supported")
        runner.withdraw(step.id)
        assert runner.wait(step.id, timeout=0.1) is None


def test_an_entry_replaced_by_two_processes_at_once_is_seen_unchanged_by_one_only(pg_url):
    import dataclasses
    import threading
    import time

    from mock_services.psc.base import PendingCode
    from mock_services.psc.state import StateMap, grant_from, prepare
    from mock_services.psc.tokens import Grant

    def decode(data):
        return PendingCode(**{**data, "grant": grant_from(data["grant"])})

    def mark_used(entry):
        time.sleep(0.2)  # a wide window: without the lock both processes read the code before either writes
        return dataclasses.replace(entry, used=True)

    grant = Grant("c", "sub", "899900000011", "openid", None, 0, "eidas1")
    with open_postgresql(pg_url) as db_a, open_postgresql(pg_url) as db_b:  # two workers redeeming one code
        codes = [StateMap("code", prepare(db), decode=decode) for db in (db_a, db_b)]
        codes[0]["the-code"] = PendingCode(grant, "http://127.0.0.1/cb", None, None, time.time() + 60)
        start, seen = threading.Barrier(2), []

        def redeem(states):
            start.wait()
            seen.append(states.replace("the-code", mark_used))

        threads = [threading.Thread(target=redeem, args=(states,)) for states in codes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(entry.used for entry in seen) == [False, True]  # exactly one redemption found it unused
        assert codes[1]["the-code"].used
        assert codes[0].replace("absent", mark_used) is None
        assert codes[0].pop("the-code") is not None and codes[1].pop("the-code") is None
