"""``segur run``: run conformance suites against a SUT, in process, through the pytest plugin."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import pytest

from harness.catalog import COULOIRS
from harness.errors import UsageError
from harness.paths import suites_dir
from harness.results import Outcome, RunResult
from harness.sut import load_sut

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_HARNESS = 0, 1, 2, 3
PLANNED_SUITES: set[str] = set()  # suites announced but not built yet


class UsageProblem(UsageError):
    """Bad options: exit status 2 with this message."""


def available_suites() -> list[str]:
    return sorted(p.name for p in suites_dir().iterdir() if p.is_dir() and any(p.glob("test_*.py")))


def resolve_suites(spec: str) -> list[str]:
    available = available_suites()
    if spec == "all":
        return available
    names = [s.strip() for s in spec.split(",") if s.strip()]
    for name in names:
        if name in available:
            continue
        if name in PLANNED_SUITES:
            raise UsageProblem(f"suite {name!r} is not available in this version; available: {', '.join(available)}")
        raise UsageProblem(f"unknown suite {name!r}; available: {', '.join(available)} (or 'all')")
    if not names:
        raise UsageProblem("--suite needs at least one suite name")
    return names


@dataclass
class RunOptions:
    sut: str = "reference"
    suites: str = "all"
    couloir: str | None = None
    report_dir: Path = Path("reports/latest")
    defects: list[str] = field(default_factory=list)
    data_dir: Path | None = None
    lang: str = "fr"
    verbose: bool = False
    keyword: str | None = None


class _ResultGrabber:
    """A plugin object that keeps the RunResult the segur plugin built."""

    result: RunResult | None = None

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        from harness.plugin import session_state_key

        self.result = session.config.stash[session_state_key].result


def pytest_arguments(options: RunOptions, suites: list[str]) -> list[str]:
    root = suites_dir()
    args = [str(root / name) for name in suites]
    args += [
        "--rootdir",
        str(root),
        "-c",
        str(root / "pytest.ini"),
        "--import-mode=importlib",
        "-p",
        "no:cacheprovider",
        "--segur-sut",
        options.sut,
        "--segur-report-dir",
        str(options.report_dir),
        "--segur-lang",
        options.lang,
        "-q" if not options.verbose else "-v",
        "--no-header",
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",
        "-rN",
    ]
    if options.couloir:
        args += ["--segur-couloir", options.couloir]
    if options.data_dir:
        args += ["--segur-data-dir", str(options.data_dir)]
    for defect in options.defects:
        args += ["--segur-defect", defect]
    if options.keyword:
        args += ["-k", options.keyword]
    return args


def run(options: RunOptions, out: TextIO = sys.stdout) -> int:
    """Run and report; returns the exit status of the command-line contract."""
    if options.couloir and options.couloir not in COULOIRS:
        raise UsageProblem(f"unknown couloir {options.couloir!r}; known: {', '.join(sorted(COULOIRS))}")
    suites = resolve_suites(options.suites)
    # A bad SUT description is the user's error (exit 2), found before any test starts.
    load_sut(options.sut, frozenset(d.strip() for opt in options.defects for d in opt.split(",") if d.strip()))
    grabber = _ResultGrabber()
    status = pytest.main(pytest_arguments(options, suites), plugins=[grabber])
    result = grabber.result
    if status == pytest.ExitCode.USAGE_ERROR:
        return EXIT_USAGE
    if result is None:
        out.write(f"segur: the suites produced no result (pytest exit status {int(status)})\n")
        return EXIT_USAGE if status == pytest.ExitCode.NO_TESTS_COLLECTED else EXIT_HARNESS
    print_summary(result, options.report_dir, out)
    if status in (pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.INTERRUPTED):
        return EXIT_HARNESS
    return result.exit_code


def print_summary(result: RunResult, report_dir: Path, out: TextIO) -> None:
    symbols = {
        Outcome.PASS: "PASS",
        Outcome.FAIL: "FAIL",
        Outcome.SKIP: "SKIP",
        Outcome.OMIT: "OMIT",
        Outcome.ERROR: "ERROR",
    }
    out.write(f"\nSUT: {result.sut.get('name')}  suites: {', '.join(result.suites)}")
    out.write(f"  couloir: {result.couloir or 'tous'}\n")
    for req in result.requirements:
        line = f"  {symbols[req.outcome]:<5} {req.id:<8} {req.criticite:<8} {req.statement[:90]}"
        out.write(line + "\n")
        for finding in req.findings[:3]:
            out.write(f"        - {finding.describe()[:200]}\n")
    counts = ", ".join(f"{n} {k}" for k, n in result.counts().items() if n)
    verdict = {0: "conforme", 1: "NON CONFORME", 3: "ERREUR DU HARNAIS"}[result.exit_code]
    out.write(f"\n{counts} -> {verdict} ({result.duration:.1f} s)\nRapports: {report_dir}\n")
