"""The PostgreSQL pass of the self-tests: which tests touch a harness store, and where their stores go.

``SEGUR_TEST_STORE=postgresql`` (or ``pytest --store-engine postgresql``) runs the tests that open a
harness store on PostgreSQL instead of SQLite (``tests/conftest.py`` wires it):

- **Which tests.** A test *uses a store* when its function, its class or a fixture of the project it
  uses names something (or imports, even inside itself) from a module whose imports, followed through
  the project's own modules (``harness``, ``mock_services``, ``suites``, the helpers of ``tests/``),
  reach ``harness.core.storage``; or starts processes or inner pytest runs (``subprocess``,
  ``multiprocessing``, ``pytester``), which may run ``segur``. The tests' own helpers are looked into.
  Such tests get the ``uses_store`` marker (in the PostgreSQL pass, or when ``-m`` names it: reading
  the code costs about 4 s per process); the PostgreSQL pass deselects the others
  (CDA/FHIR validators, parsers...). Read from the code at collection: no hand list to go stale.
- **Where.** Each test module, then each test, gets a schema of its own in its worker's throw-away
  cluster, named in ``SEGUR_STORE`` (so environments, ``segur run``/``serve`` subprocesses and inner
  pytest runs use it; module-wide first, since module-scoped fixtures are set up before any test's).
  A store a test opens on a SQLite path (``ExchangeStore(path)``, ``DmpRegistry(path)``,
  ``MailStore(path)``, ``:memory:``) opens a PostgreSQL schema instead: the one of the environment whose
  data folder holds the path, else one per path (reopened when the path is), a new one per ``:memory:``.
- **Engine-specific tests** (a SQLite file's layout, adoption of pre-migration files, the refusal of
  ``--workers`` with SQLite) carry ``@pytest.mark.sqlite_only("why")`` and are skipped with that reason.
"""

from __future__ import annotations

import ast
import gc
import inspect
import os
import sys
import textwrap
import uuid
import weakref
from functools import cache
from pathlib import Path
from typing import Any

ENGINE_ENV = "SEGUR_TEST_STORE"
ENGINES = ("sqlite", "postgresql")
STORE_PACKAGE = "harness.core.storage"
# Starting processes or inner pytest runs may run segur (and so open a store) without importing it.
PROCESS_WORDS = ("subprocess", "pytester", "multiprocessing")
# Modules whose stores open their own SQLite file when given no shared database.
SQLITE_OPENERS = ("harness.core.recorder", "mock_services.dmp.registry", "mock_services.mssante.store")

TESTS_DIR = Path(__file__).resolve().parent
ROOTS = (TESTS_DIR.parent, TESTS_DIR)  # project packages, then the tests' helper modules


@cache
def _module_file(name: str) -> Path | None:
    parts = name.split(".")
    for root in ROOTS:
        for candidate in (root.joinpath(*parts).with_suffix(".py"), root.joinpath(*parts, "__init__.py")):
            if candidate.is_file():
                return candidate
    return None


@cache
def _imported_names(path: Path) -> set[str]:
    """Every module a file imports (at any depth of the file: imports inside functions count)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _package_of(path)
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1] if package else []
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:  # ``from P import m``: the module P.m if there is one, else P's own name
                names.add(f"{base}.{alias.name}" if _module_file(f"{base}.{alias.name}") else base)
    # The package __init__ files run on the way to a submodule only set names up: they count when a
    # name is imported from them, not for every submodule below them.
    return {name for name in names if name}


def _package_of(path: Path) -> str:
    """The package a file's relative imports start from (``a/b/c.py`` and ``a/b/__init__.py``: ``a.b``)."""
    if path.parent == TESTS_DIR:  # the tests' helpers are top-level modules
        return ""
    return ".".join(path.relative_to(TESTS_DIR.parent).with_suffix("").parts[:-1])


@cache
def _reaches_store(path: Path) -> bool:
    seen: set[Path] = set()
    pending = [path]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        for name in _imported_names(current):
            if name == STORE_PACKAGE or name.startswith(STORE_PACKAGE + "."):
                return True
            found = _module_file(name)
            if found is not None and found not in seen:
                pending.append(found)
    return False


def _file_reaches_store(filename: str | None) -> bool:
    if not filename or not _in_project_file(filename):
        return False  # the standard library and installed packages open no harness store
    return _reaches_store(Path(filename).resolve())


def _module_reaches_store(name: str) -> bool:
    if name.split(".")[0] in PROCESS_WORDS:
        return True
    module = sys.modules.get(name)
    return _file_reaches_store(getattr(module, "__file__", None)) if module is not None else False


def _dotted(node: ast.expr) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])


def _object_reaches_store(value: Any, home: str, seen: set[Any]) -> bool:
    if inspect.ismodule(value):
        return _module_reaches_store(value.__name__)
    if inspect.isfunction(value) or inspect.isclass(value):
        if value.__module__ == home or _is_test_helper(value):  # the tests' own helpers: look inside them
            return code_uses_store(value, seen)
        return _module_reaches_store(value.__module__)
    owner = type(value).__module__
    return owner != "builtins" and _module_reaches_store(owner)


