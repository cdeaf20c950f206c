"""kill -9 rounds on a shared host: nothing a worker acknowledged is lost, every exchange trace verifies.

    python -m benchmarks.shared_host [--workers 2] [--rounds 3] [--submissions 40] [--messages 40]
                                     [--clients 4] [--store postgresql://...]

Starts ``segur serve --workers N --services dmp,mss`` on PostgreSQL (without ``--store``, a
throw-away cluster as the tests start, tests/pg_cluster.py, fsync on), then, each round, fires a
burst from several client threads: DMP TD2.1 submissions (ITI-41, the reference client's feeds
with MTOM, VIHF and XAdES) and MSSanté deliveries (SMTP over implicit TLS, an IHE_XDM.ZIP each).
In the middle of the burst one worker gets SIGKILL. Clients retry on a reset connection, a
timeout or a temporary SMTP answer (4xx), as a product would, and each retry is counted. After
the burst every acknowledged item (a DMP XDS Success answer, an SMTP 250) is looked up in the
store (the DMP registry by uniqueId, the mailbox by Message-ID), and the round's exchanges are
exported, sealed and checked as ``segur report verify`` does (each exchange's trace signature).
A lost acknowledged item makes the exit status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import signal
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from benchmarks.mss_submissions import RECIPIENT, SENDER, message
from benchmarks.pg_throwaway import postgresql_store
from harness.core import pki
from harness.core.recorder import ExchangeStore
from harness.core.signing import Signer
from harness.core.storage import open_postgresql
from harness.evidence import pack
from harness.protocols.vihf import VihfSigner
from harness.protocols.xades import DocumentSigner
from harness.run.sut.reference_dmp import PreparedCall, ReferenceDmpClient
from mock_services.dmp.registry import DmpRegistry
from mock_services.mssante.store import MailStore
from suites.dmp.patients import identity

XDS_DOCUMENT_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"  # IHE ITI TF-3 4.2.3.2.26
_UNIQUE_IDS = re.compile(rb'identificationScheme="' + XDS_DOCUMENT_UNIQUE_ID.encode() + rb'"[^>]*value="([^"]+)"')
_MESSAGE_ID = re.compile(rb"^Message-ID: *(<[^>\r\n]+>)", re.MULTILINE | re.IGNORECASE)
MAX_ATTEMPTS = 30
RETRY_PAUSE_S = 0.2
START_TIMEOUT_S = 90.0


# -- the host ---------------------------------------------------------------------------------


class ServedHost:
    """A ``segur serve --workers N`` subprocess, its workers (by pid) and its endpoints."""

    def __init__(self, store: str, workers: int, data_dir: Path, services: str = "dmp,mss", env: dict | None = None):
        self.store, self.count, self.data_dir = store, workers, data_dir
        endpoints = data_dir / "endpoints.json"
        command = [sys.executable, "-m", "harness.cli", "serve", "--workers", str(workers), "--services", services]
        command += ["--no-console", "--data-dir", str(data_dir / "data"), "--endpoints-file", str(endpoints)]
        environment = {**os.environ, **(env or {}), "SEGUR_STORE": store}  # the URL stays off the command line
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment)
        self._wait(lambda: endpoints.exists() or self.process.poll() is not None, "segur serve wrote its endpoints")
        if self.process.poll() is not None:
            _, err = self.process.communicate()
            raise RuntimeError(f"segur serve stopped: {err.decode(errors='replace')}")
        self.document = json.loads(endpoints.read_text(encoding="utf-8"))
        self.pids = self.wait_for_workers()
        self.layout = pki.load_or_create_pki(data_dir / "data" / "pki")

    @staticmethod
    def _wait(condition: Callable[[], object], what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not condition():
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out: {what}")
            time.sleep(0.05)

    def workers(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return sorted(int(pid) for pid in children.read_text().split())

    def wait_for_workers(self, gone: Sequence[int] = ()) -> list[int]:
        """The worker pids once there are N of them, none of them one of ``gone``."""
        self._wait(
            lambda: len(now := self.workers()) == self.count and not set(gone) & set(now), f"{self.count} workers"
        )
        return self.workers()

    def kill_busiest(self) -> list[int]:
        """SIGKILL the worker holding the most client connections, so the kill interrupts exchanges."""
        established = _established_socket_inodes()
        load = {pid: len(_socket_inodes(pid) & established) for pid in self.workers()}
        victim = max(sorted(load), key=lambda pid: load[pid])
        os.kill(victim, signal.SIGKILL)
        return [victim]

    def kill_all(self) -> list[int]:
        victims = self.workers()
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
        return victims

    def stop(self) -> str:
        self.process.send_signal(signal.SIGTERM)
        _, err = self.process.communicate(timeout=60)
        return err.decode(errors="replace")


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = str(fd.readlink())
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _established_socket_inodes() -> set[str]:
    """Inodes of the machine's established TCP sockets (state 01 of /proc/net/tcp and tcp6)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "01":
                inodes.add(fields[9])
    return inodes


