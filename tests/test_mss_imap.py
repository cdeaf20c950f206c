"""The MSSanté IMAP mock, driven by real clients: Python's imaplib, curl, and raw protocol lines."""

from __future__ import annotations

import base64
import imaplib
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from harness.core import pki
from harness.protocols.mockserver import ServerStartError
from mock_services.mssante.imap import ImapServer, ImapSettings, Principal, ServedImap, serve_imap
from mock_services.mssante.store import MailStore

pytestmark = pytest.mark.slow

USER = "docteur.test@harnais.mssante.fr"
PASSWORD = 'mot de passe "test"'
TOKEN = "psc-access-token-0001"
ORG_MAILBOXES = frozenset({"dpi-reference@harnais.mssante.fr", "secretariat@harnais.mssante.fr"})
SENDER = "expediteur@harnais.mssante.fr"


class FakeAuthenticator:
    """One password user, one bearer token for the same user, and the DMP-ORG certificate for two mailboxes."""

    def __init__(self) -> None:
        self.fail_with: Exception | None = None

    def password(self, user: str, password: str) -> Principal | None:
        if self.fail_with is not None:
            raise self.fail_with
        if user.lower() == USER and password == PASSWORD:
            return Principal(user, frozenset({USER}), "LOGIN")
        return None

    def bearer(self, user: str, token: str, mechanism: str) -> Principal | None:
        if user.lower() == USER and token == TOKEN:
            return Principal(user, frozenset({USER}), mechanism)
        return None

    def certificate(self, der: bytes | None, user: str | None) -> Principal | None:
        if not der:
            return None
        names = x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        if not names or names[0].value != "DMP-ORG":
            return None
        if user and user.lower() not in ORG_MAILBOXES:
            return None
        return Principal(user or sorted(ORG_MAILBOXES)[0], ORG_MAILBOXES, "EXTERNAL")


def message(
    subject: str, body: str = "Bonjour,\r\nvoici le compte rendu.", sender: str = SENDER, extra: str = ""
) -> bytes:
    return (
        f"From: Expediteur Test <{sender}>\r\n"
        f"To: {USER}\r\n"
        f"Subject: {subject}\r\n"
        "Date: Mon, 06 Jan 2025 10:00:00 +0100\r\n"
        f"Message-ID: <{subject.replace(' ', '.')}@harnais.test>\r\n"
        f"{extra}"
        "\r\n"
        f"{body}\r\n"
    ).encode()


@dataclass
class Env:
    layout: pki.PkiLayout
    store: MailStore
    server: ImapServer
    served: ServedImap
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.served.port

    def client_context(self, client: str | None = None) -> ssl.SSLContext:
        return pki.client_ssl_context(self.layout, client)

    def imap(self, client: str | None = None) -> imaplib.IMAP4_SSL:
        return imaplib.IMAP4_SSL("127.0.0.1", self.port, ssl_context=self.client_context(client), timeout=10)

    def logged_in(self) -> imaplib.IMAP4_SSL:
        client = self.imap()
        client.login(USER, PASSWORD)
        return client


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> pki.PkiLayout:
    return pki.init_pki(tmp_path_factory.mktemp("pki"))


def _start(
    layout: pki.PkiLayout, tmp_path: Path, settings: ImapSettings | None = None, implicit_tls: bool = True
) -> Iterator[Env]:
    store = MailStore(tmp_path / "mailboxes.sqlite3")
    events: list[dict[str, Any]] = []
    server = ImapServer(store, FakeAuthenticator(), settings, on_command=events.append)
    served = serve_imap(server, ssl_context=pki.server_ssl_context(layout), implicit_tls=implicit_tls)
    try:
        yield Env(layout, store, server, served, events)
    finally:
        served.stop()
        store.close()
    assert not served._thread.is_alive(), "the IMAP listener did not stop"


@pytest.fixture
def env(layout: pki.PkiLayout, tmp_path: Path) -> Iterator[Env]:
    yield from _start(layout, tmp_path)


@pytest.fixture
def starttls_env(layout: pki.PkiLayout, tmp_path: Path) -> Iterator[Env]:
    yield from _start(layout, tmp_path, implicit_tls=False)


@pytest.fixture
def small_env(layout: pki.PkiLayout, tmp_path: Path) -> Iterator[Env]:
    yield from _start(layout, tmp_path, ImapSettings(max_line_bytes=2048, max_literal_bytes=1024))


