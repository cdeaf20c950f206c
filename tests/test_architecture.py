"""The layout of ARCHITECTURE.md holds: layer contracts kept (and able to fail), no import cycle,
every module readable in one sitting."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("harness", "mock_services", "suites")
MAX_LINES = 500
MEDIAN_LINES = 200


def lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` on a project folder, importing its packages from there."""
    executable = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": str(project)}
    return subprocess.run(
        [str(executable), "--config", str(project / "pyproject.toml"), "--no-cache"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_layer_contracts_are_kept():
    completed = lint_imports(ROOT)
    assert completed.returncode == 0, completed.stdout[-3000:]
    assert "broken" not in completed.stdout.lower().replace("0 broken", "")


@pytest.fixture(scope="module")
def project_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("layers")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, copy / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


@pytest.mark.parametrize(
    ("module", "import_line", "contract"),
    [
        ("mock_services/insi/app.py", "import harness.run.plugin", "the mock services use the lower layers only"),
        ("harness/core/results.py", "import harness.protocols.soap", "harness layers"),
        ("harness/protocols/soap.py", "import mock_services.insi", "only harness.run starts the mock services"),
        ("harness/run/runner.py", "import suites.ins.persons", "nothing imports the suites"),
    ],
)
def test_each_contract_fails_on_an_import_it_forbids(project_copy, module, import_line, contract):
    path = project_copy / module
    original = path.read_text(encoding="utf-8")
    path.write_text(original + f"\n{import_line}  # added by the test\n", encoding="utf-8")
    try:
        completed = lint_imports(project_copy)
    finally:
        path.write_text(original, encoding="utf-8")
    assert completed.returncode == 1, completed.stdout[-3000:]
    assert f"{contract}" in completed.stdout and "BROKEN" in completed.stdout


def import_cycles() -> list[list[str]]:
    """Strongly connected groups of more than one module in the import graph (Tarjan)."""
    graph = grimp.build_graph(*PACKAGES, include_external_packages=False)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))  # the walk is as deep as the longest import chain
    try:
        for module in sorted(graph.modules):
            if module not in index:
                visit(module)
    finally:
        sys.setrecursionlimit(limit)  # other tests rely on the default (deeply nested input is refused)
    return cycles


def test_no_import_cycle():
    assert import_cycles() == []


def product_modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def test_every_module_is_readable_in_one_sitting():
    sizes = {p.relative_to(ROOT).as_posix(): len(p.read_text(encoding="utf-8").splitlines()) for p in product_modules()}
    too_long = {name: n for name, n in sizes.items() if n > MAX_LINES}
    assert too_long == {}, f"over {MAX_LINES} lines: {too_long}"
    assert statistics.median(sizes.values()) < MEDIAN_LINES


def test_every_module_says_what_it_is_for():
    import ast

    undocumented = [
        p.relative_to(ROOT).as_posix()
        for p in product_modules()
        if p.read_text(encoding="utf-8").strip() and ast.get_docstring(ast.parse(p.read_text(encoding="utf-8"))) is None
    ]
    assert undocumented == []
