"""A throw-away PostgreSQL cluster for the tests and the benchmark: initdb and pg_ctl in a temporary folder.

The server listens on 127.0.0.1 only, on a port found free (retried when another process takes
it first), with no Unix socket; authentication is ``trust`` (nothing listens beyond loopback).
initdb refuses to run as root, so as root the cluster belongs to an unprivileged user
(``SEGUR_PG_USER``, default ``nobody``) and the PostgreSQL commands run through ``runuser``.
Each pytest-xdist worker starts its own cluster (a session fixture), so workers never share one.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any

PG_USER_ENV = "SEGUR_PG_USER"
SUPERUSER = "segur"
START_ATTEMPTS = 5


def find_bindir() -> Path | None:
    """Where initdb and pg_ctl are: on PATH, else Debian's /usr/lib/postgresql/<version>/bin (newest)."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    versions = [p for p in Path("/usr/lib/postgresql").glob("*/bin/initdb") if p.parent.parent.name.isdigit()]
    newest = sorted(versions, key=lambda p: int(p.parent.parent.name))
    return newest[-1].parent if newest else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PgCluster:
    """One cluster; ``durable=False`` turns fsync off, which a throw-away test cluster can afford."""

    def __init__(self, bindir: Path, *, durable: bool = False, max_connections: int = 60):
        self.bindir = bindir
        self.durable = durable
        self.max_connections = max_connections
        self._admin: Any = None  # one connection kept for create_schema, which runs once per test
        self.root = Path(tempfile.mkdtemp(prefix="segur-pg-"))
        self.port = 0
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            user = os.environ.get(PG_USER_ENV, "nobody")
            entry = pwd.getpwnam(user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
            self._as_user = ["runuser", "-u", user, "--"]

    def _run(self, *command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self._as_user, str(self.bindir / command[0]), *command[1:]],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def start(self) -> PgCluster:
        data = self.root / "data"
        init = self._run("initdb", "-D", str(data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--no-locale")
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed: {init.stderr or init.stdout}")
        settings = "-c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c shared_buffers=16MB"
        settings += f" -c max_connections={self.max_connections}" + (
            "" if self.durable else " -c fsync=off -c full_page_writes=off"
        )
        for _ in range(START_ATTEMPTS):
            self.port = _free_port()  # another process may take it before the server binds: retried
            started = self._run(
                "pg_ctl", "-D", str(data), "-l", str(self.root / "server.log"), "-w", "-t", "60",
                "-o", f"-p {self.port} {settings}", "start",
            )  # fmt: skip
            if started.returncode == 0:
                return self
        log = (self.root / "server.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"pg_ctl start failed {START_ATTEMPTS} times: {started.stderr}\n{log}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def create_schema(self, name: str, database: str = "postgres") -> str:
        """A new empty schema; returns the URL of a connection whose ``search_path`` is that schema only."""
        import psycopg

        if self._admin is None:
            self._admin = psycopg.connect(self.url(database), autocommit=True)
        self._admin.execute(f'CREATE SCHEMA "{name}"')
        return f"{self.url(database)}?options=-csearch_path%3D{name}"

    def drop_database(self, url: str) -> None:
        import psycopg

        name = url.rpartition("/")[2]
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        try:
            if self.port:
                self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


URL_PLACEHOLDER = "{store}"


def main(argv: list[str] | None = None) -> int:
    """``python tests/pg_cluster.py -- COMMAND...``: run COMMAND against a fresh database of a throw-away cluster."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="python tests/pg_cluster.py",
        description="Start a throw-away PostgreSQL cluster (loopback, free port), create an empty database, run "
        f"COMMAND with every {URL_PLACEHOLDER} in it replaced by that database's URL, stop the cluster and exit "
        "with COMMAND's status. Example: python tests/pg_cluster.py -- segur run --sut reference --suite all "
        f"--store {URL_PLACEHOLDER}",
    )
    parser.add_argument(
        "command", nargs=argparse.REMAINDER, help=f"the command to run (after --); {URL_PLACEHOLDER}: the URL"
    )
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given (python tests/pg_cluster.py -- COMMAND ...)")
    bindir = find_bindir()
    if bindir is None:
        print("pg_cluster: PostgreSQL not found (no initdb on PATH nor in /usr/lib/postgresql/*/bin)", file=sys.stderr)
        return 2
    cluster = PgCluster(bindir).start()  # fsync off: nothing outlives the command
    try:
        url = cluster.create_database()
        print(f"pg_cluster: PostgreSQL on 127.0.0.1:{cluster.port}, database {url.rpartition('/')[2]}", file=sys.stderr)
        return subprocess.run([part.replace(URL_PLACEHOLDER, url) for part in command], check=False).returncode
    finally:
        cluster.stop()


if __name__ == "__main__":
    raise SystemExit(main())