class Raw:
    """A protocol-level client, for what imaplib will not send (garbage, wrong state, IDLE)."""

    def __init__(self, port: int, context: ssl.SSLContext | None):
        plain = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock: socket.socket = context.wrap_socket(plain, server_hostname="127.0.0.1") if context else plain
        self.greeting = self.line()

    def line(self) -> bytes:
        data = bytearray()
        while not data.endswith(b"\r\n"):
            chunk = self.sock.recv(1)
            if not chunk:
                break
            data += chunk
        return bytes(data)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def until(self, prefix: bytes) -> list[bytes]:
        """Lines up to and including the first that starts with ``prefix``."""
        lines: list[bytes] = []
        while True:
            line = self.line()
            if not line:
                raise AssertionError(f"connection closed before {prefix!r}; got {lines}")
            lines.append(line)
            if line.startswith(prefix):
                return lines

    def command(self, tag: str, text: str) -> list[bytes]:
        self.send(f"{tag} {text}\r\n".encode())
        return self.until(tag.encode() + b" ")

    def closed(self) -> bool:
        """Whether the server closes the connection within the socket timeout (after what it still sent)."""
        try:
            while self.sock.recv(4096):
                pass
        except TimeoutError:
            return False
        except (ConnectionError, ssl.SSLError):
            pass
        return True

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Raw:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _data(fetched: list[Any]) -> list[bytes]:
    """The literal payloads of an imaplib FETCH answer."""
    return [part[1] for part in fetched if isinstance(part, tuple)]


def _authentications(env: Env, expected: int, timeout: float = 5.0) -> list[tuple[str, str]]:
    """(method, result) of the AUTHENTICATE records, once ``expected`` of them are in.

    A client may leave before the server has noticed (curl after a refused XOAUTH2): the record
    is written when the server sees the connection end, not when the client process exits.
    """
    deadline = time.monotonic() + timeout
    while True:
        found = [(e["method"], e["result"]) for e in env.events if e["command"] == "AUTHENTICATE"]
        if len(found) >= expected or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def _flat(fetched: list[Any]) -> bytes:
    """An imaplib FETCH answer as the text the server sent, literals left out."""
    return b" ".join(part[0] if isinstance(part, tuple) else part for part in fetched if part is not None)


# -- imaplib over implicit TLS ---------------------------------------------------------------


def test_login_select_search_fetch_store_expunge_logout(env: Env) -> None:
    first, second = message("Compte rendu 1"), message("Compte rendu 2")
    assert env.store.deliver(USER, first) == 1
    assert env.store.deliver(USER, second) == 2
    client = env.imap()
    assert "AUTH=PLAIN" in client.capabilities and "LOGINDISABLED" not in client.capabilities
    assert "STARTTLS" not in client.capabilities  # already TLS
    assert client.login(USER, PASSWORD)[0] == "OK"
    assert client.select("INBOX") == ("OK", [b"2"])
    assert client.search(None, "UNSEEN") == ("OK", [b"1 2"])
    typ, fetched = client.fetch("1", "(RFC822)")
    assert typ == "OK" and _data(fetched) == [first]
    assert client.search(None, "UNSEEN") == ("OK", [b"2"])  # RFC822 sets \\Seen
    assert "\\Seen" in env.store.messages(USER)[0].flags
    assert client.store("1", "+FLAGS", "\\Deleted")[0] == "OK"
    assert client.expunge() == ("OK", [b"1"])
    assert [m.uid for m in env.store.messages(USER)] == [2]
    assert client.fetch("1", "(UID)") == ("OK", [b"1 (UID 2)"])
    assert client.logout()[0] == "BYE"

    commands = [e["command"] for e in env.events]
    expected = ["CAPABILITY", "LOGIN", "SELECT", "SEARCH", "FETCH", "SEARCH", "STORE", "EXPUNGE", "FETCH"]
    assert commands == [*expected, "LOGOUT"]
    login = env.events[1]
    assert login["result"] == "OK" and login["user"] == USER and login["tls"] is True
    assert login["arguments"] == f"{USER} ***"
    assert env.events[2]["mailbox"] == USER and env.events[2]["folder"] == "INBOX"
    assert "mot de passe" not in json.dumps(env.events)


def test_uid_commands_peek_and_sections(env: Env) -> None:
    raw = message("Resultats", extra="X-MSS-INS: O\r\n")
    env.store.deliver(USER, message("Premier"))
    env.store.deliver(USER, raw)
    with env.logged_in() as client:
        client.select("INBOX")
        assert client.uid("SEARCH", "UID", "2:*") == ("OK", [b"2"])
        typ, fetched = client.uid("FETCH", "2", "(BODY.PEEK[])")
        assert typ == "OK" and _data(fetched) == [raw]
        assert b"UID 2" in fetched[0][0]
        assert "\\Seen" not in env.store.messages(USER)[1].flags  # PEEK leaves it unread
        _, fetched = client.uid("FETCH", "2", "(BODY.PEEK[HEADER.FIELDS (SUBJECT X-MSS-INS)])")
        assert b"BODY[HEADER.FIELDS (SUBJECT X-MSS-INS)]" in fetched[0][0]
        assert _data(fetched) == [b"Subject: Resultats\r\nX-MSS-INS: O\r\n\r\n"]
        _, fetched = client.uid("FETCH", "2", "(BODY[TEXT] FLAGS)")
        assert _data(fetched) == [b"Bonjour,\r\nvoici le compte rendu.\r\n"]
        assert b"\\Seen" in _flat(fetched).split(b"FLAGS", 1)[1]
        _, fetched = client.uid("FETCH", "2", "(BODY.PEEK[]<0.6> RFC822.SIZE INTERNALDATE)")
        assert _data(fetched) == [raw[:6]]
        assert f"RFC822.SIZE {len(raw)}".encode() in _flat(fetched)
        assert b'INTERNALDATE "' in _flat(fetched)
        _, fetched = client.uid("FETCH", "1", "(BODY.PEEK[HEADER])")
        assert _data(fetched)[0].endswith(b"\r\n\r\n") and _data(fetched)[0].startswith(b"From: ")
        assert client.uid("STORE", "1", "+FLAGS", "(\\Flagged $Important)")[0] == "OK"
        assert env.store.messages(USER)[0].flags == frozenset({"\\Flagged", "$Important"})
        assert client.uid("STORE", "1", "-FLAGS.SILENT", "(\\Flagged)") == ("OK", [None])
        assert client.uid("SEARCH", "FLAGGED") == ("OK", [b""])


