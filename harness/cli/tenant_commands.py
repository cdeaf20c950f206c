"""`segur tenant create|list|delete`: tenants of a shared `segur serve` (one vendor, review or pipeline each).

They write the store the serve reads (its ``--data-dir`` with SQLite, or its ``--store``
PostgreSQL database), so a tenant counts at once, on every worker, without a restart.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.core.errors import UsageError


@contextmanager
def _registry(args: argparse.Namespace) -> Iterator[Any]:
    from harness.core.storage import STORE_ENV, Storage, parse_store
    from harness.core.tenants import TenantRegistry
    from harness.run.environment import TENANTS_FILE

    url = parse_store(args.store if args.store is not None else os.environ.get(STORE_ENV))
    if url is None and not args.data_dir:
        raise UsageError("give the serve's --data-dir (SQLite) or its --store postgresql://... URL")
    if url is None and not Path(args.data_dir).is_dir():
        raise UsageError(f"--data-dir {args.data_dir}: no such folder (the --data-dir of segur serve)")
    with tempfile.TemporaryDirectory(prefix="segur-tenant-") as scratch:
        storage = Storage(Path(args.data_dir) if args.data_dir else Path(scratch), url or "sqlite")
        try:
            yield TenantRegistry(storage.database(TENANTS_FILE))
        finally:
            storage.close()


def _endpoints(endpoints_file: str, token: str) -> dict[str, Any]:
    """What the tenant is given of the serve: its public endpoints and how to open a session."""
    from harness.cli.judge_commands import _control_origin
    from harness.run.sessions import SESSIONS_PATH

    try:
        document = json.loads(Path(endpoints_file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the endpoints file {endpoints_file}: {exc}") from exc
    if not isinstance(document, dict):
        raise UsageError(f"{endpoints_file} is not an endpoints document of segur serve")
    public = {k: v for k, v in document.items() if k not in ("console", "pki")}
    if isinstance(document.get("pki"), dict) and "ca_bundle" in document["pki"]:
        public["pki"] = {"ca_bundle": document["pki"]["ca_bundle"]}  # the client key stays the operator's
    origin = _control_origin(document)
    public["sessions"] = origin + SESSIONS_PATH
    public["session_new"] = (
        f"curl --cacert CA_BUNDLE -H 'Authorization: Bearer {token}' -X POST {shlex.quote(origin + SESSIONS_PATH)}"
    )
    return public


def _cmd_create(args: argparse.Namespace) -> int:
    with _registry(args) as registry:
        tenant, token = registry.create(args.name)
    document: dict[str, Any] = {"tenant": tenant.name, "id": tenant.id, "created_at": tenant.created_at}
    document["token"] = token
    if args.endpoints_file:
        document["endpoints"] = _endpoints(args.endpoints_file, token)
    print(json.dumps(document, indent=2))
    print(
        f"segur tenant create: {tenant.name} created; its token is shown this once (the store keeps its digest). "
        "Give it to the tenant as the Bearer token of POST /_segur/sessions, or "
        "segur session new --tenant TOKEN.",
        file=sys.stderr,
    )
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    with _registry(args) as registry:
        rows = [{**t.as_dict(), "sessions": len(registry.sessions(t.id))} for t in registry.tenants()]
    print(json.dumps(rows, indent=2))
    return 0


def _cmd_delete(args: argparse.Namespace) -> int:
    with _registry(args) as registry:
        tenant = registry.delete(args.name)
    print(f"segur tenant delete: {tenant.name} revoked; its sessions stay its own (no other tenant sees them)")
    return 0


def _store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", default=None, help="the --data-dir of the segur serve (SQLite store)")
    parser.add_argument(
        "--store", default=None, help="the serve's --store postgresql://... URL (default: $SEGUR_STORE, else sqlite)"
    )


def add_commands(commands: Any) -> None:
    """Register these commands on the ``segur`` sub-command parser."""
    tenant = commands.add_parser(
        "tenant",
        help="tenants of a shared segur serve: each sees only its own sessions, documents, mail and exchanges",
    )
    sub = tenant.add_subparsers(dest="tenant_command", required=True, metavar="SUBCOMMAND")
    create = sub.add_parser(
        "create",
        help="create a tenant; prints its token (once) and, with --endpoints-file, the endpoints to give it",
    )
    create.add_argument("name", metavar="NAME", help="a-z, 0-9, '.', '_', '-' (up to 63)")
    _store_options(create)
    create.add_argument("--endpoints-file", default=None, help="the --endpoints-file written by segur serve")
    create.set_defaults(func=_cmd_create)
    listing = sub.add_parser("list", help="the tenants (name, id, creation time, sessions); never their tokens")
    _store_options(listing)
    listing.set_defaults(func=_cmd_list)
    delete = sub.add_parser("delete", help="revoke a tenant's token (its sessions stay unreadable to others)")
    delete.add_argument("name", metavar="NAME")
    _store_options(delete)
    delete.set_defaults(func=_cmd_delete)
