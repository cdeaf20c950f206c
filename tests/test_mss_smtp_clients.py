"""SMTP submission as real clients see it: a real-size PSC access token through XOAUTH2 and
OAUTHBEARER (smtplib, curl, raw exchanges), what EHLO advertises, the greeting and the codes.

curl and swaks are Debian packages `.ci/run` installs: locally a test needing one skips without
it, with CI=true it fails. Debian's swaks (20201014) has no XOAUTH2 or OAUTHBEARER (its
``--auth`` types are LOGIN, PLAIN, CRAM-MD5, CRAM-SHA1, DIGEST-MD5, NTLM), so swaks is used with
PLAIN over both listeners; bearer tokens are tested with smtplib and curl.
"""

from __future__ import annotations

import base64
import os
import shutil
import smtplib
import socket
import subprocess
import time
from pathlib import Path

import pytest

from harness.core import pki
from harness.core.recorder import ExchangeStore
from mock_services.mssante import MssSettings, start_operator
from mock_services.psc import tokens
from mock_services.psc.tokens import KeyRing
from tests.test_mss_operator import COLLEAGUE, SENDER, address, context, document, inbox, operator

__all__ = ["operator"]  # the module-scoped fixture, shared with the operator's other tests


def psc_access_token(running, id_nat_ps: str = "899900000011") -> str:
    """An access token as the PSC mock issues it after a login: signed, with every PSC claim."""
    grant = tokens.Grant(
        client_id="segur-harness-lps",
        sub=f"f:550dc1c8-d97b-4b1e-ac8c-8eb4471cf9dd:{id_nat_ps}",
        id_nat_ps=id_nat_ps,
        scope="openid scope_all",
        nonce="n-0S6_WzA2Mj",
        auth_time=int(time.time()),
        acr="eidas1",
    )
    issued = tokens.issue(
        running["keyring"], "https://psc.harnais.test/auth/realms/esante-wallet", grant, tokens.Lifetimes(), None
    )
    return str(issued["access_token"])


def xoauth2_blob(user: str, bearer: str) -> str:
    return base64.b64encode(f"user={user}\x01auth=Bearer {bearer}\x01\x01".encode()).decode()


def oauthbearer_blob(user: str, bearer: str, host: str = "127.0.0.1", port: int = 465) -> str:
    text = f"n,a={user},\x01host={host}\x01port={port}\x01auth=Bearer {bearer}\x01\x01"
    return base64.b64encode(text.encode()).decode()


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is missing: .ci/run must install the Debian package {name}")
        pytest.skip(f"{name} is not installed (apt-get install {name})")
    return path


class RawSmtp:
    """A line-by-line SMTP client over implicit TLS: bytes in, reply lines out."""

    def __init__(self, running, listener: str = "smtp"):
        host, port = address(running, listener)
        raw = socket.create_connection((host, port), timeout=10)
        self.sock = context(running).wrap_socket(raw, server_hostname=host) if listener == "smtp" else raw
        self.file = self.sock.makefile("rb")
        self.greeting = self.reply()

    def reply(self) -> list[bytes]:
        lines = []
        while True:
            line = self.file.readline().rstrip(b"\r\n")
            lines.append(line)
            if len(line) < 4 or line[3:4] != b"-":
                return lines

    def send(self, data: bytes) -> list[bytes]:
        self.sock.sendall(data)
        return self.reply()

    def close(self) -> None:
        try:
            self.send(b"QUIT\r\n")
        finally:
            self.file.close()
            self.sock.close()


# -- AUTH with a real PSC access token --------------------------------------------------------


def test_the_psc_mock_issues_a_real_size_token(operator):
    assert len(psc_access_token(operator)) > 900  # the size that broke aiosmtpd's 1,000-byte lines


@pytest.mark.parametrize("mechanism", ["XOAUTH2", "OAUTHBEARER"])
def test_a_psc_token_on_the_auth_line_authenticates(operator, mechanism):
    bearer = psc_access_token(operator)
    blob = (xoauth2_blob if mechanism == "XOAUTH2" else oauthbearer_blob)(SENDER, bearer)
    before = len(inbox(operator, COLLEAGUE))
    with smtplib.SMTP_SSL(*address(operator, "smtp"), context=context(operator)) as client:
        client.ehlo()
        code, answer = client.docmd("AUTH", f"{mechanism} {blob}")
        assert code == 235, answer
        client.sendmail(SENDER, [COLLEAGUE], document([COLLEAGUE]))
    assert len(inbox(operator, COLLEAGUE)) == before + 1


