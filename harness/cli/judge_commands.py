"""`segur session new` (a session of a running `segur serve`) and `segur judge` (the verdict on what it recorded)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.core.errors import UsageError


def _control_origin(document: dict[str, Any]) -> str:
    """The origin of an HTTP mock of the serve: every one answers the control endpoints."""
    for service, field in (("dmp", "url"), ("insi", "url"), ("psc", "issuer")):
        url = (document.get(service) or {}).get(field)
        if url:
            parts = urlsplit(url)
            return f"{parts.scheme}://{parts.netloc}"
    raise UsageError("the endpoints file names no HTTP mock (insi, psc or dmp): start segur serve with one of them")


def _cmd_session_new(args: argparse.Namespace) -> int:
    import ssl

    import httpx

    from harness.run.sessions import SESSIONS_PATH
    from mock_services.common import CONTROL_TOKEN_ENV

    try:
        document = json.loads(Path(args.endpoints_file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the endpoints file {args.endpoints_file}: {exc}") from exc
    if not isinstance(document, dict):
        raise UsageError(f"{args.endpoints_file} is not an endpoints document of segur serve")
    origin = _control_origin(document)
    token = args.tenant or args.control_token or os.environ.get(CONTROL_TOKEN_ENV)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    ca_bundle = (document.get("pki") or {}).get("ca_bundle")
    try:  # a CA bundle that cannot be read is an OSError, like a refused connection
        verify: Any = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else True
        with httpx.Client(verify=verify, timeout=10) as http:
            answer = http.post(origin + SESSIONS_PATH, json={"label": args.label}, headers=headers)
    except (httpx.HTTPError, OSError) as exc:
        raise UsageError(f"segur serve does not answer at {origin}: {exc}") from exc
    if answer.status_code != 201:
        raise UsageError(f"segur serve refused the session ({answer.status_code}): {answer.text.strip()[:300]}")
    session = answer.json()
    if args.output:
        Path(args.output).write_text(json.dumps(session, indent=2), encoding="utf-8")
    print(json.dumps(session, indent=2))
    print(f"segur session new: session {session['session']}; judge it with:\n  {session['judge']}")
    return 0


def _cmd_judge(args: argparse.Namespace) -> int:
    from harness.run.judge import judge
    from harness.run.runner import RunOptions

    options = RunOptions(
        suites=args.suite,
        couloir=args.couloir,
        report_dir=Path(args.report_dir),
        lang=args.lang,
        verbose=args.verbose,
        keyword=args.k,
        allow_incomplete=args.allow_incomplete,
        store=args.store,
    )
    return judge(options, args.session, Path(args.data_dir), tenant_token=args.tenant)


def add_commands(commands: Any) -> None:
    """Register these commands on the ``segur`` sub-command parser."""
    session = commands.add_parser("session", help="sessions of a running segur serve, for segur judge")
    session_sub = session.add_subparsers(dest="session_command", required=True, metavar="SUBCOMMAND")
    new = session_sub.add_parser(
        "new", help="create a session: its key and the endpoints carrying it (mail goes to the newest session)"
    )
    new.add_argument("--endpoints-file", required=True, help="the --endpoints-file written by segur serve")
    new.add_argument("--label", default="", help="a few words put in the session key")
    new.add_argument(
        "--control-token", default=None, help="the serve's --control-token (default: $SEGUR_CONTROL_TOKEN)"
    )
    new.add_argument(
        "--tenant",
        default=None,
        metavar="TOKEN",
        help="a tenant's token (segur tenant create): the session is that tenant's, seen by no other",
    )
    new.add_argument("--output", default=None, help="also write the session document (JSON) here")
    new.set_defaults(func=_cmd_session_new)

    judge = commands.add_parser(
        "judge",
        help="judge what a product did in a session of segur serve",
        description="Judge every requirement the session's recorded traffic can decide, with the suites of "
        "segur run; the others are skipped (not_observed) with what the product would have had to do. "
        "Exit statuses as segur run.",
    )
    judge.add_argument("--session", required=True, help="the key printed by segur session new")
    judge.add_argument("--data-dir", required=True, help="the --data-dir of the segur serve that recorded it")
    judge.add_argument(
        "--tenant",
        default=None,
        metavar="TOKEN",
        help="judge only if the session is this tenant's (another tenant's key is refused as unknown)",
    )
    judge.add_argument(
        "--store",
        default=None,
        help="the serve's --store, where its exchanges are: sqlite (its data folder) or a postgresql:// URL "
        "(default: $SEGUR_STORE, else sqlite); the judge's own copy stays in a scratch folder",
    )
    judge.add_argument("--suite", default="all", help="comma-separated suites or all (default)")
    judge.add_argument("--couloir", default=None, help="judge for this couloir (DPI, LGC, ..., any case)")
    judge.add_argument("--report-dir", default="reports/latest", help="where reports go (default reports/latest)")
    judge.add_argument("--lang", default="fr", choices=["fr", "en"], help="language of report.html")
    judge.add_argument("-k", default=None, help="only tests matching this pytest -k expression")
    judge.add_argument("-v", "--verbose", action="store_true", help="one line per test, and the tracebacks")
    judge.add_argument(
        "--allow-incomplete", action="store_true", help="exit 0 when the verdict is incomplete; the report says so"
    )
    judge.set_defaults(func=_cmd_judge)
