"""The ``segur`` command (the stable contract is in the blueprint; keep it)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path

from harness import __version__

EXIT_USAGE, EXIT_HARNESS = 2, 3


def _cmd_run(args: argparse.Namespace) -> int:
    from harness.run.runner import RunOptions, run

    options = RunOptions(
        sut=args.sut,
        suites=args.suite,
        couloir=args.couloir,
        report_dir=Path(args.report_dir),
        defects=args.defect,
        data_dir=Path(args.data_dir) if args.data_dir else None,
        lang=args.lang,
        verbose=args.verbose,
        keyword=args.k,
        allow_incomplete=args.allow_incomplete,
    )
    return run(options)


def _run_epilog() -> str:
    """What `segur run --help` ends with: the suites and couloirs of this installation, and the exit statuses."""
    from harness.core.catalog import COULOIRS
    from harness.run.runner import available_suites

    return (
        f"suites: {', '.join(available_suites())} (or all)\n"
        f"couloirs: {', '.join(sorted(COULOIRS))} (any case)\n"
        "exit status:\n"
        "  0  conforme: every applicable requirement passed, or awaits a reviewer's attestation\n"
        "  1  non conforme: at least one requirement failed\n"
        "  2  usage error (bad option, unknown suite or couloir, bad SUT file)\n"
        "  3  harness error (the harness itself broke; never the product's fault)\n"
        "  4  incomplet: nothing failed, but requirements were not evaluated (listed, CRITICAL first);\n"
        "     --allow-incomplete turns this into 0 and the report says so"
    )


def _cmd_serve(args: argparse.Namespace) -> int:
    from harness.run.environment import HarnessEnvironment, check_services

    services = check_services([s.strip() for s in args.services.split(",") if s.strip()])
    if args.psc_clients:
        from harness.run.environment import PSC_CLIENTS_ENV

        os.environ[PSC_CLIENTS_ENV] = str(Path(args.psc_clients).resolve())
    from harness.run.environment import DMP_FAULTS_ENV, DMP_PATIENTS_ENV, MSS_DIRECTORY_ENV

    overrides = (
        (args.dmp_patients, DMP_PATIENTS_ENV),
        (args.dmp_faults, DMP_FAULTS_ENV),
        (args.mss_directory, MSS_DIRECTORY_ENV),
    )
    for value, variable in overrides:
        if value:
            os.environ[variable] = str(Path(value).resolve())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    data_dir = Path(args.data_dir) if args.data_dir else None
    with HarnessEnvironment(data_dir, host=args.host) as env:
        for service in services:
            env.start_any(service)
        if args.console:
            env.start_console()
        document = env.endpoints_document()
        if args.endpoints_file:
            target = Path(args.endpoints_file)
            tmp = target.with_suffix(target.suffix + ".tmp")
            tmp.write_text(json.dumps(document, indent=2), encoding="utf-8")
            tmp.replace(target)  # readers never see a half-written file
        print(json.dumps(document, indent=2), flush=True)
        if env.console is not None:
            print(f"segur serve: operator console at {env.console.url} (this machine only)", flush=True)
        print(
            f"segur serve: {', '.join(services)} ready; data in {env.data_dir}; Ctrl+C or SIGTERM stops.",
            flush=True,
        )
        stop.wait()
    print("segur serve: stopped", flush=True)
    return 0


def _cmd_pki_init(args: argparse.Namespace) -> int:
    from harness.core import pki

    try:
        layout = pki.init_pki(Path(args.directory), force=args.force)
    except FileExistsError as exc:
        print(f"segur pki init: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"Test PKI written to {layout.directory}")
    print(f"  CA bundle:   {layout.ca_bundle}")
    print(f"  CRL:         {layout.crl_pem}")
    print(f"  server:      {layout.server.cert_pem}")
    for name, cred in sorted(layout.clients.items()):
        print(f"  client {name:<14} {cred.cert_pem}  ({cred.subject})")
    print(f"PKCS#12 password: {pki.P12_PASSWORD}")
    return 0


def _cmd_requirements(args: argparse.Namespace) -> int:
    from harness.core.catalog import normalise_couloir
    from harness.core.coverage import coverage_rows, render

    args.couloir = normalise_couloir(args.couloir)
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


def _cmd_validate(args: argparse.Namespace) -> int:
    from harness.content.validate import KINDS, PLANNED_KINDS, ValidateOptions, run
    from harness.core.errors import UsageError

    if args.kind in PLANNED_KINDS:
        raise UsageError(
            f"`segur validate {args.kind}` is not available in this version; available: {', '.join(KINDS)}"
        )
    if args.jobs < 1:
        raise UsageError(f"--jobs must be 1 or more, not {args.jobs}")
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

        kit = OfficialKit(args.kit)
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


def _cmd_sut(args: argparse.Namespace) -> int:
    if args.what == "actions":
        from harness.run.sut.actions import describe_actions

        print(describe_actions())
    else:
        from harness.run.sut.reference import REFERENCE_DEFECTS

        for name, text in REFERENCE_DEFECTS.items():
            print(f"{name:<32} {text}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segur",
        description="Ségur numérique conformance harness: mock national services, validators, suites.",
    )
    parser.add_argument("--version", action="version", version=f"segur-harness {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run conformance suites against a system under test",
        description="Run conformance suites against a system under test and write the reports.",
        epilog=_run_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("--sut", default="reference", help="reference (default), manual, or a command SUT .toml file")
    run.add_argument("--suite", default="all", help="comma-separated suites (ins, ...) or all (default)")
    run.add_argument(
        "--couloir", default=None, help="judge for this couloir (DPI, LGC, ..., any case): others are omit"
    )
    run.add_argument("--report-dir", default="reports/latest", help="where reports go (default reports/latest)")
    run.add_argument("--defect", action="append", default=[], help="reference SUT defect (see `segur sut defects`)")
    run.add_argument("--data-dir", default=None, help="keep PKI and exchanges here (default: temporary)")
    run.add_argument("--lang", default="fr", choices=["fr", "en"], help="language of report.html")
    run.add_argument("-k", default=None, help="only tests matching this pytest -k expression")
    run.add_argument("-v", "--verbose", action="store_true", help="one line per test, and the tracebacks of failures")
    run.add_argument(
        "--allow-incomplete",
        action="store_true",
        help="exit 0 when the verdict is incomplete (requirements not evaluated); the report says so",
    )
    run.set_defaults(func=_cmd_run)

    serve = commands.add_parser("serve", help="run the mock services in the foreground")
    serve.add_argument(
        "--services", default="insi,psc,dmp,mss", help="comma-separated services (default insi,psc,dmp,mss)"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--data-dir", default=None, help="PKI and exchange store folder (default: temporary)")
    serve.add_argument("--endpoints-file", default=None, help="write the endpoints JSON here once ready")
    serve.add_argument("--psc-clients", default=None, help="TOML registry of PSC clients (default: the built-in one)")
    serve.add_argument(
        "--dmp-patients", default=None, help="TOML of extra DMP test patients (same shape as the built-in)"
    )
    serve.add_argument("--dmp-faults", default=None, help="TOML overriding the DMP mock's fault table")
    serve.add_argument("--mss-directory", default=None, help="TOML of the MSSanté test mailboxes (default: built-in)")
    serve.add_argument(
        "--console",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="operator web page on 127.0.0.1: live exchanges, fault injection (default on)",
    )
    serve.set_defaults(func=_cmd_serve)

    pki_cmd = commands.add_parser("pki", help="test PKI (IGC-Santé shaped)")
    pki_sub = pki_cmd.add_subparsers(dest="pki_command", required=True, metavar="SUBCOMMAND")
    init = pki_sub.add_parser("init", help="create a test PKI in DIR")
    init.add_argument("directory", metavar="DIR")
    init.add_argument("--force", action="store_true", help="replace a PKI already in DIR")
    init.set_defaults(func=_cmd_pki_init)

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
    reqs.set_defaults(func=_cmd_requirements)

    validate = commands.add_parser(
        "validate",
        help="validate CDA documents (own rules, optionally the official ANS kit), XDS submissions for the DMP, "
        "MSSanté XDM archives, or FHIR resources against the French profiles",
    )
    validate.add_argument("kind", choices=["cda", "fhir", "xds", "xdm"], help="what the files are")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument("--format", default="text", choices=["text", "json"])
    validate.add_argument("--target", default=None, choices=["dmp"], help="apply the rules of a destination (dmp)")
    validate.add_argument("--jobs", type=int, default=1, help="files validated in parallel (default 1)")
    validate.add_argument(
        "--kit",
        metavar="DIR",
        default=os.environ.get("SEGUR_CDA_KIT"),
        help="also run the official ANS CDA kit in DIR (TestContenuCDA layout: XSD + schematrons); "
        "default: $SEGUR_CDA_KIT",
    )
    validate.add_argument("--volet", help="with --kit: volet schematron to use (e.g. CI-SIS_LDL-SES_2022.01)")
    validate.add_argument(
        "--profile",
        help="fhir: profile to apply instead of the resources' meta.profile (canonical URL or id, "
        "e.g. fr-core-patient-ins)",
    )
    validate.add_argument(
        "--no-own-rules", dest="own_rules", action="store_false", help="with --kit: the kit's verdict alone"
    )
    validate.set_defaults(func=_cmd_validate)

    sut = commands.add_parser("sut", help="what a system under test must implement")
    sut.add_argument(
        "what",
        choices=["actions", "defects"],
        help="actions: the action contract; defects: reference defects",
    )
    sut.set_defaults(func=_cmd_sut)

    from harness.cli.evidence_commands import add_commands

    add_commands(commands)
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


if __name__ == "__main__":
    sys.exit(main())
