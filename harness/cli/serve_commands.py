"""`segur serve` (the mock services in the foreground, with the operator console) and `segur pki init`."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from harness.core.results import EXIT_USAGE


def _cmd_serve(args: argparse.Namespace) -> int:
    from harness.run.environment import HarnessEnvironment, check_services
    from mock_services.common import CONTROL_TOKEN_ENV

    services = check_services([s.strip() for s in args.services.split(",") if s.strip()])
    if args.psc_clients:
        from harness.run.environment import PSC_CLIENTS_ENV

        os.environ[PSC_CLIENTS_ENV] = str(Path(args.psc_clients).resolve())
    from harness.run.environment import DMP_FAULTS_ENV, DMP_PATIENTS_ENV, INSI_SETTINGS_ENV, MSS_DIRECTORY_ENV

    overrides = (
        (args.insi_settings, INSI_SETTINGS_ENV),
        (args.dmp_patients, DMP_PATIENTS_ENV),
        (args.dmp_faults, DMP_FAULTS_ENV),
        (args.mss_directory, MSS_DIRECTORY_ENV),
    )
    for value, variable in overrides:
        if value:
            os.environ[variable] = str(Path(value).resolve())
    from harness.protocols.mockserver import PORTS_ENV, SERVE_PORTS_ENV, parse_ports

    try:
        ports = parse_ports(args.ports if args.ports is not None else os.environ.get(PORTS_ENV, ""))
    except ValueError as exc:
        print(f"segur serve: --ports: {exc}", file=sys.stderr)
        return EXIT_USAGE
    os.environ[SERVE_PORTS_ENV] = ",".join(f"{name}={port}" for name, port in ports.items())  # workers inherit it
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if args.workers < 1:
        print("segur serve: --workers must be 1 or more", file=sys.stderr)
        return EXIT_USAGE
    if args.workers > 1:
        from harness.cli.serve_workers import run_workers

        return run_workers(args, services, stop)
    if args.worker:
        from harness.cli.serve_workers import die_with_parent

        die_with_parent()
    data_dir = Path(args.data_dir) if args.data_dir else None
    token = args.control_token or os.environ.get(CONTROL_TOKEN_ENV) or None
    with HarnessEnvironment(
        data_dir,
        host=args.host,
        public_host=args.public_host,
        control_token=token,
        store=args.store,
        shared_mail_routing=True,  # with PostgreSQL, whichever worker takes a connection routes its mail alike
    ) as env:
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
        if args.worker:  # the supervisor publishes the endpoints, once for all its workers
            stop.wait()
            return 0
        print(json.dumps(document, indent=2), flush=True)
        if env.console is not None:
            print(f"segur serve: operator console at {env.console.url} (this machine only)", flush=True)
        print(
            f"segur serve: {', '.join(services)} ready; data in {env.data_dir}, state in {env.storage.describe()}; "
            "Ctrl+C or SIGTERM stops.",
            flush=True,
        )
        if args.endpoints_file and args.data_dir:
            print(f"segur serve: segur session new --endpoints-file {args.endpoints_file} hands out a session "
                  "to use the product in, for segur judge", flush=True)  # fmt: skip
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


def add_commands(commands: Any) -> None:
    """Register these commands on the ``segur`` sub-command parser."""
    serve = commands.add_parser("serve", help="run the mock services in the foreground")
    serve.add_argument(
        "--services",
        default="insi,psc,dmp,vihf_proxy,mss",
        help="comma-separated services (default insi,psc,dmp,vihf_proxy,mss)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument(
        "--ports",
        default=None,
        metavar="NAME=PORT,...",
        help="fixed ports for a long-lived host, e.g. insi=8443,psc=8444,dmp=8445,vihf_proxy=8446,smtps=4465,"
        "submission=5587,imap=9993,console=8080 (names: insi, psc, dmp, vihf_proxy, sas, smtps, submission, "
        "imap, console); the others take a free port (default: $SEGUR_PORTS, else every one free)",
    )
    serve.add_argument(
        "--public-host",
        default=None,
        help="host name written in the endpoints (default: the --host, or 127.0.0.1 when it is 0.0.0.0 or ::)",
    )
    serve.add_argument(
        "--control-token",
        default=None,
        help="Bearer token the /_segur/ control endpoints require (default: $SEGUR_CONTROL_TOKEN; "
        "without one they answer loopback clients only)",
    )
    serve.add_argument("--data-dir", default=None, help="PKI and exchange store folder (default: temporary)")
    serve.add_argument(
        "--store",
        default=None,
        help="where the mocks' state goes: sqlite (files in the data folder, the default) or a postgresql:// URL "
        "(needs the postgresql extra; default: $SEGUR_STORE, else sqlite; docs/deployment.md)",
    )
    serve.add_argument("--endpoints-file", default=None, help="write the endpoints JSON here once ready")
    serve.add_argument(
        "--insi-settings", default=None, help="TOML of INSi mock settings (profiles/insi/README.md lists the keys)"
    )
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
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes sharing the listening sockets, restarted when they die (above 1: needs "
        "--store postgresql://...; docs/deployment.md, 'Workers')",
    )
    serve.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # one of --workers N
    serve.set_defaults(func=_cmd_serve)

    pki_cmd = commands.add_parser("pki", help="test PKI (IGC-Santé shaped)")
    pki_sub = pki_cmd.add_subparsers(dest="pki_command", required=True, metavar="SUBCOMMAND")
    init = pki_sub.add_parser("init", help="create a test PKI in DIR")
    init.add_argument("directory", metavar="DIR")
    init.add_argument("--force", action="store_true", help="replace a PKI already in DIR")
    init.set_defaults(func=_cmd_pki_init)
