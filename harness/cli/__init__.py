"""The ``segur`` command: the parser, one module per command group, and ``main`` (the console script).

The stable command-line contract is in the blueprint; each command imports what it needs only
when it runs, so that ``segur --help`` stays quick.
"""

from __future__ import annotations

import argparse
import os
import sys

from harness import __version__
from harness.core.results import EXIT_HARNESS, EXIT_USAGE


def build_parser() -> argparse.ArgumentParser:
    from harness.cli import (
        evidence_commands,
        judge_commands,
        requirements_command,
        run_command,
        serve_commands,
        sut_commands,
        tenant_commands,
        validate_command,
    )

    parser = argparse.ArgumentParser(
        prog="segur",
        description="Ségur numérique conformance harness: mock national services, validators, suites.",
    )
    parser.add_argument("--version", action="version", version=f"segur-harness {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    groups = (
        run_command,
        judge_commands,
        serve_commands,
        tenant_commands,
        requirements_command,
        validate_command,
        sut_commands,
    )
    for group in (*groups, evidence_commands):
        group.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    from harness.core.errors import UsageError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"segur {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (segur ... | head): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # a harness bug: say so plainly, never as a product failure
        print(f"segur {args.command}: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        print("This is a harness bug; please report it with the command you ran.", file=sys.stderr)
        return EXIT_HARNESS
