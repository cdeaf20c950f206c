"""Shared fixtures of the harness's own tests."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import store_engine

from harness.core.paths import reference_dir
from harness.core.storage import STORE_ENV

_ENGINE = pytest.StashKey[str]()

pytest_plugins = ["pytester"]

# The PostgreSQL pass (tests/store_engine.py): one cluster per pytest-xdist worker holds every test's schemas,
# with room for the pools of a test's environment, console and segur run/serve subprocesses at once.
PG_PASS_MAX_CONNECTIONS = 200


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--store-engine",
        choices=store_engine.ENGINES,
        default=None,
        help="the engine of the harness stores the tests open: sqlite (default) or postgresql, which runs only "
        f"the tests marked uses_store, each on a PostgreSQL schema of its own (default: ${store_engine.ENGINE_ENV}, "
        "else sqlite; tests/store_engine.py)",
    )


def pytest_configure(config: pytest.Config) -> None:
    try:
        config.stash[_ENGINE] = store_engine.chosen_engine(config.getoption("--store-engine"))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from exc
    config.addinivalue_line(
        "markers", "uses_store: set from the code on tests that may open a harness store (PostgreSQL pass, -m)"
    )
    config.addinivalue_line(
        "markers", "sqlite_only(reason): engine-specific test, skipped with that reason in the PostgreSQL pass"
    )


def _postgresql_pass(config: pytest.Config) -> bool:
    return config.stash.get(_ENGINE, "sqlite") == "postgresql"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests that may open a store; the PostgreSQL pass keeps only those.

    Only when asked (the PostgreSQL pass, or ``-m`` naming the marker): reading every test's code costs
    about 4 s of CPU per process, which the default pass need not pay.
    """
    if not _postgresql_pass(config) and "uses_store" not in (config.getoption("markexpr") or ""):
        return
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        if store_engine.item_uses_store(item):
            item.add_marker(pytest.mark.uses_store)
            kept.append(item)
        else:
            dropped.append(item)
    if _postgresql_pass(config) and dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(scope="module", autouse=True)
def _module_stores_on_postgresql(request: pytest.FixtureRequest) -> Iterator[store_engine.TestStores | None]:
    """In the PostgreSQL pass, what this module's stores open is PostgreSQL (tests/store_engine.py).

    Module-wide, since pytest sets up module-scoped fixtures (environments, mocks) before any
    function-scoped one; autouse, so before those. Each test then gets a schema of its own below.
    """
    if not _postgresql_pass(request.config):
        yield None
        return
    stores = store_engine.TestStores(request.getfixturevalue("pg_cluster"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(STORE_ENV, stores.new_url())
        for module in store_engine.SQLITE_OPENERS:
            patch.setattr(f"{module}.SqliteDatabase", stores.stand_in())
        stores.record_storage(patch)
        yield stores


@pytest.fixture(autouse=True)
def _test_store_on_postgresql(
    request: pytest.FixtureRequest, _module_stores_on_postgresql: store_engine.TestStores | None
) -> Iterator[None]:
    """In the PostgreSQL pass, SEGUR_STORE names an empty schema of this test's own."""
    stores = _module_stores_on_postgresql
    if stores is None:
        yield
        return
    marker = request.node.get_closest_marker("sqlite_only")
    if marker is not None:
        pytest.skip(f"SQLite only: {marker.args[0] if marker.args else 'engine-specific'}")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(STORE_ENV, stores.new_url())
        yield
    stores.release()


def default_workers() -> int:
    """Two test processes per core: a third of the suite's time is spent waiting (on loopback servers,
    subprocesses, a slow product's answer), and one process per core left the cores idle that long.
    On 2 cores, the same tests took 5:56 in 3 workers and 5:26 in 4 (issue 17)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return 2 * cores


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Run in :func:`default_workers` processes by default (pytest-xdist, ``--dist worksteal``).

    Set here rather than in ``addopts`` so that ``-p no:xdist`` still works (an ``-n`` in addopts
    is an unknown option without the plugin); an explicit ``-n``/``--dist`` (``-n 0``: one process)
    wins, and so do ``--pdb`` and ``--collect-only``, which want one process. This hook runs before
    xdist's own, which turns the option into workers; the workers themselves are left alone.
    """
    option = config.option
    if not config.pluginmanager.hasplugin("xdist") or hasattr(config, "workerinput"):
        return
    if option.numprocesses is not None or option.usepdb or option.collectonly:
        return
    option.numprocesses = default_workers()
    if option.dist == "no":
        option.dist = "worksteal"


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Freeze what is alive once the tests are collected (the items, the modules they import): it lives
    as long as the session, and the garbage collector stops walking it. Every in-process ``segur run``
    is a ``pytest.main`` that collects garbage twice as it ends; walking this process's every object each
    time was a fifth of the CPU of a suite run in the tests (measured on tests/test_run_e2e.py)."""
    gc.collect()
    gc.freeze()


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    """A test IGC-Santé PKI of the module's own (servers' and clients' certificates)."""
    from harness.core import pki

    return pki.init_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def reference() -> Path:
    """The shared reference corpus; tests that need it skip with the reason when it is absent."""
    found = reference_dir()
    if found is None:
        pytest.skip("shared reference corpus not found: set SEGUR_REFERENCE_DIR or place it at ../shared/reference")
    return found


def _absent_in_ci(reason: str, *, required: bool = False) -> None:
    """Skip locally; with CI=true (or when the pass needs it) fail, since .ci/run installs what these tests need."""
    if required:
        pytest.fail(f"{reason}: the PostgreSQL pass (--store-engine postgresql) needs it")
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: .ci/run installs it, so its absence is a broken environment)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_cluster(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A throw-away PostgreSQL cluster of this pytest-xdist worker (tests/pg_cluster.py)."""
    from pg_cluster import PgCluster, find_bindir

    pg_pass = _postgresql_pass(request.config)
    bindir = find_bindir()
    if bindir is None:
        _absent_in_ci("PostgreSQL not found (no initdb on PATH nor in /usr/lib/postgresql/*/bin)", required=pg_pass)
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError:
        _absent_in_ci("psycopg / psycopg_pool not installed (pip install -e '.[test]')", required=pg_pass)
    assert bindir is not None
    cluster = PgCluster(bindir, max_connections=PG_PASS_MAX_CONNECTIONS if pg_pass else 60).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_url(pg_cluster) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped after the test."""
    url = pg_cluster.create_database()
    yield url
    pg_cluster.drop_database(url)


def sut_context(tmp_path: Path, session_key: str = "k1") -> Any:
    """A SUT context whose endpoints and PKI files are placeholders: for adapter tests that never connect."""
    from harness.run.sut import SutContext

    return SutContext(
        session_key=session_key,
        endpoints={"insi": f"https://127.0.0.1:1/s/{session_key}/lps"},
        ca_bundle=tmp_path / "ca.pem",
        client_cert=tmp_path / "c.pem",
        client_key=tmp_path / "c.key",
        client_p12=tmp_path / "c.p12",
        p12_password="pw",
        work_dir=tmp_path,
        pki_dir=tmp_path,
    )
