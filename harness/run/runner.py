"""``segur run``: run conformance suites against a SUT, in process, through the pytest plugin."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import textwrap
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO

import pytest

from harness.core import wording
from harness.core.catalog import normalise_couloir
from harness.core.errors import UsageError
from harness.core.paths import available_suites, suites_dir
from harness.core.results import EXIT_HARNESS, EXIT_USAGE, Outcome, RunResult, SkipKind, Verdict
from harness.core.storage import STORE_ENV, open_postgresql, parse_store
from harness.run.sut import load_sut

PLANNED_SUITES: set[str] = set()  # suites announced but not built yet


class UsageProblem(UsageError):
    """Bad options: exit status 2 with this message."""


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


def check_store(store: str | None) -> None:
    """A store that cannot be used is the user's error (exit 2), found before any test starts."""
    url = parse_store(store if store is not None else os.environ.get(STORE_ENV))
    if url is not None:
        open_postgresql(url).close()


def check_host_options(options: RunOptions, suites: list[str]) -> bytes:
    """--host: no local state to choose, a SUT that runs here, and a host that answers, takes the token
    and serves what the suites need (each a usage error, exit 2, before any test starts)."""
    from harness.run.remote import check_host

    if options.store:
        raise UsageProblem(
            "--store chooses where local mocks keep their state: with --host, the host's own store is used"
        )
    if options.sut == "manual":
        raise UsageProblem("--sut manual needs the operator console of a local run: it does not combine with --host")
    return check_host(options.host or "", options.tenant, options.host_ca, suites)


@dataclass
class RunOptions:
    sut: str = "reference"
    suites: str = "all"
    couloir: str | None = None
    report_dir: Path = Path("reports/latest")
    defects: list[str] = field(default_factory=list)
    data_dir: Path | None = None
    store: str | None = None  # a postgresql:// URL, or sqlite; None: $SEGUR_STORE, else sqlite
    lang: str = "fr"
    verbose: bool = False
    keyword: str | None = None
    allow_incomplete: bool = False
    extra_args: list[str] = field(default_factory=list)  # plugin options of another command (segur judge)
    host: str | None = None  # a shared host's URL (segur run --host): its mocks instead of local ones
    tenant: str | None = None  # the Bearer token the host's control endpoints take
    host_ca: Path | None = None  # the CA bundle the host's certificate must chain to


class _ResultGrabber:
    """A plugin object that keeps the RunResult the segur plugin built, and what failed to load."""

    def __init__(self) -> None:
        self.result: RunResult | None = None
        self.collection_errors: list[str] = []

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            last_line = str(report.longrepr).strip().splitlines()[-1:] or [""]
            self.collection_errors.append(f"{report.nodeid or 'the suites'}: {last_line[0]} (segur run -v shows why)")

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        from harness.run.session import session_state_key

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
        # Only the harness's plugin: a verdict must not depend on which pytest plugins are installed where
        # segur runs (one that reorders, times out or reruns tests would change it), and loading every one
        # of them cost a fifth of a short run.
        "--disable-plugin-autoload",
        "-p",
        "harness.run.plugin",
        "-p",
        "no:cacheprovider",
        "--segur-sut",
        options.sut,
        "--segur-report-dir",
        str(options.report_dir),
        "--segur-lang",
        options.lang,
        # By default the summary below is the only report on the terminal: pytest shows its
        # progress characters and nothing else (no tracebacks, no second count); -v gives both.
        *(("-v", "--tb=short") if options.verbose else ("-qq", "--tb=no")),
        "--no-header",
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",
        "-rN",
    ]
    if options.couloir:
        args += ["--segur-couloir", options.couloir]
    if options.allow_incomplete:
        args.append("--segur-allow-incomplete")
    if options.data_dir:
        args += ["--segur-data-dir", str(options.data_dir)]
    if options.store:
        args += ["--segur-store", options.store]
    if options.host:
        args += ["--segur-host", options.host]
        if options.tenant:
            args += ["--segur-tenant", options.tenant]
        if options.host_ca:
            args += ["--segur-host-ca", str(options.host_ca)]
    for defect in options.defects:
        args += ["--segur-defect", defect]
    if options.keyword:
        args += ["-k", options.keyword]
    return [*args, *options.extra_args]


