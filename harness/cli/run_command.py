"""`segur run`: judge a product against the suites; its options, and the exit statuses `--help` lists."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

TENANT_TOKEN_ENV = "SEGUR_TENANT_TOKEN"
HOST_CA_ENV = "SEGUR_HOST_CA"


def _cmd_run(args: argparse.Namespace) -> int:
    from harness.run.runner import RunOptions, run

    options = RunOptions(
        sut=args.sut,
        suites=args.suite,
        couloir=args.couloir,
        report_dir=Path(args.report_dir),
        defects=args.defect,
        data_dir=Path(args.data_dir) if args.data_dir else None,
        store=args.store,
        lang=args.lang,
        verbose=args.verbose,
        keyword=args.k,
        allow_incomplete=args.allow_incomplete,
        host=args.host,
        tenant=(args.tenant or os.environ.get(TENANT_TOKEN_ENV) or None) if args.host else None,
        host_ca=Path(args.host_ca)
        if args.host_ca
        else (Path(os.environ[HOST_CA_ENV]) if os.environ.get(HOST_CA_ENV) else None),
    )
    return run(options)


def _run_epilog() -> str:
    """What `segur run --help` ends with: the suites and couloirs of this installation, and the exit statuses."""
    from harness.core.catalog import COULOIRS
    from harness.core.paths import available_suites

    suites = available_suites()  # from core, so that `segur --help` does not import the runner and pytest

    return (
        f"suites: {', '.join(suites)} (or all)\n"
        f"couloirs: {', '.join(sorted(COULOIRS))} (any case)\n"
        "exit status:\n"
        "  0  conforme: every applicable requirement passed, or awaits a reviewer's attestation\n"
        "  1  non conforme: at least one requirement failed\n"
        "  2  usage error (bad option, unknown suite or couloir, bad SUT file)\n"
        "  3  harness error (the harness itself broke; never the product's fault)\n"
        "  4  incomplet: nothing failed, but requirements were not evaluated (listed, CRITICAL first);\n"
        "     --allow-incomplete turns this into 0 and the report says so"
    )


def add_commands(commands: Any) -> None:
    """Register these commands on the ``segur`` sub-command parser."""
    run = commands.add_parser(
        "run",
        help="run conformance suites against a system under test",
        description="Run conformance suites against a system under test and write the reports.",
        epilog=_run_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "--sut",
        default="reference",
        help="reference (default), manual, artifacts:DIR (files the product produced), an http(s):// test hook "
        "URL, or a command or [http] SUT .toml file",
    )
    run.add_argument("--suite", default="all", help="comma-separated suites (ins, ...) or all (default)")
    run.add_argument(
        "--couloir", default=None, help="judge for this couloir (DPI, LGC, ..., any case): others are omit"
    )
    run.add_argument("--report-dir", default="reports/latest", help="where reports go (default reports/latest)")
    run.add_argument("--defect", action="append", default=[], help="reference SUT defect (see `segur sut defects`)")
    run.add_argument("--data-dir", default=None, help="keep PKI and exchanges here (default: temporary)")
    run.add_argument(
        "--store",
        default=None,
        help="where the mocks' state goes: sqlite (files in the data folder, the default) or a postgresql:// URL "
        "(needs the postgresql extra; default: $SEGUR_STORE, else sqlite; docs/deployment.md)",
    )
    run.add_argument(
        "--host",
        default=None,
        metavar="URL",
        help="run against a running shared host (segur serve) instead of starting local mocks: the https://HOST:PORT "
        "of any of its HTTP mocks (docs/deployment.md, 'Running against a shared host')",
    )
    run.add_argument(
        "--tenant",
        default=None,
        metavar="TOKEN",
        help="with --host: the Bearer token the host's control endpoints take (its --control-token, or a tenant's "
        "token; default: $SEGUR_TENANT_TOKEN)",
    )
    run.add_argument(
        "--host-ca",
        default=None,
        metavar="PEM",
        help="with --host: the CA bundle the host's certificate must chain to (default: $SEGUR_HOST_CA, else the "
        "bundle the host publishes at /_segur/ca, trusted on first use)",
    )
    run.add_argument("--lang", default="fr", choices=["fr", "en"], help="language of report.html")
    run.add_argument("-k", default=None, help="only tests matching this pytest -k expression")
    run.add_argument("-v", "--verbose", action="store_true", help="one line per test, and the tracebacks of failures")
    run.add_argument(
        "--allow-incomplete",
        action="store_true",
        help="exit 0 when the verdict is incomplete (requirements not evaluated); the report says so",
    )
    run.set_defaults(func=_cmd_run)