# -- the burst --------------------------------------------------------------------------------


@dataclass
class Item:
    kind: str  # "dmp" or "mss"
    marks: list[str]  # what finds it in the store: the documents' uniqueIds, or the Message-ID
    payload: PreparedCall | bytes
    answer: str = ""  # why it was refused, when it was


@dataclass
class Burst:
    acknowledged: list[Item] = field(default_factory=list)
    refused: list[Item] = field(default_factory=list)  # a definite answer other than success
    retries: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def dmp_items(host: ServedHost, session: str, count: int) -> list[Item]:
    signing = host.layout.client("cps-signature")
    url = host.document["dmp"]["url"].replace("/si-dmp-server", f"/s/{session}/si-dmp-server")
    client = ReferenceDmpClient(
        url=url,
        ssl_context=None,
        signer=VihfSigner.from_files(signing.key_pem, signing.cert_pem),
        document_signer=DocumentSigner.from_files(signing.key_pem, signing.cert_pem),
    )
    items = []
    for number in range(count):
        call = client.prepare_feed(identity("VIDE"), f"Compte rendu {session} {number}")
        marks = [value.decode() for value in _UNIQUE_IDS.findall(call.content)]
        items.append(Item("dmp", marks, call))
    return items


def mss_items(count: int) -> list[Item]:
    template = message(size=8 * 1024)
    items = []
    for _ in range(count):
        message_id = f"<{uuid.uuid4().hex}@harnais.mssante.fr>"
        raw = _MESSAGE_ID.sub(f"Message-ID: {message_id}".encode(), template, count=1)
        items.append(Item("mss", [message_id], raw))
    return items


def _interleaved(first: list[Item], second: list[Item]) -> list[Item]:
    mixed = [item for pair in zip(first, second, strict=False) for item in pair]
    return mixed + first[len(second) :] + second[len(first) :]


class _Client:
    """One client thread's connections; each send retries what a product would retry."""

    def __init__(self, host: ServedHost, burst: Burst):
        self.host, self.burst = host, burst
        self.dmp_context = pki.client_ssl_context(host.layout, "dmp-org")
        self.mss_context = pki.client_ssl_context(host.layout, "dmp-org")
        self.http = httpx.Client(verify=self.dmp_context, timeout=30)
        self.smtp: smtplib.SMTP_SSL | None = None

    def close(self) -> None:
        self.http.close()
        self._drop_smtp()

    def _drop_smtp(self) -> None:
        if self.smtp is not None:
            with suppress(OSError):
                self.smtp.close()
        self.smtp = None

    def _retry(self) -> None:
        with self.burst.lock:
            self.burst.retries += 1
        time.sleep(RETRY_PAUSE_S)

    def send(self, item: Item) -> bool | None:
        """True acknowledged, False refused, None given up (never acknowledged)."""
        for _ in range(MAX_ATTEMPTS):
            try:
                return self._send_dmp(item) if item.kind == "dmp" else self._send_mss(item)
            except (httpx.TransportError, OSError, smtplib.SMTPServerDisconnected):
                if item.kind == "dmp":  # a reset connection: a new one, to whichever worker takes it
                    self.http.close()
                    self.http = httpx.Client(verify=self.dmp_context, timeout=30)
                else:
                    self._drop_smtp()
            except smtplib.SMTPResponseException as exc:
                error = exc.smtp_error
                item.answer = (
                    f"SMTP {exc.smtp_code} {error.decode(errors='replace') if isinstance(error, bytes) else error}"
                )
                if exc.smtp_code < 400 or exc.smtp_code >= 500:
                    return False
                self._drop_smtp()
            self._retry()
        return None

    def _send_dmp(self, item: Item) -> bool:
        call = item.payload
        assert isinstance(call, PreparedCall)
        response = self.http.post(call.url, content=call.content, headers={"content-type": call.content_type})
        if response.status_code == 200 and b"ResponseStatusType:Success" in response.content:
            return True
        codes = re.findall(rb'(?:errorCode|codeContext)="([^"]{0,120})"', response.content)
        item.answer = f"HTTP {response.status_code} " + "; ".join(c.decode(errors="replace") for c in codes)
        return False

    def _send_mss(self, item: Item) -> bool:
        raw = item.payload
        assert isinstance(raw, bytes)
        if self.smtp is None:
            address = self.host.document["mss"]["smtp"]
            smtp_host, _, port = address.rpartition(":")
            self.smtp = smtplib.SMTP_SSL(smtp_host.strip("[]"), int(port), context=self.mss_context, timeout=30)
        refused = self.smtp.sendmail(SENDER, [RECIPIENT], raw)
        return not refused


