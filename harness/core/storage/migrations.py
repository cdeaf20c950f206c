"""Versioned schema migrations, one numbered list per component (exchanges, DMP registry, mail...).

The table ``segur_migration`` says which versions of which component a database holds. Opening
a store applies the missing ones in one transaction, under a lock named after the component, so
two processes opening the same PostgreSQL database at once migrate it once. A SQLite file written
before migrations were versioned is *adopted*: its component says which version its tables match.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness.core.errors import UsageError
from harness.core.storage.database import POSTGRESQL, SQLITE, Database, Transaction

MIGRATION_TABLE = "segur_migration"
_CREATE_TABLE = {
    SQLITE: (
        f"CREATE TABLE IF NOT EXISTS {MIGRATION_TABLE} (component TEXT NOT NULL, version INTEGER NOT NULL, "
        "description TEXT NOT NULL, applied_at REAL NOT NULL, PRIMARY KEY (component, version))"
    ),
    POSTGRESQL: (
        f"CREATE TABLE IF NOT EXISTS {MIGRATION_TABLE} (component TEXT NOT NULL, version INTEGER NOT NULL, "
        "description TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (component, version))"
    ),
}


class SchemaTooNew(UsageError):
    """The database was migrated by a newer harness than this one."""


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    sqlite: tuple[str, ...]
    postgresql: tuple[str, ...]

    def statements(self, dialect: str) -> tuple[str, ...]:
        return self.sqlite if dialect == SQLITE else self.postgresql


def same_for_both(version: int, description: str, *statements: str) -> Migration:
    """A migration whose SQL reads the same on both engines."""
    return Migration(version, description, statements, statements)


# Given the columns of a table, the version an unversioned (pre-migration) database matches; 0: none.
Adopt = Callable[[Callable[[str], set[str]]], int]


def schema_version(database: Database, component: str) -> int:
    if not database.table_columns(MIGRATION_TABLE):
        return 0
    row = database.one(f"SELECT COALESCE(MAX(version), 0) FROM {MIGRATION_TABLE} WHERE component = ?", (component,))
    return int(row[0]) if row else 0


def migrate(
    database: Database,
    component: str,
    migrations: Sequence[Migration],
    *,
    target: int | None = None,
    adopt: Adopt | None = None,
) -> int:
    """Bring ``component``'s tables to ``target`` (default: the last migration); returns the version."""
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(migrations) + 1)):
        raise ValueError(f"{component} migrations must be numbered 1..n in order, not {versions}")
    goal = len(migrations) if target is None else target
    with database.transaction() as tx:
        tx.lock(f"migrate:{component}")
        tx.execute(_CREATE_TABLE[database.dialect])
        row = tx.one(f"SELECT COALESCE(MAX(version), 0) FROM {MIGRATION_TABLE} WHERE component = ?", (component,))
        current = int(row[0]) if row else 0
        if current == 0 and adopt is not None:
            adopted = adopt(database.table_columns)
            for migration in migrations[:adopted]:
                _mark(tx, component, migration, "adopted: " + migration.description)
            current = adopted
        if current > len(migrations):
            raise SchemaTooNew(
                f"{database.describe()}: {component} schema version {current} was written by a newer harness "
                f"(this one knows {len(migrations)})"
            )
        for migration in migrations[current:goal]:
            for statement in migration.statements(database.dialect):
                tx.execute(statement)
            _mark(tx, component, migration, migration.description)
        return max(current, goal)


def _mark(tx: Transaction, component: str, migration: Migration, description: str) -> None:
    tx.execute(
        f"INSERT INTO {MIGRATION_TABLE} (component, version, description, applied_at) VALUES (?, ?, ?, ?)",
        (component, migration.version, description, time.time()),
    )
