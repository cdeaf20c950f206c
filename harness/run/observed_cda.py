"""``segur judge`` for the ``cda`` suite: the CDA documents the product sent in the session.

They are the documents of its TD2.1 feeds (each DocumentEntry's content, as the DMP verifiers read
it) and of the messages the MSSanté operator accepted from it (the CDA inside an ``IHE_XDM.ZIP``, or
attached as a file). A test asking for a document titled T finds the first one whose CDA ``title``
is T, else the first CDA the product sent: the header rules then judge it as they judge a document
produced on demand. Matching reads the title only, never what a rule judges.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from harness.content.cda import NotACda, read_cda
from harness.core.recorder import OK, Exchange
from harness.protocols import mssmail, xdm
from harness.protocols.cda_document import CdaDocument
from harness.run.observed import Handlers, not_observed
from harness.run.verify import dmp as dmp_verify

if TYPE_CHECKING:
    from harness.run.observed import ObservedTest


def _as_cda(data: bytes) -> tuple[bytes, CdaDocument] | None:
    if b"ClinicalDocument" not in data:  # a PDF copy, a signature document...: not worth parsing
        return None
    try:
        return data, read_cda(data)
    except NotACda:
        return None


def _mail_documents(exchange: Exchange) -> Iterator[bytes]:
    for name, _, data in mssmail.attachments(mssmail.parse(exchange.request_body)):
        if name.upper() != mssmail.XDM_NAME:
            yield data
            continue
        try:
            yield from xdm.read_xdm(data).documents().values()
        except xdm.NotAnXdm:
            continue


def documents_sent(exchange: Exchange) -> list[tuple[bytes, CdaDocument]]:
    """The CDA documents a recorded exchange carries from the product (a TD2.1 feed or a submitted message)."""
    if exchange.service == "dmp" and exchange.operation == "TD2.1":
        contents: Iterator[bytes] = iter(dmp_verify.read_request(exchange).documents().values())
    elif exchange.service == "mss" and exchange.operation == "smtp.data" and exchange.outcome == OK:
        contents = _mail_documents(exchange)
    else:
        return []
    return [found for data in contents if (found := _as_cda(data)) is not None]


def _title(document: CdaDocument) -> str:
    title = document.find("c:title")
    return " ".join((title.text or "").split()) if title is not None else ""


def _titled(title: str) -> Callable[[Exchange], bool]:
    wanted = " ".join(title.split()).casefold()
    return lambda e: any(_title(document).casefold() == wanted for _, document in documents_sent(e))


def produce_document(view: ObservedTest, params: dict[str, Any]) -> dict[str, Any]:
    title = str(params.get("title") or "")
    anchor = view.pick(_titled(title)) if title else None
    if anchor is None:  # the product's own titles: its first document will do
        anchor = view.pick(lambda e: bool(documents_sent(e)))
    if anchor is None:
        raise not_observed(
            "no CDA document sent by the product recorded in this session: share one on the DMP (TD2.1) or send it "
            f"by MSSanté (titled {title!r} to be found first)",
            "aucun document CDA envoyé par le produit enregistré dans cette session : en partager un sur le DMP "
            f"(TD2.1) ou l'envoyer par MSSanté (intitulé {title!r} pour être trouvé en premier)",
        )
    sent = documents_sent(view.take(anchor))
    wanted = " ".join(title.split()).casefold()
    raw = next((data for data, document in sent if _title(document).casefold() == wanted), sent[0][0])
    return {"outcome": "produced", "document": base64.b64encode(raw).decode("ascii")}


HANDLERS: Handlers = {
    "cda.produce_document": produce_document,
}
