"""`segur validate`: CDA, FHIR, XDS and XDM files judged on their own, optionally with the official ANS kit."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any


def _cmd_validate(args: argparse.Namespace) -> int:
    from harness.content.validate import KINDS, PLANNED_KINDS, ValidateOptions, run
    from harness.core.errors import UsageError

    if args.kind in PLANNED_KINDS:
        raise UsageError(
            f"`segur validate {args.kind}` is not available in this version; available: {', '.join(KINDS)}"
        )
    args.jobs = _jobs(args.jobs)
    folders = [f for f in args.files if Path(f).is_dir()]
    if folders:
        suffix = {"cda": "xml", "fhir": "json", "xds": "xml", "xdm": "zip"}[args.kind]
        raise UsageError(
            f"{folders[0]} is a folder; give the files to validate, for example {Path(folders[0]) / ('*.' + suffix)}"
        )
    if args.kind != "cda":
        if args.volet or (args.kit and args.kit != os.environ.get("SEGUR_CDA_KIT")):
            raise UsageError("--kit and --volet apply to `segur validate cda` only")
        args.kit = None  # $SEGUR_CDA_KIT is for CDA files
    kit = None
    if args.kit:
        from harness.content.cda.kit import OfficialKit

        cache = args.kit_cache
        kit = OfficialKit(args.kit, cache_dir=False if cache == "off" else cache)
    elif args.volet or not args.own_rules:
        raise UsageError("--volet and --no-own-rules need --kit DIR")
    if args.profile and args.kind != "fhir":
        raise UsageError("--profile applies to `segur validate fhir` only")
    profile = None
    if args.profile:
        from harness.content.fhir import known_profiles, resolve_profile

        profile = resolve_profile(args.profile)
        if profile is None:
            known = ", ".join(url.rsplit("/", 1)[-1] for url in known_profiles())
            raise UsageError(f"unknown FHIR profile {args.profile!r}; give a URL or one of: {known}")
    options = ValidateOptions(args.target, kit, args.volet, args.own_rules, args.jobs, profile=profile)
    return run(args.kind, args.files, args.format, options)


def _jobs(value: str) -> int:
    """``--jobs``: a number of workers, or 0 / ``auto`` for one per core."""
    from harness.content.validate_parallel import available_cores
    from harness.core.errors import UsageError

    text = str(value).strip().lower()
    if text == "auto":
        return available_cores()
    if not text.isascii() or not text.isdigit():
        raise UsageError(
            f"--jobs takes a number of workers (1 or more), or 0 or 'auto' for one per core; not {value!r}"
        )
    return int(text) or available_cores()


def add_commands(commands: Any) -> None:
    """Register these commands on the ``segur`` sub-command parser."""
    validate = commands.add_parser(
        "validate",
        help="validate CDA documents (own rules, optionally the official ANS kit), XDS submissions for the DMP, "
        "MSSanté XDM archives, or FHIR resources against the French profiles",
    )
    validate.add_argument("kind", choices=["cda", "fhir", "xds", "xdm"], help="what the files are")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument("--format", default="text", choices=["text", "json"])
    validate.add_argument("--target", default=None, choices=["dmp"], help="apply the rules of a destination (dmp)")
    validate.add_argument(
        "--jobs",
        default="1",
        metavar="N",
        help="files validated in parallel (default 1; 0 or 'auto': one per core). FHIR files and the ANS kit "
        "run in N processes (with --kit, each builds the kit once from the XSLT generated once), others in threads",
    )
    validate.add_argument(
        "--kit",
        metavar="DIR",
        default=os.environ.get("SEGUR_CDA_KIT"),
        help="also run the official ANS CDA kit in DIR (TestContenuCDA layout: XSD + schematrons); "
        "default: $SEGUR_CDA_KIT",
    )
    validate.add_argument("--volet", help="with --kit: volet schematron to use (e.g. CI-SIS_LDL-SES_2022.01)")
    validate.add_argument(
        "--kit-cache",
        metavar="DIR",
        help="with --kit: where the kit's generated XSLT is kept between runs, or 'off'; "
        "default: $SEGUR_KIT_CACHE, else ~/.cache/segur-harness/cda-kit",
    )
    validate.add_argument(
        "--profile",
        help="fhir: profile to apply instead of the resources' meta.profile (canonical URL or id, "
        "e.g. fr-core-patient-ins)",
    )
    validate.add_argument(
        "--no-own-rules", dest="own_rules", action="store_false", help="with --kit: the kit's verdict alone"
    )
    validate.set_defaults(func=_cmd_validate)
