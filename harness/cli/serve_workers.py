"""`segur serve --workers N`: one supervisor binding every listening socket, N workers serving on them.

The supervisor binds each listener once (HTTP mocks, SMTP, IMAP, the console) and starts N
``segur serve --worker`` processes that inherit the descriptors (``INHERITED_SOCKETS_ENV``), so
every worker accepts on the same ports and the kernel spreads connections among them. Workers
hold no state apart from the shared PostgreSQL store (each exchange is committed before its
answer), so a worker that dies is restarted, with a backoff, and nothing acknowledged is lost.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from harness.core import pki
from harness.core.results import EXIT_USAGE
from harness.core.storage import STORE_ENV, parse_store, redacted
from harness.protocols.mockserver import INHERITED_SOCKETS_ENV, LOOPBACK, listening_socket
from mock_services.common import CONTROL_TOKEN_ENV

# The listeners each service opens, by the name it gives listening_socket, in the order it opens them.
LISTENERS = {
    "insi": ["insi"],
    "psc": ["psc"],
    "dmp": ["dmp"],
    "vihf_proxy": ["vihf_proxy"],
    "sas": ["sas"],
    "mss": ["smtps", "submission", "imap"],
}
READY_TIMEOUT_S = 60.0
BACKOFF_FIRST_S, BACKOFF_MAX_S = 0.5, 10.0
STABLE_AFTER_S = 30.0  # a worker that lived this long resets its backoff
STOP_GRACE_S = 10.0


def refusal(args: argparse.Namespace, services: list[str]) -> str | None:
    """Why ``--workers`` above 1 cannot run with these options, or None."""
    url = parse_store(args.store if args.store is not None else os.environ.get(STORE_ENV))
    if url is None:
        return (
            f"--workers {args.workers} needs a store the workers share: SQLite files belong to one process; "
            "use --store postgresql://user@host:5432/database (or SEGUR_STORE; docs/deployment.md)"
        )
    if "vihf_proxy" in services and not {"psc", "dmp"} <= set(services):
        # The proxy's upstreams must be the host's own shared listeners, not ones a worker would open for itself.
        return f"--workers {args.workers}: vihf_proxy needs psc and dmp in --services too"
    return None


def _bind_all(services: list[str], host: str, console: bool) -> dict[str, list[socket.socket]]:
    sockets: dict[str, list[socket.socket]] = {}
    names = [name for service in services for name in LISTENERS[service]]
    try:
        for name in names:
            sockets.setdefault(name, []).append(listening_socket(name, host, 0))
        if console:
            sockets.setdefault("console", []).append(listening_socket("console", LOOPBACK, 0))
    except BaseException:
        for bound in (s for group in sockets.values() for s in group):
            bound.close()
        raise
    for bound in (s for group in sockets.values() for s in group):
        # Listening already in the supervisor: a connection arriving while a worker restarts waits in the backlog.
        bound.listen(128)
        bound.set_inheritable(True)
    return sockets


class Supervisor:
    """Starts, watches and stops the workers of one ``segur serve --workers N``."""

    def __init__(self, args: argparse.Namespace, services: list[str], data_dir: Path, store: str) -> None:
        self.args, self.services, self.data_dir, self.store = args, services, data_dir, store
        self.sockets = _bind_all(services, args.host, args.console)
        self.fds = {name: [s.fileno() for s in group] for name, group in self.sockets.items()}
        self.workers: list[subprocess.Popen[bytes] | None] = [None] * args.workers
        self.started_at = [0.0] * args.workers
        self.backoff = [BACKOFF_FIRST_S] * args.workers
        self.restart_due: list[float | None] = [None] * args.workers
        self.restarts = 0

    def _command(self, endpoints_file: Path | None) -> list[str]:
        command = [sys.executable, "-m", "harness.cli", "serve", "--worker", "--services", ",".join(self.services)]
        command += ["--host", self.args.host, "--data-dir", str(self.data_dir)]
        command += ["--public-host", self.args.public_host] if self.args.public_host else []
        command += ["--console" if self.args.console else "--no-console"]
        return command + (["--endpoints-file", str(endpoints_file)] if endpoints_file else [])

    def spawn(self, index: int, endpoints_file: Path | None = None) -> None:
        env = dict(os.environ)
        env[INHERITED_SOCKETS_ENV] = json.dumps(self.fds)
        env[STORE_ENV] = self.store  # in the environment, not the command line other users can read
        if self.args.control_token:
            env[CONTROL_TOKEN_ENV] = self.args.control_token
        all_fds = [fd for group in self.fds.values() for fd in group]
        self.workers[index] = subprocess.Popen(self._command(endpoints_file), env=env, pass_fds=all_fds)
        self.started_at[index] = time.monotonic()

    def watch(self, index: int) -> None:
        """Restart worker ``index`` if it ended, after its backoff (doubling while it keeps dying young)."""
        worker = self.workers[index]
        now = time.monotonic()
        if worker is not None and worker.poll() is not None:
            lived = now - self.started_at[index]
            if lived >= STABLE_AFTER_S:
                self.backoff[index] = BACKOFF_FIRST_S
            delay = self.backoff[index]
            self.backoff[index] = min(delay * 2, BACKOFF_MAX_S)
            print(
                f"segur serve: worker {index + 1} (pid {worker.pid}) ended with status {worker.returncode}; "
                f"restarting in {delay:.1f} s",
                file=sys.stderr,
                flush=True,
            )
            self.workers[index], self.restart_due[index] = None, now + delay
        due = self.restart_due[index]
        if self.workers[index] is None and due is not None and now >= due:
            self.restart_due[index] = None
            self.restarts += 1
            self.spawn(index)

    def stop(self) -> None:
        running = [w for w in self.workers if w is not None and w.poll() is None]
        for worker in running:
            worker.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for worker in running:
            try:
                worker.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        for bound in (s for group in self.sockets.values() for s in group):
            bound.close()


def _wait_ready(supervisor: Supervisor, endpoints: Path, stop: threading.Event) -> dict[str, object] | None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    first = supervisor.workers[0]
    assert first is not None
    while not endpoints.exists():
        if stop.is_set() or first.poll() is not None or time.monotonic() > deadline:
            return None
        stop.wait(0.05)
    document: dict[str, object] = json.loads(endpoints.read_text(encoding="utf-8"))
    return document


def run_workers(args: argparse.Namespace, services: list[str], stop: threading.Event) -> int:
    """The supervisor's life: bind, start the workers, publish the endpoints once, restart, stop."""
    reason = refusal(args, services)
    if reason is not None:
        print(f"segur serve: {reason}", file=sys.stderr)
        return EXIT_USAGE
    store = parse_store(args.store if args.store is not None else os.environ.get(STORE_ENV))
    assert store is not None
    temporary = args.data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="segur-")) if temporary else Path(args.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="segur-workers-"))
    supervisor: Supervisor | None = None
    try:
        pki.load_or_create_pki(data_dir / "pki")  # once, before workers that would race to create it
        supervisor = Supervisor(args, services, data_dir, store)
        first_endpoints = scratch / "endpoints.json"
        supervisor.spawn(0, first_endpoints)
        document = _wait_ready(supervisor, first_endpoints, stop)
        if document is None:
            if stop.is_set():
                return 0
            print("segur serve: the first worker did not start (its messages are above)", file=sys.stderr)
            return EXIT_USAGE
        for index in range(1, args.workers):
            supervisor.spawn(index)
        if args.endpoints_file:
            target = Path(args.endpoints_file)
            tmp = target.with_suffix(target.suffix + ".tmp")
            tmp.write_text(json.dumps(document, indent=2), encoding="utf-8")
            tmp.replace(target)  # readers never see a half-written file
        print(json.dumps(document, indent=2), flush=True)
        print(
            f"segur serve: {', '.join(services)} ready with {args.workers} workers sharing the listening sockets; "
            f"data in {data_dir}, state in {redacted(store)}; Ctrl+C or SIGTERM stops.",
            flush=True,
        )
        while not stop.wait(0.2):
            for index in range(args.workers):
                supervisor.watch(index)
    finally:
        if supervisor is not None:
            supervisor.stop()
        shutil.rmtree(scratch, ignore_errors=True)
        if temporary:
            shutil.rmtree(data_dir, ignore_errors=True)
    print("segur serve: stopped", flush=True)
    return 0


def die_with_parent() -> None:
    """A worker ends when its supervisor does (Linux), rather than serving on as an orphan."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the supervisor was already gone
        os.kill(os.getpid(), signal.SIGTERM)
