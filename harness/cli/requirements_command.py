"""`segur requirements`: the catalog with its coverage, per couloir, or mapped onto the official DSR export."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from harness.core.results import EXIT_USAGE


def _cmd_requirements(args: argparse.Namespace) -> int:
    from harness.core.catalog import normalise_couloir
    from harness.core.coverage import coverage_rows, render

    args.couloir = normalise_couloir(args.couloir)
    if args.official_couloirs is not None:
        return _official_couloirs(Path(args.official_couloirs))
    if args.dsr is not None:
        from harness.core.dsr_import import import_report, render_report

        mapping = Path(args.mapping) if args.mapping else None
        report = import_report(Path(args.dsr), mapping, couloir=args.couloir)
        sys.stdout.write(render_report(report, args.format))
        return 0
    if args.mapping is not None:
        print("segur requirements: --mapping goes with --dsr FILE (the official export)", file=sys.stderr)
        return EXIT_USAGE
    sys.stdout.write(render(coverage_rows(couloir=args.couloir), args.format, couloir=args.couloir))
    return 0


def _official_couloirs(workbook: Path) -> int:
    from harness.core.catalog import load_catalog
    from harness.core.couloir_lists import ids_in_use, load_couloirs, read_official_lists, render_lists

    couloirs = load_couloirs()
    found = read_official_lists(workbook, couloirs)
    sys.stdout.write(render_lists(found, ids_in_use(load_catalog()), couloirs))
    return 0


def add_commands(commands: Any) -> None:
    """Register these commands on the ``segur`` sub-command parser."""
    reqs = commands.add_parser("requirements", help="print the requirement catalog with its coverage")
    reqs.add_argument("--format", default="text", choices=["text", "csv", "json"])
    reqs.add_argument(
        "--couloir", default=None, help="only the requirements that apply to this couloir (DPI, LGC, SGL, ...)"
    )
    reqs.add_argument(
        "--dsr",
        metavar="FILE",
        default=None,
        help="official DSR requirement export (.xlsx, or CSV with ; or ,): say which official requirements "
        "are automated, attested or not covered, and which catalog requirements no official one maps to",
    )
    reqs.add_argument(
        "--mapping",
        metavar="MAP.csv",
        default=None,
        help="with --dsr: official_ref,requirement_id,note lines (default: suites/dsr-mapping.csv)",
    )
    reqs.add_argument(
        "--official-couloirs",
        metavar="FILE.xlsx",
        default=None,
        help="read the official couloir lists from the Squash import workbook (import_gsheet_sans_modele.xlsx) "
        "and print suites/couloir-lists.csv for the official ids the catalog uses",
    )
    reqs.set_defaults(func=_cmd_requirements)
