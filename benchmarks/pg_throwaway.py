"""A throw-away PostgreSQL cluster for the benchmarks that measure the shared store (tests/pg_cluster.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def throwaway_cluster() -> Iterator[Any]:
    """A local cluster with fsync on (the durability a real host has), stopped afterwards."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from pg_cluster import PgCluster, find_bindir

    bindir = find_bindir()
    if bindir is None:
        raise SystemExit("no PostgreSQL found (initdb); give --store postgresql://...")
    cluster = PgCluster(bindir, durable=True).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@contextmanager
def postgresql_store(url: str | None) -> Iterator[str]:
    """The given URL, or a database of a throw-away cluster."""
    if url is not None:
        yield url
        return
    with throwaway_cluster() as cluster:
        yield cluster.create_database()
