"""``segur judge --session KEY``: the suites judge what a product did in a session of ``segur serve``.

The judge never writes into the serve's data folder: it runs in a folder of its own holding a copy
of the serve's PKI (so the pack carries the serve's trace certificate and is sealed with its
evidence key) and the session's exchanges, imported through the recorder's public API. Under
``segur rejudge`` of such a pack, the same observed adapter reads the pack's exchanges.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import pytest

from harness.core.errors import UsageError
from harness.core.recorder import ExchangeStore
from harness.core.storage import SQLITE, STORE_ENV, open_postgresql, parse_store
from harness.run import observed_actions
from harness.run.observed import KIND, ObservedSut, ObservedTest
from harness.run.runner import RunOptions, run
from harness.run.session import session_state_key

if TYPE_CHECKING:
    from harness.run.environment import HarnessEnvironment

OBSERVE_OPTION, OBSERVE_DIR_OPTION = "--segur-observe", "--segur-observe-dir"
observed_sut_key = pytest.StashKey[ObservedSut]()
observed_test_key = pytest.StashKey[ObservedTest]()
_session_key = pytest.StashKey["str | None"]()


def _serve_store_url(store: str | None = None) -> str | None:
    """The serve's PostgreSQL database (``--store``, else ``SEGUR_STORE``), or None: its SQLite file."""
    return parse_store(store if store is not None else os.environ.get(STORE_ENV))


def _serve_files(serve_dir: Path, store_url: str | None = None) -> tuple[Path, Path]:
    from harness.run.environment import PKI_FOLDER, STORE_FILE

    store, pki_dir = serve_dir / STORE_FILE, serve_dir / PKI_FOLDER
    if (store_url is None and not store.is_file()) or not pki_dir.is_dir():
        missing = f"{PKI_FOLDER}/" if store_url is not None else f"{STORE_FILE} and {PKI_FOLDER}/"
        raise UsageError(
            f"{serve_dir} is not the data folder of a segur serve (no {missing}): "
            "start it with segur serve --data-dir DIR and give the same DIR here"
        )
    return store, pki_dir


@contextmanager
def _serve_store(serve_dir: Path, store: str | None = None) -> Iterator[ExchangeStore]:
    """The serve's exchanges, read through the recorder: its SQLite file, or the PostgreSQL database it shares."""
    url = _serve_store_url(store)
    store_file, _ = _serve_files(serve_dir, url)
    database = open_postgresql(url) if url else None
    source = ExchangeStore(store_file, database=database)
    try:
        yield source
    finally:
        source.close()
        if database is not None:
            database.close()


def session_exchange_count(serve_dir: Path, session_key: str, store: str | None = None) -> int:
    with _serve_store(serve_dir, store) as source:
        return len(source.exchanges(session_key=session_key))


def observed_session_key(config: pytest.Config) -> str | None:
    """The session judged: given to ``segur judge``, or the one of an observed pack being re-judged."""
    if _session_key not in config.stash:
        config.stash[_session_key] = _find_session_key(config)
    return config.stash[_session_key]


def _find_session_key(config: pytest.Config) -> str | None:
    key = config.getoption(OBSERVE_OPTION)
    if key:
        return str(key)
    replay_dir = config.stash[session_state_key].replay_dir
    report = replay_dir / "report.json" if replay_dir is not None else None
    if report is None or not report.is_file():
        return None
    sut = json.loads(report.read_text(encoding="utf-8")).get("sut") or {}
    return str(sut["session"]) if sut.get("kind") == KIND and sut.get("session") else None


def judge_data_dir(config: pytest.Config, scratch: Path) -> Path | None:
    """The judge's own data folder, holding a copy of the serve's PKI; None when not judging a session."""
    if not config.getoption(OBSERVE_OPTION):
        return None
    _, pki_dir = _serve_files(Path(config.getoption(OBSERVE_DIR_OPTION) or "."), _serve_store_url(_store_of(config)))
    from harness.run.environment import PKI_FOLDER

    shutil.copytree(pki_dir, scratch / PKI_FOLDER)
    return scratch


