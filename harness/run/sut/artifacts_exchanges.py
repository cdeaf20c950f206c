"""Reading the exchanges a vendor hands over as files: HAR, raw HTTP, a bare SOAP envelope, RFC 5322 mail.

Each becomes an :class:`~harness.core.recorder.Exchange` shaped like the ones the mocks record,
so the verifiers read it the same way, marked with :data:`~harness.run.verify.recorded.ARTEFACT_META`
so that what only a live exchange shows is skipped. An unreadable file is the product's
failure (:class:`SutFailure`) naming the file, never a crash.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from harness.core.recorder import OK, REJECTED, Exchange
from harness.protocols import mssmail
from harness.run.sut.base import SutFailure
from harness.run.verify.dmp import read_request
from harness.run.verify.recorded import ARTEFACT_META

MAX_FILE_BYTES = 64 * 1024 * 1024
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
# The INSi body element names each operation (CNAM WSDL, as harness.run.verify.insi reads them).
INSI_BODIES = {"RECSANSVITALE": "rechercherInsAvecTraitsIdentite", "RECVITALE": "rechercherInsAvecCarteVitale"}
STATUS_LINE = re.compile(rb"^HTTP/\d(?:\.\d)? (\d{3})")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


@dataclass(frozen=True)
class HttpRequest:
    """One request the product sent, and the answer it got when the file holds it."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    status: int | None = None
    response: bytes = b""


def read_bytes(path: Path) -> bytes:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise SutFailure(
            f"{path.name} is {size} bytes, over the {MAX_FILE_BYTES} bytes a handed-over file may have",
            f"{path.name} fait {size} octets, au-delà des {MAX_FILE_BYTES} octets permis pour un fichier remis",
        )
    return path.read_bytes()


def _unreadable(path: Path, what: str, why: object) -> SutFailure:
    return SutFailure(f"{path.name} cannot be read as {what}: {why}", f"{path.name} illisible comme {what} : {why}")


# HAR 1.2 (https://github.com/ahmadnassri/har-spec, versions/1.2.md) gives ``encoding`` to a response's
# content only; the 1.3 proposal (versions/1.3.md) adds it to postData, which some tools already write.
def _har_text(part: dict[str, Any]) -> bytes:
    text = part.get("text") or ""
    if not isinstance(text, str):
        raise ValueError("'text' is not a string")
    return base64.b64decode(text, validate=True) if part.get("encoding") == "base64" else text.encode("utf-8")


def read_har(path: Path) -> list[HttpRequest]:
    """Every entry of a HAR 1.2 file whose request has a body, in file order."""
    try:
        entries = json.loads(read_bytes(path))["log"]["entries"]
        requests = []
        for entry in entries:
            request, response = entry["request"], entry.get("response") or {}
            body = _har_text(request.get("postData") or {})
            if not body:
                continue
            headers = {str(h["name"]).lower(): str(h["value"]) for h in request.get("headers", [])}
            status = response.get("status")
            requests.append(
                HttpRequest(
                    str(request.get("method", "POST")),
                    str(request.get("url", "")),
                    headers,
                    body,
                    int(status) if isinstance(status, int) and status > 0 else None,
                    _har_text(response.get("content") or {}),
                )
            )
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise _unreadable(path, "a HAR file", exc) from None
    if not requests:
        raise _unreadable(path, "a HAR file", "no entry has a request body")
    return requests


def _split_message(data: bytes) -> tuple[list[bytes], bytes]:
    for separator in (b"\r\n\r\n", b"\n\n"):
        head, found, rest = data.partition(separator)
        if found:
            return head.replace(b"\r\n", b"\n").split(b"\n"), rest
    raise ValueError("no blank line after the headers")


def _headers(lines: list[bytes]) -> dict[str, str]:
    headers = {}
    for line in lines:
        name, colon, value = line.decode("latin-1").partition(":")
        if not colon:
            raise ValueError(f"header line without a colon: {line[:60]!r}")
        headers[name.strip().lower()] = value.strip()
    return headers