def run(options: RunOptions, out: TextIO | None = None) -> int:
    """Run and report; returns the exit status of the command-line contract."""
    out = out or sys.stdout  # looked up now: whoever captures sys.stdout (pytest's capsys) gets the summary
    options.couloir = normalise_couloir(options.couloir)
    suites = resolve_suites(options.suites)
    # A bad SUT description is the user's error (exit 2), found before any test starts.
    load_sut(options.sut, frozenset(d.strip() for opt in options.defects for d in opt.split(",") if d.strip()))
    with tempfile.TemporaryDirectory(prefix="segur-host-") as scratch:
        if options.host:
            ca_pem = check_host_options(options, suites)
            if ca_pem:  # the tests pin the CA bundle the check trusted: the host cannot swap it in between
                pinned = Path(scratch) / "host-ca.pem"
                pinned.write_bytes(ca_pem)
                options = replace(options, host_ca=pinned)
        else:
            check_store(options.store)
        grabber = _ResultGrabber()
        status = pytest.main(pytest_arguments(options, suites), plugins=[grabber])
    result = grabber.result
    for problem in grabber.collection_errors:
        # Without tracebacks on the terminal, a suite that cannot even be imported must still say so.
        out.write(f"segur: could not load {problem}\n")
    if status == pytest.ExitCode.USAGE_ERROR:
        return EXIT_USAGE
    if result is None:
        out.write(f"segur: the suites produced no result (pytest exit status {int(status)})\n")
        return EXIT_USAGE if status == pytest.ExitCode.NO_TESTS_COLLECTED else EXIT_HARNESS
    print_summary(result, options.report_dir, out, options.lang)
    if status in (pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.INTERRUPTED) or grabber.collection_errors:
        return EXIT_HARNESS
    return result.exit_code


_COUNT_WORDS = {
    "fr": {
        Outcome.PASS: ("conforme", "conformes"),
        Outcome.FAIL: ("non conforme", "non conformes"),
        Outcome.SKIP: ("non évaluée", "non évaluées"),
        Outcome.OMIT: ("hors couloir", "hors couloir"),
        Outcome.ERROR: ("en erreur", "en erreur"),
    },
    "en": {
        Outcome.PASS: ("pass", "pass"),
        Outcome.FAIL: ("fail", "fail"),
        Outcome.SKIP: ("not evaluated", "not evaluated"),
        Outcome.OMIT: ("out of couloir", "out of couloir"),
        Outcome.ERROR: ("error", "error"),
    },
}
_SUMMARY_WORDS = {
    "fr": {
        "sut": "Système testé",
        "suites": "Suites",
        "couloir": "Couloir",
        "all": "tous",
        "requirements": "Exigences",
        "verdict": "Verdict",
        "reports": "Rapports",
        "more": ("autre constat", "autres constats"),
        "blocked": "non évaluable à cause de",
        "not_evaluated": "Non évaluées",
        "set_aside": "Écartées du verdict",
        "allowed": "--allow-incomplete : le statut de sortie est 0 malgré un verdict incomplet",
        "details": "détails : segur run -v, ou les rapports",
        "colon": " : ",
    },
    "en": {
        "sut": "System under test",
        "suites": "Suites",
        "couloir": "Couloir",
        "all": "all",
        "requirements": "Requirements",
        "verdict": "Verdict",
        "reports": "Reports",
        "more": ("more finding", "more findings"),
        "blocked": "not evaluable because of",
        "not_evaluated": "Not evaluated",
        "set_aside": "Set aside from the verdict",
        "allowed": "--allow-incomplete: the exit status is 0 although the verdict is incomplete",
        "details": "details: segur run -v, or the reports",
        "colon": ": ",
    },
}
_SYMBOLS = {o: o.value.upper() for o in Outcome}


