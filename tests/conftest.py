"""Shared fixtures of the harness's own tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.core.paths import reference_dir

pytest_plugins = ["pytester"]


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Run on every core by default (pytest-xdist's ``-n auto --dist worksteal``).

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
    option.numprocesses = "auto"
    if option.dist == "no":
        option.dist = "worksteal"


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


def _absent_in_ci(reason: str) -> None:
    """Skip locally; with CI=true fail, since .ci/run installs what these tests need."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: .ci/run installs it, so its absence is a broken environment)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Any]:
    """A throw-away PostgreSQL cluster of this pytest-xdist worker (tests/pg_cluster.py)."""
    from pg_cluster import PgCluster, find_bindir

    bindir = find_bindir()
    if bindir is None:
        _absent_in_ci("PostgreSQL not found (no initdb on PATH nor in /usr/lib/postgresql/*/bin)")
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError:
        _absent_in_ci("psycopg / psycopg_pool not installed (pip install -e '.[test]')")
    assert bindir is not None
    cluster = PgCluster(bindir).start()
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