def test_search_criteria(env: Env) -> None:
    env.store.deliver(USER, message("Compte rendu DUPONT", sender="labo@harnais.mssante.fr"))
    env.store.deliver(USER, message("Ordonnance MARTIN", extra="X-MSS-INS: N\r\n"), flags=frozenset({"\\Seen"}))
    env.store.deliver(USER, message("Compte rendu MARTIN", body="Resultat normal"))
    with env.logged_in() as client:
        client.select("INBOX")

        def search(*criteria: str) -> bytes:
            typ, data = client.search(None, *criteria)
            assert typ == "OK"
            return data[0]

        assert search("ALL") == b"1 2 3"
        assert search("SUBJECT", "martin") == b"2 3"
        assert search("FROM", "labo@") == b"1"
        assert search("TO", USER) == b"1 2 3"
        assert search("HEADER", "X-MSS-INS", "N") == b"2"
        assert search("HEADER", "X-MSS-INS", '""') == b"2"
        assert search("SEEN") == b"2"
        assert search("NOT", "SEEN") == b"1 3"
        assert search("UNSEEN", "SUBJECT", "MARTIN") == b"3"
        assert search("OR", "FROM", "labo", "SEEN") == b"1 2"
        assert search("BODY", "normal") == b"3"
        assert search("2:*") == b"2 3"
        assert search("UID", "1,3") == b"1 3"
        assert search("(SUBJECT compte UNDELETED)") == b"1 3"
        assert search("SENTON", "6-Jan-2025") == b"1 2 3"
        assert search("CHARSET", "UTF-8", "SUBJECT", "DUPONT") == b"1"
        with pytest.raises(imaplib.IMAP4.error, match="Unknown SEARCH criterion"):
            client.search(None, "NONSENSE")


def test_expunge_reports_descending_and_other_sessions_hear_of_it(env: Env) -> None:
    for n in (1, 2, 3):
        env.store.deliver(USER, message(f"Message {n}"))
    with env.logged_in() as watcher, env.logged_in() as client:
        watcher.select("INBOX")
        client.select("INBOX")
        env.store.deliver(USER, message("Message 4"))
        client.store("1,3", "+FLAGS", "\\Deleted")
        # Highest first: each EXPUNGE leaves the lower sequence numbers valid.
        assert client.expunge() == ("OK", [b"3", b"1"])
        watcher.noop()
        assert watcher.response("EXPUNGE") == ("EXPUNGE", [b"3", b"1"])
        assert watcher.response("EXISTS")[1][-1] == b"2"  # after the 3 of its SELECT
        assert watcher.fetch("2", "(UID)") == ("OK", [b"2 (UID 4)"])


def test_uids_are_never_reused_after_an_expunge(env: Env) -> None:
    # RFC 3501 §2.3.1.1: within one UIDVALIDITY a UID is never given twice, even once expunged.
    env.store.deliver(USER, message("Premier"))
    env.store.deliver(USER, message("Second"))
    with env.logged_in() as client:
        client.select("INBOX")
        client.store("2", "+FLAGS", "\\Deleted")
        client.expunge()
        env.store.deliver(USER, message("Troisieme"))
        client.noop()
        assert client.fetch("2", "(UID)") == ("OK", [b"2 (UID 3)"])
        assert client.status("INBOX", "(UIDNEXT)") == ("OK", [b'"INBOX" (UIDNEXT 4)'])