def _terminal_width() -> int:
    return max(60, min(shutil.get_terminal_size((100, 24)).columns, 140))


def print_summary(result: RunResult, report_dir: Path, out: TextIO, lang: str = "fr") -> None:
    """One line per requirement, the first finding of each failure and the reason of each skip, one count."""
    words, width = _SUMMARY_WORDS[lang], _terminal_width()
    colon = str(words["colon"])
    out.write(f"\n{words['sut']}{colon}{wording.describe_sut(result.sut, lang)}\n")
    out.write(f"{words['suites']}{colon}{', '.join(result.suites)}   ")
    out.write(f"{words['couloir']}{colon}{result.couloir or words['all']}\n\n")
    detail_indent = " " * 8
    for req in result.requirements:
        statement, reason = req.localized(lang)
        head = f"  {_SYMBOLS[req.outcome]:<5} {req.id:<8} {wording.criticite(req.criticite, lang):<9} "
        out.write(head + textwrap.shorten(statement, max(20, width - len(head)), placeholder=" […]") + "\n")
        details: list[str] = []
        if req.findings and req.outcome in (Outcome.FAIL, Outcome.ERROR):
            details.append(req.findings[0].describe(lang))
            if (more := len(req.findings) - 1) > 0:
                details[-1] += f" (+{more} {words['more'][more > 1]})"
        elif req.skip_kind is SkipKind.BLOCKED and req.blocked_by:
            # The blocking requirement's own line, above, already shows what the product did wrong.
            details.append(f"{words['blocked']} {', '.join(req.blocked_by)}")
        elif req.outcome in (Outcome.SKIP, Outcome.ERROR) and reason:
            details.append(reason)
        for detail in details:
            lines = textwrap.wrap(detail, width - len(detail_indent) - 2, max_lines=3, placeholder=" […]")
            out.write("".join(f"{detail_indent}{'→ ' if i == 0 else '  '}{line}\n" for i, line in enumerate(lines)))
    counts = ", ".join(f"{n} {_COUNT_WORDS[lang][Outcome(k)][n > 1]}" for k, n in result.counts().items() if n)
    verdict = wording.VERDICT[lang][result.verdict].upper()
    out.write(f"\n{words['requirements']}{colon}{counts}\n")
    out.write(f"{words['verdict']}{colon}{verdict} ({result.duration:.1f} s)\n")
    not_evaluated = result.not_evaluated()
    if not_evaluated:
        out.write(f"{words['not_evaluated']} ({len(not_evaluated)}){colon.rstrip()}\n")
        for code in ("CRITICAL", "MAJOR", "MINOR"):
            ids = [r.id for r in not_evaluated if r.criticite == code]
            if ids:
                label = f"  {wording.criticite(code, lang)} ({len(ids)}){colon}"
                listed = textwrap.fill(", ".join(ids), width, initial_indent=label, subsequent_indent=" " * len(label))
                out.write(listed + "\n")
    set_aside = result.set_aside()
    if set_aside:
        listed = ", ".join(
            f"{r.id} ({wording.SKIP_KIND[lang][r.skip_kind] if r.skip_kind else '?'})" for r in set_aside
        )
        label = f"{words['set_aside']}{colon}"
        out.write(textwrap.fill(listed, width, initial_indent=label, subsequent_indent="  ") + "\n")
    if result.allow_incomplete and result.verdict is Verdict.INCOMPLET:
        out.write(f"{words['allowed']}\n")
    if result.verdict is not Verdict.CONFORME:
        out.write(f"({words['details']})\n")
    out.write(f"{words['reports']}{colon}{report_dir}\n")