def fire(
    host: ServedHost, items: list[Item], clients: int, kill_after: int, kill: Callable[[], list[int]] | None = None
) -> tuple[Burst, list[int]]:
    """Send every item from ``clients`` threads; ``kill`` (the busiest worker) once ``kill_after`` are acknowledged."""
    kill = kill or host.kill_busiest
    burst, work = Burst(), queue.SimpleQueue[Item]()
    for item in items:
        work.put(item)

    def client_thread() -> None:
        client = _Client(host, burst)
        try:
            while True:
                try:
                    item = work.get_nowait()
                except queue.Empty:
                    return
                outcome = client.send(item)
                with burst.lock:
                    if outcome:
                        burst.acknowledged.append(item)
                    elif outcome is False:
                        burst.refused.append(item)
        finally:
            client.close()

    threads = [threading.Thread(target=client_thread) for _ in range(clients)]
    for thread in threads:
        thread.start()
    victims: list[int] = []
    while any(thread.is_alive() for thread in threads):
        if not victims and len(burst.acknowledged) >= kill_after:
            victims = kill()
        time.sleep(0.01)
    for thread in threads:
        thread.join()
    return burst, victims


# -- the checks -------------------------------------------------------------------------------


def found_in_store(store: str, session: str, items: list[Item]) -> list[Item]:
    """The items the store holds: every document of a DMP submission in the session's realm, a message by Message-ID."""
    with open_postgresql(store) as database:
        registry, mailboxes = DmpRegistry(database=database), MailStore(database=database)
        delivered = {
            match.group(1).decode()
            for delivery in mailboxes.messages(RECIPIENT)
            if (match := _MESSAGE_ID.search(delivery.raw.partition(b"\r\n\r\n")[0]))
        }

        def stored(item: Item) -> bool:
            if item.kind == "mss":
                return item.marks[0] in delivered
            return bool(item.marks) and all(registry.entries_by_unique_id(session, mark) for mark in item.marks)

        return [item for item in items if stored(item)]


def newest_seq(store: str) -> int:
    with open_postgresql(store) as database:
        row = database.one("SELECT COALESCE(MAX(seq), 0) FROM exchange")
        return int(row[0]) if row else 0


def verify_traces(host: ServedHost, after_seq: int, folder: Path) -> tuple[int, int, list[str]]:
    """(exchanges after ``after_seq``, how many verify, what is wrong), checked as ``segur report verify`` does."""
    with open_postgresql(host.store) as database:
        exchanges = [e for e in ExchangeStore(database=database).exchanges() if e.seq > after_seq]
    trace_chain = host.layout.signers["trace"].cert_pem.read_text(encoding="ascii")
    pack.export_exchanges(exchanges, folder, trace_chain)
    pack.seal(folder, Signer(host.layout.signers["evidence"]), run={"benchmark": "shared_host"})
    verification = pack.verify_pack(folder, trusted=[host.layout.root_ca_pem])
    broken = [problem for problem in verification.altered if problem.startswith("exchange ")]
    return verification.exchanges, verification.exchanges - len(broken), verification.altered