def test_xoauth2_and_oauthbearer_with_imaplib(env: Env) -> None:
    with env.imap() as client:
        assert "AUTH=XOAUTH2" in client.capabilities and "SASL-IR" in client.capabilities
        typ, _ = client.authenticate("XOAUTH2", lambda _: f"user={USER}\x01auth=Bearer {TOKEN}\x01\x01".encode())
        assert typ == "OK"
        assert client.select("INBOX")[0] == "OK"
    with env.imap() as client:
        typ, _ = client.authenticate("OAUTHBEARER", lambda _: f"n,a={USER},\x01auth=Bearer {TOKEN}\x01\x01".encode())
        assert typ == "OK"
    with env.imap() as client:
        # The RFC 7628 error exchange: a JSON challenge, the client's answer, then NO.
        challenges: list[bytes] = []

        def wrong(challenge: bytes) -> bytes:
            challenges.append(challenge)
            return f"n,a={USER},\x01auth=Bearer wrong-token\x01\x01".encode()

        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
            client.authenticate("OAUTHBEARER", wrong)
        assert json.loads(challenges[-1])["status"] == "invalid_token"
        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
            client.authenticate("XOAUTH2", lambda _: f"user={USER}\x01auth=Bearer nope\x01\x01".encode())
        assert client.login(USER, PASSWORD)[0] == "OK"  # failures leave the connection usable
    methods = [(e["command"], e["method"], e["result"]) for e in env.events if e["command"] == "AUTHENTICATE"]
    assert methods == [
        ("AUTHENTICATE", "XOAUTH2", "OK"),
        ("AUTHENTICATE", "OAUTHBEARER", "OK"),
        ("AUTHENTICATE", "OAUTHBEARER", "NO"),
        ("AUTHENTICATE", "XOAUTH2", "NO"),
    ]
    assert TOKEN not in json.dumps(env.events)


def test_sasl_initial_response_and_plain(env: Env) -> None:
    plain = base64.b64encode(f"\x00{USER}\x00{PASSWORD}".encode()).decode()
    with Raw(env.port, env.client_context()) as raw:
        assert raw.greeting.startswith(b"* OK [CAPABILITY IMAP4rev1")
        assert raw.command("a1", f"AUTHENTICATE PLAIN {plain}")[-1].startswith(b"a1 OK")
        assert raw.command("a2", "SELECT INBOX")[-1] == b"a2 OK [READ-WRITE] SELECT completed\r\n"
    with Raw(env.port, env.client_context()) as raw:
        raw.send(b"b1 AUTHENTICATE PLAIN\r\n")
        assert raw.line() == b"+ \r\n"
        raw.send(b"*\r\n")
        assert raw.line().startswith(b"b1 BAD")  # RFC 3501: a cancelled exchange is BAD
        assert raw.command("b2", "AUTHENTICATE CRAM-MD5")[-1].startswith(b"b2 NO")
        assert raw.command("b3", "AUTHENTICATE PLAIN not-base64!")[-1].startswith(b"b3 BAD")
        # A valid password, but an authorisation identity the user has no right to: refused.
        other = base64.b64encode(f"secretariat@harnais.mssante.fr\x00{USER}\x00{PASSWORD}".encode()).decode()
        assert raw.command("b4", f"AUTHENTICATE PLAIN {other}")[-1].startswith(b"b4 NO [AUTHORIZATIONFAILED]")
        raw.send(b"b5 AUTHENTICATE PLAIN\r\n")
        assert raw.line() == b"+ \r\n"
        raw.send(plain.encode() + b"\r\n")
        assert raw.line().startswith(b"b5 OK [CAPABILITY IMAP4rev1")


def test_wrong_password_is_no_and_too_many_failures_close(env: Env) -> None:
    with env.imap() as client:
        with pytest.raises(imaplib.IMAP4.error, match=r"\[AUTHENTICATIONFAILED\]"):
            client.login(USER, "wrong")
        assert client.login(USER, PASSWORD)[0] == "OK"
    with Raw(env.port, env.client_context()) as raw:
        for n in range(4):
            assert raw.command(f"f{n}", f"LOGIN {USER} wrong")[-1].startswith(f"f{n} NO".encode())
        last = raw.command("f4", f"LOGIN {USER} wrong")
        assert last[0].startswith(b"* BYE") and last[-1].startswith(b"f4 NO")
        assert raw.closed()


def test_login_refused_before_starttls_and_accepted_after(starttls_env: Env) -> None:
    env = starttls_env
    with imaplib.IMAP4("127.0.0.1", env.port, timeout=10) as client:
        assert "STARTTLS" in client.capabilities and "LOGINDISABLED" in client.capabilities
        assert not any(c.startswith("AUTH=") for c in client.capabilities)
        with pytest.raises(imaplib.IMAP4.error, match=r"\[PRIVACYREQUIRED\]"):
            client.login(USER, PASSWORD)
        assert client.starttls(ssl_context=env.client_context())[0] == "OK"
        assert "LOGINDISABLED" not in client.capabilities and "STARTTLS" not in client.capabilities
        assert client.login(USER, PASSWORD)[0] == "OK"
    assert [(e["command"], e["result"], e["tls"]) for e in env.events[:4]] == [
        ("CAPABILITY", "OK", False),
        ("LOGIN", "NO", False),
        ("STARTTLS", "OK", False),
        ("CAPABILITY", "OK", True),
    ]


def test_starttls_drops_commands_sent_in_clear_after_it(starttls_env: Env) -> None:
    with Raw(starttls_env.port, None) as raw:
        raw.send(b"s1 STARTTLS\r\ns2 LOGIN injected command\r\n")
        assert raw.until(b"s1 ")[-1].startswith(b"s1 OK")
        raw.sock = starttls_env.client_context().wrap_socket(raw.sock, server_hostname="127.0.0.1")
        answer = raw.command("s3", "NOOP")
        assert answer == [b"s3 OK NOOP completed\r\n"]  # nothing answered for s2
    assert "s2" not in [e["tag"] for e in starttls_env.events]