def load_session(config: pytest.Config, env: HarnessEnvironment) -> None:
    """Copy the judged session's exchanges from the serve's store into the judge's."""
    key = config.getoption(OBSERVE_OPTION)
    if not key:
        return
    with _serve_store(Path(config.getoption(OBSERVE_DIR_OPTION) or "."), _store_of(config)) as source:
        for exchange in source.exchanges(session_key=key):
            env.store.import_exchange(exchange)


def _store_of(config: pytest.Config) -> str | None:
    value = config.getoption("--segur-store")
    return str(value) if value is not None else None


def own_store(config: pytest.Config, store: str | None) -> str | None:
    """The store of the run's own environment: a judge or a replay loads copies of exchanges recorded
    elsewhere into it, so it is a scratch SQLite one, never the shared database they came from
    (their ids are there already)."""
    observing = bool(config.getoption(OBSERVE_OPTION))
    return SQLITE if observing or config.stash[session_state_key].replay_dir is not None else store


def observed_sut(config: pytest.Config, env: HarnessEnvironment) -> ObservedSut:
    if observed_sut_key not in config.stash:
        key = observed_session_key(config)
        assert key is not None
        exchanges = env.store.exchanges(session_key=key)
        config.stash[observed_sut_key] = ObservedSut(key, exchanges, observed_actions.HANDLERS)
    return config.stash[observed_sut_key]


def observed_test(request: pytest.FixtureRequest) -> ObservedTest:
    """This test's view of the session (shared by its ``sut`` and mock fixtures)."""
    node = request.node
    if observed_test_key not in node.stash:
        env = request.getfixturevalue("segur_env")
        node.stash[observed_test_key] = observed_sut(request.config, env).test()
    return node.stash[observed_test_key]


def check_tenant_session(serve_dir: Path, session_key: str, tenant_token: str, store_url: str | None = None) -> None:
    """Refuse a session the tenant does not own, with the words of an unknown one (keys cannot be probed)."""
    from harness.core.storage import Database, SqliteDatabase
    from harness.core.tenants import TenantRegistry
    from harness.run.environment import TENANTS_FILE

    url = _serve_store_url(store_url)
    _serve_files(serve_dir, url)
    database: Database
    if url is not None:  # the serve's tenants are in its PostgreSQL database
        database = open_postgresql(url)
    else:
        tenants_file = serve_dir / TENANTS_FILE
        if not tenants_file.is_file():
            raise UsageError(f"{serve_dir} has no tenants (segur tenant create): --tenant cannot be checked")
        database = SqliteDatabase(tenants_file)
    try:
        registry = TenantRegistry(database)
        tenant = registry.authenticate(tenant_token)
        if tenant is None:
            raise UsageError("--tenant: unknown or revoked tenant token")
        if not registry.visible(session_key, tenant):
            raise UsageError(f"no session {session_key} of tenant {tenant.name} in {serve_dir}")
    finally:
        database.close()


def judge(
    options: RunOptions,
    session_key: str,
    serve_dir: Path,
    out: TextIO | None = None,
    *,
    tenant_token: str | None = None,
) -> int:
    """Run the suites on what the product did in ``session_key``; same reports, pack and exit statuses as run.

    With ``tenant_token``, only a session of that tenant is judged.
    """
    if tenant_token is not None:
        check_tenant_session(serve_dir, session_key, tenant_token, options.store)
    count = session_exchange_count(serve_dir, session_key, options.store)
    if count == 0:
        print(f"segur judge: no exchange recorded in session {session_key} of {serve_dir}", file=sys.stderr)
    options.extra_args = [*options.extra_args, OBSERVE_OPTION, session_key, OBSERVE_DIR_OPTION, str(serve_dir)]
    return run(options, out)