def read_raw_http(path: Path) -> list[HttpRequest]:
    """A request as sent on the wire, optionally followed by its response.

    HTTP/1.1 message syntax (RFC 9112 §2-§6): start line, header fields, blank line, then a body of
    Content-Length bytes. Bare LF line endings are accepted, as captures saved by hand often have them.
    """
    try:
        head, rest = _split_message(read_bytes(path).lstrip(b"\r\n"))
        method, target, _ = head[0].decode("latin-1").split(" ", 2)
        headers = _headers(head[1:])
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                raise ValueError(f"Content-Length {length!r} is not a number of bytes")
            body, rest = rest[: int(length)], rest[int(length) :]
        else:  # without Content-Length the response, if any, starts at its status line
            found = re.search(rb"(?m)^HTTP/\d", rest)
            body, rest = (rest[: found.start()], rest[found.start() :]) if found else (rest, b"")
        status, response = None, b""
        rest = rest.lstrip(b"\r\n")
        if (matched := STATUS_LINE.match(rest)) is not None:
            status = int(matched.group(1))
            response = _split_message(rest)[1]
    except (ValueError, IndexError) as exc:
        raise _unreadable(path, "a raw HTTP request", exc) from None
    return [HttpRequest(method, target, headers, body.rstrip(b"\r\n") if length is None else body, status, response)]


def read_soap(path: Path) -> list[HttpRequest]:
    return [HttpRequest("POST", "", {}, read_bytes(path))]


def insi_operation(body: bytes) -> str:
    """The INSi operation a request asks for: its body element, else its wsa:Action, else ``unknown``."""
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError:
        return "unknown"
    first = root.find(f"{{{SOAP12}}}Body/*")
    if first is not None and etree.QName(first).localname in INSI_BODIES:
        return INSI_BODIES[etree.QName(first).localname]
    action = root.findtext(f"{{{SOAP12}}}Header/{{{WSA}}}Action") or ""
    return action.rsplit("/", 1)[-1].strip() or "unknown"


def _dmp_transaction(exchange: Exchange) -> str:
    return read_request(exchange).transaction or "unknown"  # as the DMP verifiers read a request


def recorded_exchanges(service: str, path: Path, file_format: str, session_key: str, shown_as: str) -> list[Exchange]:
    """One exchange per request; one that is no operation of the service is ``rejected``, as the mock records it."""
    reader = {"har": read_har, "http": read_raw_http, "soap": read_soap}[file_format]
    now = time.time()
    exchanges = []
    for request in reader(path):
        exchange = Exchange(
            service=service,
            session_key=session_key,
            operation="unknown",
            outcome=REJECTED,
            request_body=request.body,
            response_body=request.response,
            started_at=now,
            finished_at=now,
            http_status=request.status,
            request_meta={
                "method": request.method,
                "path": request.target,
                "headers": request.headers,
                ARTEFACT_META: {"file": shown_as, "format": file_format},
            },
            summary={"artefact": shown_as, "format": file_format},
        )
        if service == "insi":
            exchange.operation = insi_operation(request.body)
            known = exchange.operation in INSI_BODIES.values()
        else:
            exchange.operation = _dmp_transaction(exchange)
            known = exchange.operation != "unknown"
        exchange.outcome = OK if known else REJECTED
        exchanges.append(exchange)
    return exchanges


def insi_exchanges(path: Path, file_format: str, session_key: str, shown_as: str) -> list[Exchange]:
    return recorded_exchanges("insi", path, file_format, session_key, shown_as)


def mail_exchange(path: Path, recipients: tuple[str, ...], session_key: str, shown_as: str) -> Exchange:
    """A message the product wrote, as if the operator had accepted it; envelope from the manifest, else the headers."""
    raw = read_bytes(path)
    try:
        message = mssmail.parse(raw)
        addresses = list(recipients) or [
            address
            for _, address in email.utils.getaddresses([str(v) for h in ("To", "Cc") for v in message.get_all(h, [])])
            if address
        ]
        sender = email.utils.parseaddr(str(message.get("From", "")))[1]
    except (ValueError, TypeError, LookupError) as exc:
        raise _unreadable(path, "an RFC 5322 message", exc) from None
    if not message.keys():
        raise _unreadable(path, "an RFC 5322 message", "no header")
    now = time.time()
    return Exchange(
        service="mss",
        session_key=session_key,
        operation="smtp.data",
        outcome=OK,
        request_body=raw,
        response_body=b"",
        started_at=now,
        finished_at=now,
        request_meta={
            "mail_from": sender,
            "rcpt_tos": addresses,
            ARTEFACT_META: {"file": shown_as, "format": "rfc5322"},
        },
        summary={"artefact": shown_as, "format": "rfc5322"},
    )
