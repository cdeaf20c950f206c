"""`segur sut`: what a system under test must implement (the action contract) and the reference's defects."""

from __future__ import annotations

import argparse
from typing import Any


def _cmd_sut(args: argparse.Namespace) -> int:
    if args.what == "actions":
        from harness.run.sut.actions import describe_actions

        print(describe_actions())
    else:
        from harness.run.sut.reference import REFERENCE_DEFECTS

        for name, text in REFERENCE_DEFECTS.items():
            print(f"{name:<32} {text}")
    return 0


def add_commands(commands: Any) -> None:
    """Register these commands on the ``segur`` sub-command parser."""
    sut = commands.add_parser("sut", help="what a system under test must implement")
    sut.add_argument(
        "what",
        choices=["actions", "defects"],
        help="actions: the action contract; defects: reference defects",
    )
    sut.set_defaults(func=_cmd_sut)