def test_authenticate_external_with_a_client_certificate(env: Env) -> None:
    other = "secretariat@harnais.mssante.fr"
    env.store.deliver(other, message("Pour le secretariat"))
    with env.imap("dmp-org") as client:
        assert "AUTH=EXTERNAL" in client.capabilities
        typ, _ = client.authenticate("EXTERNAL", lambda _: b"")
        assert typ == "OK"
        typ, listed = client.list()
        assert typ == "OK"
        names = [line.rsplit(b" ", 1)[-1] for line in listed if isinstance(line, bytes)]
        assert b'"INBOX"' in names and f'"{other}/INBOX"'.encode() in names and b'"Sent"' in names
        assert client.select(f'"{other}/INBOX"') == ("OK", [b"1"])
    with env.imap("dmp-org") as client:
        assert client.authenticate("EXTERNAL", lambda _: other.encode())[0] == "OK"
        assert client.select("INBOX") == ("OK", [b"1"])  # the authorisation identity is the default mailbox
    with env.imap("dmp-org") as client, pytest.raises(imaplib.IMAP4.error, match=r"\[AUTHENTICATIONFAILED\]"):
        client.authenticate("EXTERNAL", lambda _: USER.encode())
    with env.imap(None) as client:
        assert "AUTH=EXTERNAL" not in client.capabilities
        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
            client.authenticate("EXTERNAL", lambda _: b"")
    external = [e for e in env.events if e["command"] == "AUTHENTICATE"]
    assert external[0]["client_subject"] and "CN=DMP-ORG" in external[0]["client_subject"]
    assert external[0]["mailbox"] == "dpi-reference@harnais.mssante.fr"


def test_append_create_and_trycreate(env: Env) -> None:
    raw = message("Envoye par le produit")
    with env.logged_in() as client:
        typ, data = client.append("Sent", "(\\Seen)", None, raw)
        assert typ == "OK" and data[0].startswith(b"[APPENDUID ")
        assert env.store.messages(USER, "Sent")[0].raw == raw
        assert env.store.messages(USER, "Sent")[0].flags == frozenset({"\\Seen"})
        typ, data = client.append("Archives", None, imaplib.Time2Internaldate(time.time()), raw)
        assert typ == "NO" and b"[TRYCREATE]" in data[0]
        assert client.create("Archives")[0] == "OK"
        assert client.append("Archives", None, imaplib.Time2Internaldate(time.time()), raw)[0] == "OK"
        _, listed = client.list()
        assert any(line.endswith(b'"Archives"') for line in listed if isinstance(line, bytes))
        assert any(b"\\Sent" in line for line in listed if isinstance(line, bytes))
        client.select("INBOX")
        assert client.append("INBOX", None, None, raw)[0] == "OK"
        client.noop()
        assert client.response("EXISTS")[1][-1] == b"1"
        assert client.status("Archives", "(MESSAGES UIDNEXT UNSEEN)") == (
            "OK",
            [b'"Archives" (MESSAGES 1 UIDNEXT 2 UNSEEN 1)'],
        )
        typ, data = client.copy("1", "Archives")
        assert typ == "OK" and data[0].startswith(b"[COPYUID ")
        assert len(env.store.messages(USER, "Archives")) == 2


def test_move_and_uid_expunge_touch_only_their_messages(env: Env) -> None:
    for n in (1, 2, 3, 4):
        env.store.deliver(USER, message(f"Message {n}"))
    with env.logged_in() as client:
        client.select("INBOX")
        client.store("1:4", "+FLAGS", "\\Deleted")
        # UIDPLUS: UID EXPUNGE removes only the named UIDs, other \\Deleted messages stay.
        assert client.uid("EXPUNGE", "2")[0] == "OK"
        assert client.response("EXPUNGE") == ("EXPUNGE", [b"2"])
        assert [m.uid for m in env.store.messages(USER)] == [1, 3, 4]
        assert all("\\Deleted" in m.flags for m in env.store.messages(USER))
        client.uid("STORE", "1,3", "-FLAGS", "(\\Deleted)")
        assert client.uid("MOVE", "3:4", "Sent")[0] == "OK"
        assert b"[COPYUID " in b" ".join(d for d in client.response("OK")[1] if isinstance(d, bytes))
        assert client.response("EXPUNGE")[1] == [b"3", b"2"]
        assert [m.uid for m in env.store.messages(USER)] == [1]
        moved = env.store.messages(USER, "Sent")
        assert [m.raw for m in moved] == [message("Message 3"), message("Message 4")]
        assert "\\Deleted" not in moved[0].flags and "\\Deleted" in moved[1].flags  # flags travel
        assert client.uid("MOVE", "1", "Nowhere")[0] == "NO"


