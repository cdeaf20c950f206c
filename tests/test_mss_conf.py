"""The SC.MSS/CONF verifiers on recorded submissions written here: TLS suites and the FIN header."""

from __future__ import annotations

import pytest

from harness.core.recorder import OK, Exchange
from harness.protocols import mssmail
from harness.run.verify import mss_conf
from harness.run.verify.mss import Submitted

ALLOWED = "ECDHE-RSA-AES256-GCM-SHA384"
CHACHA = "ECDHE-RSA-CHACHA20-POLY1305"


def submitted(version: str, cipher: str, offered: list[str], headers: str = "") -> Submitted:
    raw = f"From: a@x.mssante.fr\r\nTo: b@patient.mssante.fr\r\nSubject: s\r\n{headers}\r\nbody\r\n".encode()
    exchange = Exchange(
        "mss", "k", "smtp.data", OK, raw, b"250", 0.0, 0.0,
        request_meta={"tls_version": version, "tls_cipher": cipher, "tls_offered": offered},
    )  # fmt: skip
    return Submitted(exchange, mssmail.parse(raw))


def test_the_suites_come_from_the_profile():
    assert ALLOWED in mss_conf.tls_rules()["tls12_cipher_suites"]
    assert mss_conf.tls_rules()["accept_tls13"] is True


@pytest.mark.parametrize(
    ("version", "cipher", "offered", "ids"),
    [
        ("TLSv1.2", ALLOWED, [ALLOWED], []),
        ("TLSv1.2", CHACHA, [CHACHA], ["mss.tls-suite", "mss.tls-offered"]),
        ("TLSv1.3", "TLS_AES_256_GCM_SHA384", [ALLOWED], []),
        ("TLSv1.3", "TLS_AES_256_GCM_SHA384", [ALLOWED, "AES128-SHA"], ["mss.tls-offered"]),
    ],
)  # fmt: skip
def test_cipher_suites(version, cipher, offered, ids):
    findings = mss_conf.check_cipher_suites([submitted(version, cipher, offered)])
    assert [f.rule for f in findings] == ids
    assert all(f.requirement == "MSS-09" and f.message_fr for f in findings)


def test_tls13_refused_when_the_setting_says_so():
    rules = dict(mss_conf.tls_rules(), accept_tls13=False)
    findings = mss_conf.check_cipher_suites([submitted("TLSv1.3", "TLS_AES_256_GCM_SHA384", [ALLOWED])], rules)
    assert [f.rule for f in findings] == ["mss.tls-suite"]


@pytest.mark.parametrize(("headers", "ok"), [("X-MSS-MES: FIN\r\n", True), ("X-MSS-MES: fin\r\n", False), ("", False)])
def test_end_of_exchange_header(headers, ok):
    findings = mss_conf.check_end_of_exchange([submitted("TLSv1.2", ALLOWED, [], headers)])
    assert (findings == []) is ok
