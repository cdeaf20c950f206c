"""MSSanté operator throughput on loopback: messages with a 150 KB XDM attachment accepted per second.

    python -m benchmarks.mss_submissions [--messages 300] [--clients 4] [--runs 5]

Each client thread keeps one SMTP connection over implicit TLS, authenticated with its ORG
certificate, and submits prepared messages: an IHE_XDM.ZIP of about 150 KB (a N1 CDA whose PDF
is padded to size, so the archive does not compress away) plus the PDF copy. For each message
the operator parses the content, opens the XDM safely (zip-bomb and traversal checks), delivers
it in one SQLite transaction and records the exchange (both WAL, synchronous=FULL) before
answering 250. Anything but 250 counts as an error.
"""

from __future__ import annotations

import argparse
import os
import smtplib
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from benchmarks.loadrun import report_runs, threaded_rate
from harness.core import pki
from harness.protocols import mssmail
from harness.run.environment import HarnessEnvironment
from harness.run.sut import xdm_writer
from harness.run.sut.reference_cda import build_n1_document, minimal_pdf
from suites.dmp.patients import identity

SENDER = "dpi-reference@harnais.mssante.fr"
RECIPIENT = "cabinet-test@harnais.mssante.fr"  # no automatic acknowledgement: submissions only


def message(size: int = 147 * 1024) -> bytes:
    patient = identity("OUVERT")
    pdf = minimal_pdf("Compte rendu") + b"%" + os.urandom(size)  # random: the archive cannot compress it away
    cda = build_n1_document(patient, title="Compte rendu")
    package = xdm_writer.build_xdm(cda, pdf=pdf, recipients=[RECIPIENT], sender=SENDER)
    return mssmail.DocumentMessage(
        sender=SENDER,
        recipients=[RECIPIENT],
        subject=mssmail.document_subject("Compte rendu", patient),
        body="Bonjour,\n",
        xdm=package,
        pdf=pdf,
        nil="BENCH",
    ).to_bytes()


def one_run(env: HarnessEnvironment, messages: int, clients: int, raw: bytes) -> tuple[float, int]:
    host, _, port = env.start_mss().endpoints()["smtp"].rpartition(":")
    lock = threading.Lock()

    def connect() -> tuple[Callable[[], bool], Callable[[], None]]:
        with lock:
            client = smtplib.SMTP_SSL(host, int(port), context=pki.client_ssl_context(env.pki, "dmp-org"), timeout=30)

        def submit() -> bool:
            try:
                return not client.sendmail(SENDER, [RECIPIENT], raw)
            except smtplib.SMTPException:
                return False

        return submit, client.quit

    return threaded_rate(clients, messages // clients, connect)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    raw = message()
    with tempfile.TemporaryDirectory() as tmp, HarnessEnvironment(Path(tmp)) as env:
        package = next(d for n, _, d in mssmail.attachments(mssmail.parse(raw)) if n == mssmail.XDM_NAME)
        print(f"message: {len(raw) / 1024:.0f} KB, IHE_XDM.ZIP {len(package) / 1024:.0f} KB")
        one_run(env, 20, 1, raw)  # warm-up
        label = f"{args.messages} messages, {args.clients} clients"
        return report_runs(args.runs, lambda: one_run(env, args.messages, args.clients, raw), "messages/s", label)


if __name__ == "__main__":
    sys.exit(main())