def test_list_patterns_namespace_status_and_id(env: Env) -> None:
    env.store.deliver(USER, message("Archive"), folder="Archives/2024")
    with env.logged_in() as client:

        def names(reference: str, pattern: str) -> list[bytes]:
            typ, listed = client.list(reference, pattern)
            assert typ == "OK"
            return [line for line in listed if isinstance(line, bytes)]

        everything = names('""', "*")
        assert b'(\\HasNoChildren) "/" "INBOX"' in everything
        assert b'(\\HasChildren) "/" "Archives"' in b" ".join(everything).replace(b"\\Noselect ", b"")
        assert b'(\\HasNoChildren) "/" "Archives/2024"' in everything
        assert [line.rsplit(b" ", 1)[-1] for line in names('""', "%")] == [b'"INBOX"', b'"Archives"', b'"Sent"']
        assert names('"Archives/"', "%") == [b'(\\HasNoChildren) "/" "Archives/2024"']
        assert names('""', "inbox") == [b'(\\HasNoChildren) "/" "INBOX"']  # INBOX is case-insensitive
        assert names('""', '""') == [b'(\\Noselect) "/" ""']
        assert client.lsub()[0] == "OK"
        assert client.namespace() == ("OK", [b'(("" "/")) NIL NIL'])
        assert client.status("INBOX", "(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)") == (
            "OK",
            [f'"INBOX" (MESSAGES 0 RECENT 0 UIDNEXT 1 UIDVALIDITY {env.store.uidvalidity} UNSEEN 0)'.encode()],
        )
        assert client.xatom("ID", '("name" "test-suite")')[0] == "OK"
        assert client.select("Archives/2024") == ("OK", [b"1"])
        assert client.select("Archives")[0] == "NO"  # a parent that holds no messages is \\Noselect
        assert client.create("Archives/2025")[0] == "OK"
        assert client.delete("Archives/2025")[0] == "OK"
        assert client.delete("INBOX")[0] == "NO"


def test_examine_is_read_only(env: Env) -> None:
    env.store.deliver(USER, message("Lecture seule"))
    with env.logged_in() as client:
        assert client.select("INBOX", readonly=True) == ("OK", [b"1"])
        client.fetch("1", "(RFC822)")
        assert env.store.messages(USER)[0].flags == frozenset()
        assert client.store("1", "+FLAGS", "\\Deleted")[0] == "NO"
        assert client.select("Nowhere")[0] == "NO"


def test_bodystructure_envelope_and_parts(env: Env) -> None:
    attachment = base64.b64encode(b"PK\x03\x04 zip bytes").decode()
    raw = (
        f"From: Expediteur Test <{SENDER}>\r\nTo: {USER}\r\nSubject: Document\r\n"
        "Date: Mon, 06 Jan 2025 10:00:00 +0100\r\nMessage-ID: <doc@harnais.test>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        "preamble\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nCorps du message\r\n"
        '--b1\r\nContent-Type: application/zip; name="IHE_XDM.ZIP"\r\nContent-Transfer-Encoding: base64\r\n'
        'Content-Disposition: attachment; filename="IHE_XDM.ZIP"\r\n\r\n'
        f"{attachment}\r\n--b1--\r\n"
    ).encode()
    env.store.deliver(USER, raw)
    with env.logged_in() as client:
        client.select("INBOX")
        _, fetched = client.fetch("1", "(BODYSTRUCTURE ENVELOPE)")
        line = _flat(fetched)
        # The CRLF before a boundary belongs to the boundary (RFC 2046): 16 bytes, no line break.
        assert b'(("text" "plain" ("charset" "utf-8") NIL NIL "7BIT" 16 0 NIL NIL NIL NIL)' in line
        assert b'"application" "zip" ("name" "IHE_XDM.ZIP") NIL NIL "BASE64"' in line
        assert b'("attachment" ("filename" "IHE_XDM.ZIP"))' in line
        assert b' "mixed" ("boundary" "b1")' in line
        assert b'"Document" (("Expediteur Test" NIL "expediteur" "harnais.mssante.fr"))' in line
        _, fetched = client.fetch("1", "(BODY.PEEK[2] BODY.PEEK[1] BODY.PEEK[2.MIME])")
        assert _data(fetched) == [
            attachment.encode(),
            b"Corps du message",
            b'Content-Type: application/zip; name="IHE_XDM.ZIP"\r\nContent-Transfer-Encoding: base64\r\n'
            b'Content-Disposition: attachment; filename="IHE_XDM.ZIP"\r\n\r\n',
        ]
        _, fetched = client.fetch("1", "(BODY.PEEK[3] RFC822.SIZE)")
        assert _data(fetched) == [b""] and b"RFC822.SIZE" in _flat(fetched)  # no part 3: empty
        _, fetched = client.fetch("1", "FAST")
        assert b"RFC822.SIZE" in _flat(fetched) and b"INTERNALDATE" in _flat(fetched)