@dataclass
class RoundResult:
    number: int
    sent: int
    acknowledged: int
    found: int
    lost: list[Item]
    refused: list[Item]
    refused_found: int  # refused on a retry, yet in the store: the kill took the answer of a committed first try
    retries: int
    exchanges: int
    traces_verified: int
    problems: list[str]
    killed: list[int]
    seconds: float


def one_round(
    host: ServedHost,
    number: int,
    submissions: int,
    messages: int,
    clients: int,
    kill: Callable[[], list[int]] | None = None,
    settle_s: float = 0.0,
) -> RoundResult:
    """One burst with a kill in it, then the checks (after ``settle_s``: a negative test's deferred writes)."""
    session = f"kill-round-{number}-{uuid.uuid4().hex[:6]}"
    items = _interleaved(dmp_items(host, session, submissions), mss_items(messages))
    before = newest_seq(host.store)
    started = time.perf_counter()
    burst, victims = fire(host, items, clients, max(1, len(items) // 3), kill)
    seconds = time.perf_counter() - started
    host.wait_for_workers(gone=victims)  # the replacements are up before the next round
    time.sleep(settle_s)
    found = found_in_store(host.store, session, burst.acknowledged)
    lost = [item for item in burst.acknowledged if item not in found]
    with tempfile.TemporaryDirectory() as folder:
        exchanges, verified, problems = verify_traces(host, before, Path(folder))
    return RoundResult(
        number, len(items), len(burst.acknowledged), len(found), lost, burst.refused,
        len(found_in_store(host.store, session, burst.refused)), burst.retries,
        exchanges, verified, problems, victims, seconds,
    )  # fmt: skip


def print_table(results: list[RoundResult]) -> None:
    print(f"{'round':>5} {'sent':>5} {'acked':>6} {'found':>6} {'lost':>5} {'refused (stored)':>16} {'retries':>8} "
          f"{'traces verified':>16} {'killed pid':>11} {'s':>6}")  # fmt: skip
    for r in results:
        traces = f"{r.traces_verified}/{r.exchanges}"
        refused = f"{len(r.refused)} ({r.refused_found})"
        print(f"{r.number:>5} {r.sent:>5} {r.acknowledged:>6} {r.found:>6} {len(r.lost):>5} {refused:>16} "
              f"{r.retries:>8} {traces:>16} {','.join(map(str, r.killed)) or '-':>11} {r.seconds:>6.1f}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], epilog=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=2, help="worker processes of segur serve (default 2)")
    parser.add_argument("--rounds", type=int, default=3, help="bursts, one worker killed in each (default 3)")
    parser.add_argument("--submissions", type=int, default=40, help="DMP TD2.1 submissions per round (default 40)")
    parser.add_argument("--messages", type=int, default=40, help="MSSanté deliveries per round (default 40)")
    parser.add_argument("--clients", type=int, default=4, help="client threads (default 4)")
    parser.add_argument("--store", default=None, help="a PostgreSQL URL (default: a throw-away local cluster)")
    args = parser.parse_args(argv)
    if args.workers < 2 or args.rounds < 1 or args.clients < 1 or args.submissions + args.messages < 3:
        parser.error("needs --workers 2 or more, --rounds and --clients 1 or more, and 3 items or more per round")
    results: list[RoundResult] = []
    with postgresql_store(args.store) as store, tempfile.TemporaryDirectory() as folder:
        host = ServedHost(store, args.workers, Path(folder))
        try:
            for number in range(1, args.rounds + 1):
                results.append(one_round(host, number, args.submissions, args.messages, args.clients))
        finally:
            host.stop()
    print(
        f"segur serve --workers {args.workers} --services dmp,mss on PostgreSQL; {args.clients} client threads; "
        "the worker holding the most connections killed (SIGKILL) once a third of each burst was acknowledged"
    )
    print_table(results)
    for result in results:
        for item in result.lost:
            print(f"LOST in round {result.number}: {item.kind} {', '.join(item.marks)}", file=sys.stderr)
        for item in result.refused:
            print(f"refused in round {result.number}: {item.kind} {item.answer}", file=sys.stderr)
        for problem in result.problems:
            print(f"round {result.number}: {problem}", file=sys.stderr)
    return 1 if any(r.lost or r.problems or r.acknowledged == 0 for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