@pytest.mark.parametrize("mechanism", ["XOAUTH2", "OAUTHBEARER"])
def test_a_psc_token_after_the_334_prompt_authenticates(operator, mechanism):
    bearer = psc_access_token(operator)
    blob = (xoauth2_blob if mechanism == "XOAUTH2" else oauthbearer_blob)(SENDER, bearer)
    client = RawSmtp(operator)
    try:
        client.send(b"EHLO client.test\r\n")
        assert client.send(f"AUTH {mechanism}\r\n".encode())[0].startswith(b"334")
        assert client.send(blob.encode() + b"\r\n")[0].startswith(b"235")
    finally:
        client.close()


def test_a_sasl_response_of_16_kib_is_read_and_one_beyond_the_limit_is_refused(operator):
    bearer = psc_access_token(operator) + "." + "x" * 15000  # a bad token, of a size the server must read
    blob = xoauth2_blob(SENDER, bearer)
    assert len(base64.b64decode(blob)) > 15 * 1024
    client = RawSmtp(operator)
    try:
        client.send(b"EHLO client.test\r\n")
        first = client.send(f"AUTH XOAUTH2 {blob}\r\n".encode())
        assert first[0].startswith(b"334")  # read whole and judged: the XOAUTH2 error challenge
        assert client.send(b"\r\n")[0].startswith(b"535 5.7.8")
        too_long = base64.b64encode(b"x" * (17 * 1024)).decode()
        assert client.send(f"AUTH XOAUTH2 {too_long}\r\n".encode())[0].startswith(b"500 5.5.2")
        assert client.send(b"NOOP\r\n")[0].startswith(b"250")  # the session goes on
    finally:
        client.close()


def test_bad_base64_in_a_sasl_response_gets_501_not_a_python_error(operator):
    client = RawSmtp(operator)
    try:
        client.send(b"EHLO client.test\r\n")
        reply = client.send(b"AUTH XOAUTH2 not*base64!\r\n")[0]
        assert reply.startswith(b"501 5.5.2") and b"Error" not in reply
    finally:
        client.close()


def curl_send(operator, tmp_path: Path, url: str, *auth: str) -> subprocess.CompletedProcess[bytes]:
    message = tmp_path / "message.eml"
    message.write_bytes(document([COLLEAGUE]))
    command = [tool("curl"), "--silent", "--show-error", "--cacert", str(operator["layout"].ca_bundle), url]
    command += ["--mail-from", SENDER, "--mail-rcpt", COLLEAGUE, *auth, "--upload-file", str(message)]
    return subprocess.run(command, capture_output=True, timeout=60)


@pytest.mark.parametrize("listener", ["smtp", "smtp_starttls"])
def test_curl_authenticates_with_a_psc_token(operator, tmp_path, listener):
    host, port = address(operator, listener)
    url = f"smtps://{host}:{port}" if listener == "smtp" else f"smtp://{host}:{port}"
    tls = [] if listener == "smtp" else ["--ssl-reqd"]
    before = len(inbox(operator, COLLEAGUE))
    sent = curl_send(
        operator, tmp_path, url, *tls, "--user", f"{SENDER}:", "--oauth2-bearer", psc_access_token(operator)
    )
    assert sent.returncode == 0, sent.stderr
    assert len(inbox(operator, COLLEAGUE)) == before + 1


@pytest.fixture(scope="module")
def xoauth2_only(tmp_path_factory: pytest.TempPathFactory):
    """An operator that does not offer OAUTHBEARER, so that curl uses XOAUTH2."""
    folder = tmp_path_factory.mktemp("mss-xoauth2")
    layout = pki.init_pki(folder / "pki")
    keyring = KeyRing()
    exchanges = ExchangeStore(folder / "exchanges.sqlite3")
    settings = MssSettings(sasl_excluded=("OAUTHBEARER",))
    running = start_operator(
        exchanges, pki.server_ssl_context(layout), data_dir=folder, settings=settings, bearer=keyring.verify
    )
    yield {"op": running, "layout": layout, "keyring": keyring, "exchanges": exchanges}
    running.stop()
    exchanges.close()