def test_idle_reports_new_mail(env: Env) -> None:
    with Raw(env.port, env.client_context()) as raw:
        raw.command("i1", f'LOGIN {USER} "mot de passe \\"test\\""')
        raw.command("i2", "SELECT INBOX")
        raw.send(b"i3 IDLE\r\n")
        assert raw.line() == b"+ idling\r\n"
        threading.Timer(0.2, env.store.deliver, (USER, message("Pendant IDLE"))).start()
        assert raw.until(b"* 1 EXISTS")
        raw.send(b"DONE\r\n")
        assert raw.until(b"i3 ")[-1] == b"i3 OK IDLE terminated\r\n"


def test_wrong_state_unknown_and_garbage_do_not_kill_the_server(env: Env) -> None:
    with Raw(env.port, env.client_context()) as raw:
        assert raw.command("w1", "FETCH 1 (FLAGS)")[-1].startswith(b"w1 BAD")
        assert raw.command("w2", "SELECT INBOX")[-1].startswith(b"w2 BAD")
        assert raw.command("w3", "FROBNICATE")[-1] == b"w3 BAD Unknown command FROBNICATE\r\n"
        raw.send(b"\xff\xfe\x00\x01 (((\r\n")
        assert raw.line().startswith(b"* BAD")
        blob = base64.b64encode(f"\x00{USER}\x00{PASSWORD}".encode()).replace(b"+", b"A")
        raw.send(blob + b"\r\n")  # a SASL response sent out of turn is neither echoed nor recorded
        assert raw.line() == b"* BAD Expected: tag command [arguments]\r\n"
        assert raw.command("w4", 'LOGIN "unterminated')[-1].startswith(b"w4 BAD")
        assert raw.command("w5", "NOOP")[-1] == b"w5 OK NOOP completed\r\n"
        raw.command("w6", f'LOGIN {USER} "mot de passe \\"test\\""')
        assert raw.command("w7", "LOGIN again please")[-1].startswith(b"w7 BAD")
        assert raw.command("w8", "FETCH 1 (FLAGS)")[-1].startswith(b"w8 BAD")  # nothing selected
        raw.command("w9", "SELECT INBOX")
        assert raw.command("w10", "FETCH 5 (FLAGS)")[-1].startswith(b"w10 BAD")  # no message 5
        assert raw.command("w11", "FETCH 1:* (NOSUCHITEM)")[-1].startswith(b"w11 BAD")
    with Raw(env.port, env.client_context()) as raw:
        raw.send(b"t1 NOOP " + b"x" * 70_000 + b"\r\n")
        answer = raw.until(b"* BYE")
        assert answer[0].startswith(b"* BAD") and raw.closed()
    with env.logged_in() as client:  # the listener survived all of it
        assert client.select("INBOX")[0] == "OK"
    assert ("?", "BAD", "Line too long") in [(e["command"], e["result"], e["detail"]) for e in env.events]
    assert blob.decode() not in json.dumps(env.events)


def test_an_authenticator_crash_closes_only_that_connection(env: Env) -> None:
    assert isinstance(env.server.authenticator, FakeAuthenticator)
    env.server.authenticator.fail_with = RuntimeError("directory down")
    with Raw(env.port, env.client_context()) as raw:
        answer = raw.command("c1", f"LOGIN {USER} x")
        assert answer[0].startswith(b"* BYE") and answer[-1].startswith(b"c1 BAD")
        assert raw.closed()
    env.server.authenticator.fail_with = None
    with env.logged_in() as client:
        assert client.noop()[0] == "OK"


def test_literals_are_bounded(small_env: Env) -> None:
    env = small_env
    with env.logged_in() as client:
        typ, data = client.append("INBOX", None, None, message("Trop gros", body="x" * 4096))
        assert typ == "NO" and b"[TOOBIG]" in data[0]
        assert client.append("INBOX", None, None, message("Petit"))[0] == "OK"
        assert client.noop()[0] == "OK"
    with Raw(env.port, env.client_context()) as raw:
        raw.command("l1", f'LOGIN {USER} "mot de passe \\"test\\""')
        # LITERAL+: the client does not wait, so the server cannot skip the bytes; BAD and close.
        raw.send(b"l2 APPEND INBOX {5000+}\r\n")
        answer = raw.until(b"* BYE")
        assert answer[0].startswith(b"l2 BAD [TOOBIG]") and raw.closed()
    with Raw(env.port, env.client_context()) as raw:
        raw.command("m1", f'LOGIN {USER} "mot de passe \\"test\\""')
        raw.send(b"m2 LOGIN {3+}\r\nabc x\r\n")
        assert raw.until(b"m2 ")[-1].startswith(b"m2 BAD")  # a LITERAL+ within limits is read
        raw.send(b"m3 LIST {0}\r\n")
        assert raw.line() == b"+ Ready for literal data\r\n"
        raw.send(b' "*"\r\n')
        assert raw.until(b"m3 ")[-1] == b"m3 OK LIST completed\r\n"
    assert len(env.store.messages(USER)) == 1


def test_serve_imap_reports_start_errors(layout: pki.PkiLayout) -> None:
    server = ImapServer(MailStore(), FakeAuthenticator())
    with pytest.raises(ValueError, match="ssl_context"):
        serve_imap(server)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(ServerStartError, match="cannot listen"):
            serve_imap(server, ssl_context=pki.server_ssl_context(layout), port=taken.getsockname()[1])
    server.store.close()


