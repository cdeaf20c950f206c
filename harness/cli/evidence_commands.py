"""``segur report verify|diff``, ``segur rejudge`` and ``segur attest``: commands on a report folder."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from harness.core.errors import UsageError

DATA_DIR_ENV = "SEGUR_DATA_DIR"


def _cmd_report_verify(args: argparse.Namespace) -> int:
    from harness.evidence.pack import verify_pack

    result = verify_pack(Path(args.directory), [Path(p) for p in args.trust] if args.trust else None)
    if args.format == "json":
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        state = "intact" if result.intact else "ALTERED"
        print(f"{args.directory}: {state} ({result.files} files, {result.exchanges} exchanges with mock traces)")
        if result.signer:
            print(f"  signed by {result.signer}")
        for problem in result.altered:
            print(f"  - {problem}")
        for note in result.notes:
            print(f"  note: {note}")
    return 0 if result.intact else 1


def _cmd_report_diff(args: argparse.Namespace) -> int:
    from harness.evidence.report_diff import diff_reports, load_report, render_text

    diff = diff_reports(load_report(Path(args.old)), load_report(Path(args.new)))
    if args.format == "json":
        print(
            json.dumps({**diff.to_dict(), "exit_status": diff.exit_status(args.strict)}, ensure_ascii=False, indent=2)
        )
    else:
        sys.stdout.write(render_text(diff, args.old, args.new))
    return diff.exit_status(args.strict)


def _cmd_rejudge(args: argparse.Namespace) -> int:
    from harness.run.rejudge import rejudge, render_text

    result = rejudge(Path(args.directory), Path(args.report_dir) if args.report_dir else None)
    if args.format == "json":
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        sys.stdout.write(render_text(result, Path(args.directory)))
    return 1 if result.flips else 0


def _cmd_attest(args: argparse.Namespace) -> int:
    from harness.evidence.attest import attest

    data_dir = args.data_dir or os.environ.get(DATA_DIR_ENV)
    if not data_dir:
        raise UsageError(
            "attest re-seals the pack with your harness PKI's evidence key: give --data-dir DIR "
            f"(or set {DATA_DIR_ENV}); a PKI is created there when it has none"
        )
    entry = attest(
        Path(args.directory),
        args.requirement,
        reviewer=args.reviewer,
        verdict=args.verdict,
        file=Path(args.file),
        data_dir=Path(data_dir),
        comment=args.comment,
    )
    print(
        f"{entry['requirement']}: {entry['verdict']} attested by {entry['reviewer']} "
        f"(file {entry['file']}, SHA-256 {entry['sha256']}); {args.directory} sealed again"
    )
    return 0


def add_commands(commands: Any) -> None:
    """Register the evidence commands on the ``segur`` sub-command parser."""
    report = commands.add_parser("report", help="check or compare report folders written by segur run")
    report_sub = report.add_subparsers(dest="report_command", required=True, metavar="SUBCOMMAND")

    verify = report_sub.add_parser(
        "verify",
        help="check every hash and signature of an evidence pack; exit 0 intact, 1 altered",
        description="Checks the signed manifest, the SHA-256 of every file, and the signature the mocks put "
        "on every recorded exchange. Names what was altered, missing or added.",
    )
    verify.add_argument("directory", metavar="DIR")
    verify.add_argument(
        "--trust",
        action="append",
        metavar="CERT.pem",
        help="only accept signers whose chain includes this certificate (your harness PKI's ca/root.pem); repeatable",
    )
    verify.add_argument("--format", default="text", choices=["text", "json"])
    verify.set_defaults(func=_cmd_report_verify)

    diff = report_sub.add_parser(
        "diff",
        help="what changed between two runs; exit 1 on a regression (or on any change with --strict)",
        description="Compares requirement outcomes and findings of two report folders (or report.json files), "
        "ignoring identifiers, timestamps, ports, durations and temporary paths.",
    )
    diff.add_argument("old", metavar="OLD")
    diff.add_argument("new", metavar="NEW")
    diff.add_argument("--strict", action="store_true", help="exit 1 on any change, not only regressions")
    diff.add_argument("--format", default="text", choices=["text", "json"])
    diff.set_defaults(func=_cmd_report_diff)

    rejudge = commands.add_parser(
        "rejudge",
        help="apply the current rules to a past run's recordings; exit 1 when a verdict would flip",
        description="Runs the suites of a recorded run again on its recordings (exchanges and the product's "
        "answers), without the product or the mocks, and lists the verdicts the current rules would change.",
    )
    rejudge.add_argument("directory", metavar="DIR", help="a report folder written by segur run")
    rejudge.add_argument("--report-dir", default=None, help="keep the re-judged reports here (default: not kept)")
    rejudge.add_argument("--format", default="text", choices=["text", "json"])
    rejudge.set_defaults(func=_cmd_rejudge)

    attest = commands.add_parser(
        "attest",
        help="record a reviewer's verdict on an attestation requirement, with its proof file",
        description="Copies FILE into the pack, records the verdict with the reviewer's name, rewrites the "
        "reports and seals the pack again with the evidence key of the PKI in --data-dir.",
    )
    attest.add_argument("directory", metavar="DIR", help="the report folder (evidence pack)")
    attest.add_argument("requirement", metavar="REQ-ID", help="an attestation requirement, e.g. INS-15")
    attest.add_argument("--reviewer", required=True, help="the reviewer's name")
    attest.add_argument("--verdict", required=True, choices=["pass", "fail"])
    attest.add_argument("--file", required=True, help="the proof: screenshot, video, document")
    attest.add_argument("--comment", default="", help="what the reviewer saw")
    attest.add_argument("--data-dir", default=None, help=f"harness data folder holding your PKI (or ${DATA_DIR_ENV})")
    attest.set_defaults(func=_cmd_attest)