@pytest.mark.parametrize("listener", ["smtp", "smtp_starttls"])
def test_curl_authenticates_with_xoauth2_and_a_psc_token(xoauth2_only, tmp_path, listener):
    host, port = address(xoauth2_only, listener)
    url = f"smtps://{host}:{port}" if listener == "smtp" else f"smtp://{host}:{port}"
    tls = [] if listener == "smtp" else ["--ssl-reqd"]
    bearer = psc_access_token(xoauth2_only)
    sent = curl_send(xoauth2_only, tmp_path, url, *tls, "--user", f"{SENDER}:", "--oauth2-bearer", bearer)
    assert sent.returncode == 0, sent.stderr
    auths = [e for e in xoauth2_only["exchanges"].exchanges(service="mss") if e.operation == "smtp.auth"]
    assert auths[-1].request_meta["auth_attempt"] == "XOAUTH2" and auths[-1].outcome == "ok"


def test_curl_is_refused_with_another_professionals_token(operator, tmp_path):
    host, port = address(operator, "smtp")
    bearer = psc_access_token(operator, "899900000029")
    sent = curl_send(operator, tmp_path, f"smtps://{host}:{port}", "--user", f"{SENDER}:", "--oauth2-bearer", bearer)
    assert sent.returncode != 0


@pytest.mark.parametrize("listener", ["smtp", "smtp_starttls"])
def test_swaks_submits_with_a_password(operator, listener):
    host, port = address(operator, listener)
    tls = ["--tls-on-connect"] if listener == "smtp" else ["--tls"]
    sent = subprocess.run(
        [
            *(tool("swaks"), "--server", host, "--port", str(port), *tls, "--auth", "PLAIN"),
            *("--auth-user", SENDER, "--auth-password", "segur-test", "--from", SENDER, "--to", COLLEAGUE),
            *("--header", f"From: {SENDER}", "--header", "Subject: test swaks"),
        ],
        capture_output=True,
        timeout=60,
    )
    assert sent.returncode == 0, sent.stdout.decode(errors="replace")[-2000:]


# -- what the server says of itself ----------------------------------------------------------


def test_ehlo_advertises_what_is_implemented_and_the_greeting_is_neutral(operator):
    with smtplib.SMTP_SSL(*address(operator, "smtp"), context=context(operator)) as client:
        client.ehlo()
        for extension in ("pipelining", "enhancedstatuscodes", "dsn", "auth", "size", "8bitmime"):
            assert client.has_extn(extension), extension
        assert client.esmtp_features["auth"].split() == ["LOGIN", "OAUTHBEARER", "PLAIN", "XOAUTH2"]
    client = RawSmtp(operator)
    try:
        banner = client.greeting[0]
        assert banner == b"220 harnais.mssante.fr ESMTP"  # no software name or version
        assert client.send(b"NOOP\r\n") == [b"250 2.0.0 OK"]  # aiosmtpd's reply, with its enhanced code
        assert client.send(b"FOO\r\n")[0].startswith(b"500 5.5.2")
    finally:
        client.close()


def test_before_starttls_the_refusal_carries_its_enhanced_code(operator):
    client = RawSmtp(operator, "smtp_starttls")
    try:
        client.send(b"EHLO client.test\r\n")
        assert client.send(b"MAIL FROM:<" + SENDER.encode() + b">\r\n") == [
            b"530 5.7.0 Must issue a STARTTLS command first"
        ]
    finally:
        client.close()


def test_pipelined_commands_are_answered_in_order(operator):
    client = RawSmtp(operator)
    try:
        client.send(b"EHLO client.test\r\n")
        plain = base64.b64encode(f"\0{SENDER}\0segur-test".encode())
        assert client.send(b"AUTH PLAIN " + plain + b"\r\n")[0].startswith(b"235")
        client.sock.sendall(f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{COLLEAGUE}>\r\nRSET\r\n".encode())
        replies = [client.reply()[0][:3] for _ in range(3)]
        assert replies == [b"250", b"250", b"250"]
    finally:
        client.close()


def test_commands_with_a_bare_lf_are_refused(operator):
    client = RawSmtp(operator)
    try:
        assert client.send(b"EHLO client.test\n")[0].startswith(b"500 5.5.2")
        assert client.send(b"EHLO client.test\r\n")[0].startswith(b"250")
    finally:
        client.close()