def test_stop_ends_connected_sessions(layout: pki.PkiLayout, tmp_path: Path) -> None:
    for env in _start(layout, tmp_path):
        silent = socket.create_connection(("127.0.0.1", env.port), timeout=10)  # never starts its handshake
        with silent, Raw(env.port, env.client_context()) as idle:
            idle.command("a", f'LOGIN {USER} "mot de passe \\"test\\""')
            started = time.monotonic()
            env.served.stop()
            assert time.monotonic() - started < 1.5
            assert idle.line() == b"* BYE Server shutting down\r\n" and idle.closed()
            assert silent.recv(10) == b""
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", env.port), timeout=2).close()


# -- curl ------------------------------------------------------------------------------------


def _curl(env: Env, url: str, *options: str) -> subprocess.CompletedProcess[bytes]:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed: the curl interoperability checks need a curl with imaps support")
    command = [curl, "-sS", "--max-time", "20", "--cacert", str(env.layout.ca_bundle), *options, url]
    return subprocess.run(command, capture_output=True, timeout=30, check=False)


def test_curl_lists_and_fetches_with_a_password(env: Env) -> None:
    raw = message("Pour curl")
    env.store.deliver(USER, raw)
    listed = _curl(env, f"imaps://127.0.0.1:{env.port}/INBOX", "-u", f"{USER}:{PASSWORD}")
    assert listed.returncode == 0, listed.stderr
    assert b"* LIST" in listed.stdout and b'"INBOX"' in listed.stdout
    everything = _curl(env, f"imaps://127.0.0.1:{env.port}/", "-u", f"{USER}:{PASSWORD}")
    assert b'"Sent"' in everything.stdout
    fetched = _curl(env, f"imaps://127.0.0.1:{env.port}/INBOX;UID=1", "-u", f"{USER}:{PASSWORD}")
    assert fetched.returncode == 0, fetched.stderr
    assert fetched.stdout == raw
    assert ("AUTHENTICATE", "PLAIN", "OK") in [(e["command"], e["method"], e["result"]) for e in env.events]


def test_curl_oauthbearer(env: Env) -> None:
    raw = message("Pour curl en OAUTHBEARER")
    env.store.deliver(USER, raw)
    url = f"imaps://127.0.0.1:{env.port}/INBOX;UID=1"
    # curl puts host= and port= between a=... and auth=Bearer (RFC 7628 §4.1 allows it).
    fetched = _curl(env, url, "-u", f"{USER}:", "--oauth2-bearer", TOKEN)
    assert fetched.returncode == 0 and fetched.stdout == raw, fetched.stderr
    refused = _curl(env, url, "-u", f"{USER}:", "--oauth2-bearer", "wrong")
    assert refused.returncode == 67, refused.stderr  # CURLE_LOGIN_DENIED, after the RFC 7628 error exchange
    assert _authentications(env, 2) == [("OAUTHBEARER", "OK"), ("OAUTHBEARER", "NO")]


def test_curl_xoauth2(layout: pki.PkiLayout, tmp_path: Path) -> None:
    # curl 7.x ignores AUTH=XOAUTH2 when OAUTHBEARER is offered too (curl/curl#10259): offer XOAUTH2 only.
    for env in _start(layout, tmp_path, ImapSettings(sasl_mechanisms=("PLAIN", "XOAUTH2"))):
        raw = message("Pour curl en XOAUTH2")
        env.store.deliver(USER, raw)
        url = f"imaps://127.0.0.1:{env.port}/INBOX;UID=1"
        options = ("-u", f"{USER}:", "--login-options", "AUTH=XOAUTH2", "--oauth2-bearer")
        fetched = _curl(env, url, *options, TOKEN)
        assert fetched.returncode == 0, fetched.stderr
        assert fetched.stdout == raw
        refused = _curl(env, url, *options, "wrong")
        assert refused.returncode == 67, refused.stderr  # CURLE_LOGIN_DENIED
        assert _authentications(env, 2) == [("XOAUTH2", "OK"), ("XOAUTH2", "NO")]


def test_deep_nesting_before_login_is_bad_and_keeps_the_connection(env: Env) -> None:
    with Raw(env.port, env.client_context()) as raw:
        answer = raw.command("a1", "NOOP " + "(" * 5000 + ")" * 5000)
        assert answer[-1].startswith(b"a1 BAD Lists nested deeper than 32 levels"), answer
        assert raw.command("a2", "NOOP")[-1].startswith(b"a2 OK")


def test_the_nesting_limit_is_a_setting(layout: pki.PkiLayout, tmp_path: Path) -> None:
    for env in _start(layout, tmp_path, ImapSettings(max_nesting=2)):
        with Raw(env.port, env.client_context()) as raw:
            assert raw.command("a1", "NOOP ((x))")[-1].startswith(b"a1 OK")
            assert raw.command("a2", "NOOP (((x)))")[-1].startswith(b"a2 BAD Lists nested deeper than 2")