def code_uses_store(code: Any, seen: set[Any] | None = None) -> bool:
    """Whether a test function, fixture, or helper class of a test module may open a harness store.

    It does when a name it uses (or an import inside it) comes from a module that reaches
    ``harness.core.storage``, or is ``subprocess``/``multiprocessing``; helpers of its own module are
    followed. Objects from the standard library and installed packages never count.
    """
    seen = set() if seen is None else seen
    if code in seen:
        return False
    seen.add(code)
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(code)))
    except (OSError, TypeError, SyntaxError):
        return True  # source not readable: assume it may
    home = code.__module__
    namespace = vars(sys.modules[home]) if home in sys.modules else {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if any(_module_reaches_store(name) or _name_reaches_store(name) for name in names):
                return True
        elif isinstance(node, ast.Attribute | ast.Name) and isinstance(node.ctx, ast.Load):
            dotted = _dotted(node)
            if dotted is None:
                continue
            head = dotted.split(".")[0]
            if head not in namespace:
                continue
            value = namespace[head]
            if inspect.ismodule(value) and "." in dotted:  # harness.cli.main: the deepest module named
                pieces = [value.__name__, *dotted.split(".")[1:]]
                modules = [".".join(pieces[:i]) for i in range(len(pieces), 0, -1)]
                if any(_module_reaches_store(name) for name in modules if name in sys.modules):
                    return True
            elif _object_reaches_store(value, home, seen):
                return True
    return False


def _name_reaches_store(name: str) -> bool:
    found = _module_file(name)
    return found is not None and _reaches_store(found)


_VERDICTS: dict[Any, bool] = {}
# tests/conftest.py's own autouse fixtures: every test has them, so they say nothing about it
ENGINE_FIXTURES = frozenset({"_module_stores_on_postgresql", "_test_store_on_postgresql"})
PROCESS_FIXTURES = {"pytester", "testdir"}  # inner pytest runs load the harness plugin, whose fixtures open stores


def item_uses_store(item: Any, engine_fixtures: frozenset[str] = ENGINE_FIXTURES) -> bool:
    """A collected test: its function, its class, and every fixture of the project it uses (not the engine's)."""
    function = getattr(item, "function", None)
    if function is None or PROCESS_FIXTURES & set(item.fixturenames):
        return True
    units = [function, *([item.cls] if item.cls is not None else [])]
    for name, definitions in item._fixtureinfo.name2fixturedefs.items():
        if name not in engine_fixtures:
            units += [d.func for d in definitions if _in_project(getattr(d.func, "__code__", None))]
    for unit in units:
        if unit not in _VERDICTS:
            _VERDICTS[unit] = code_uses_store(unit)
        if _VERDICTS[unit]:
            return True
    return False


def _is_test_helper(value: Any) -> bool:
    module = sys.modules.get(value.__module__)
    filename = getattr(module, "__file__", None)
    return bool(filename) and Path(filename).resolve().parent == TESTS_DIR


def _in_project(code: Any) -> bool:
    return code is not None and _in_project_file(code.co_filename)


def _in_project_file(filename: str) -> bool:
    path = Path(filename).resolve()
    return any(path.is_relative_to(root) for root in ROOTS) and not path.is_relative_to(TESTS_DIR.parent / ".venv")


def chosen_engine(option: str | None) -> str:
    engine = option or os.environ.get(ENGINE_ENV) or "sqlite"
    if engine not in ENGINES:
        raise ValueError(f"--store-engine / {ENGINE_ENV}: expected one of {', '.join(ENGINES)}, not {engine!r}")
    return engine


class TestStores:
    """The PostgreSQL schemas of one test module: one per test (SEGUR_STORE), one per SQLite path its stores open."""

    __test__ = False  # not a test class, whatever its name

    def __init__(self, cluster: Any):
        self.cluster = cluster
        self.by_path: dict[str, str] = {}
        self.by_data_dir: dict[str, str] = {}  # what a Storage of this process put in PostgreSQL
        self.opened_since_release = 0

    def new_url(self) -> str:
        return self.cluster.create_schema(f"t_{uuid.uuid4().hex[:16]}")

    def open_for(self, path: Path | str, synchronous: str = "FULL") -> Any:
        """What a store gets where it would open ``SqliteDatabase(path)``: a pooled PostgreSQL database."""
        from harness.core.storage import open_postgresql

        key = str(path)
        if key == ":memory:":  # each in-memory SQLite database is a new, private one
            url = self.new_url()
        else:
            key = str(Path(path).resolve())
            if str(Path(key).parent) in self.by_data_dir:  # a store file of an environment's data folder
                self.by_path.setdefault(key, self.by_data_dir[str(Path(key).parent)])
            if key not in self.by_path:
                self.by_path[key] = self.new_url()
            url = self.by_path[key]
        database = open_postgresql(url)
        # Tests leave stores they made for one test unclosed (SQLite frees them with the object): close
        # the pool when its store goes, so leftover pools do not hold the cluster's connections.
        weakref.finalize(database, database._pool.close)
        self.opened_since_release += 1
        return database

    def stand_in(self) -> type:
        stores = self

        class PostgresForSqlite:
            """Put where a store module names SqliteDatabase; ``isinstance`` checks then say 'not SQLite'."""

            def __new__(cls, path: Path | str = ":memory:", synchronous: str = "FULL") -> Any:
                return stores.open_for(path, synchronous)

        return PostgresForSqlite

    def record_storage(self, patch: Any) -> None:
        """Note which schema each Storage of this process uses for its data folder, so that a test
        opening ``DATA/exchanges.sqlite3`` after a run reads what that run recorded (as with SQLite)."""
        from harness.core.storage import Storage

        opened = Storage.__init__
        by_data_dir = self.by_data_dir

        def noting(storage: Any, data_dir: Path, store: str | None = None) -> None:
            opened(storage, data_dir, store)
            if storage.url:
                by_data_dir[str(Path(data_dir).resolve())] = storage.url

        patch.setattr(Storage, "__init__", noting)

    def release(self) -> None:
        """At the end of a test: close the pools of the stores it left behind (the module's own stay open)."""
        if self.opened_since_release:
            self.opened_since_release = 0
            gc.collect()  # stores caught in reference cycles (an app holding its store) go only with a collection
