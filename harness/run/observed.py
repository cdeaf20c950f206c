"""``segur judge``: the product was used by hand against a session's endpoints; its traffic is its answer.

The suites run unchanged. Each action a test asks for is matched to what the product did in the
session (the *anchor*: the TD2.1 that shared a document for that patient, the SMTP submission to
that recipient...), and the test then sees only the exchanges of its actions (:class:`ObservedTest`),
in the order it asked for them, so the same verifiers judge the same kind of evidence as in
``segur run``. When nothing fitting was recorded, the test is skipped as ``not_observed`` with
what the product would have had to do; what the wire cannot show (how the product *read* an
answer) raises the same skip when the test reads it (:class:`ObservedAnswer`).

Matching never relies on the property a requirement judges: a feed is found by patient INS and
title in the raw bytes, a masking by the document's uniqueId, a status change by its target
entry and new status, a replacement by its RPLC target or else its title. This module holds the
DMP and MSSanté actions; INSi, PSC and CDA are in ``observed_insi``, ``observed_psc`` and
``observed_cda``, and ``observed_actions`` gathers them all.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterable
from typing import Any

from harness.core.recorder import OK, Exchange
from harness.core.results import SkipKind
from harness.core.skips import NotEvaluated
from harness.protocols import xds
from harness.run.sut.base import ActionResult, SutContext
from harness.run.verify import dmp as dmp_verify

KIND = "observed"
PATIENT_MAIL_DOMAIN = "patient.mssante.fr"


def not_observed(en: str, fr: str) -> NotEvaluated:
    return NotEvaluated(SkipKind.NOT_OBSERVED, en, fr)


class ObservedAnswer(dict[str, Any]):
    """An answer built from the traffic; reading a key the wire cannot show skips the test as not observed."""

    def __init__(self, data: dict[str, Any], hidden: dict[str, tuple[str, str]]):
        super().__init__(data)
        self.hidden = hidden

    def __getitem__(self, key: str) -> Any:
        if key in self.hidden:
            raise not_observed(*self.hidden[key])
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        if key in self.hidden:
            raise not_observed(*self.hidden[key])
        return super().get(key, default)


def _who(patient: dict[str, Any]) -> str:
    given = (patient.get("prenoms") or [""])[0]
    return f"{given} {patient.get('nom_naissance', '')} (INS {patient.get('ins', '?')})".strip()


def _mentions(exchange: Exchange, *texts: str) -> bool:
    return all(text.encode("utf-8") in exchange.request_body for text in texts if text)


Handlers = dict[str, Callable[["ObservedTest", dict[str, Any]], dict[str, Any]]]


class ObservedSut:
    """The product seen through one session's recorded exchanges (session-wide, shared by every test)."""

    name = KIND

    def __init__(self, session_key: str, exchanges: list[Exchange], handlers: Handlers | None = None):
        self.session_key = session_key
        # harness.run.observed_actions adds the INSi, PSC and CDA actions (their modules build on this one)
        self.handlers = handlers if handlers is not None else DMP_MSS_HANDLERS
        self.exchanges = sorted(exchanges, key=lambda e: e.seq)
        self._entries: dict[str, str] | None = None

    def describe(self) -> dict[str, Any]:
        return {"name": f"Produit observé (session {self.session_key})", "kind": KIND, "session": self.session_key}

    def entry_unique_ids(self) -> dict[str, str]:
        """entryUUID -> uniqueId of every DocumentEntry the registry returned in the session."""
        if self._entries is None:
            returned = dmp_verify.registry_entries(self.exchanges)
            self._entries = {
                uuid: uid for uuid, element in returned.items() if (uid := xds.registry_object(element).unique_id)
            }
        return self._entries

    def test(self) -> ObservedTest:
        return ObservedTest(self)


class ObservedTest:
    """One test's view of the session: the exchanges matched to its actions; acts as its SUT adapter."""

    name = KIND

    def __init__(self, session: ObservedSut):
        self.session = session
        self.visible: list[Exchange] = []
        self.horizon = -1  # index, in the session, of the latest anchor that moved the story forward
        self.marks: dict[str, Any] = {}  # where a flow of several actions started (the PSC login)

    def describe(self) -> dict[str, Any]:
        return self.session.describe()

    def exchanges(self, service: str | None = None) -> list[Exchange]:
        return [e for e in self.visible if service is None or e.service == service]

    # -- choosing and taking anchors ------------------------------------------------------

    def pick(self, matches: Callable[[Exchange], bool]) -> int | None:
        """The first match after the story so far, else the latest one before it."""
        indexes = [i for i, e in enumerate(self.session.exchanges) if matches(e)]
        after = [i for i in indexes if i > self.horizon]
        if after:
            return after[0]
        return indexes[-1] if indexes else None

    def take(self, anchor: int, advance: bool = True, alone: bool = False) -> Exchange:
        """Show the test its anchor and what the product did since the previous one (lookups, queries).

        ``alone``: the anchor only, when what came between may be another flow's (another login's tokens).
        """
        session = self.session.exchanges
        stretch = advance and not alone and self.visible and anchor > self.horizon
        first = self.horizon + 1 if stretch else anchor
        seen = {e.id for e in self.visible}
        self.visible += [e for e in session[first : anchor + 1] if e.id not in seen]
        if advance:
            self.horizon = max(self.horizon, anchor)
        return session[anchor]

    # -- the adapter --------------------------------------------------------------------

    def perform(self, action: str, params: dict[str, Any], context: SutContext) -> ActionResult:
        started = time.perf_counter()
        handler = self.session.handlers.get(action)
        if handler is None:
            raise not_observed(
                f"segur judge cannot see {action} on the wire; segur run judges it",
                f"segur judge ne voit pas {action} dans les échanges ; segur run le juge",
            )
        data = handler(self, params)
        return ActionResult(action, params, data, time.perf_counter() - started, notes=["observed in the session"])

    # -- DMP ----------------------------------------------------------------------------

    def _dmp(self, transaction: str, patient: dict[str, Any], *texts: str) -> Callable[[Exchange], bool]:
        return lambda e: (
            e.service == "dmp" and e.operation == transaction and _mentions(e, patient.get("ins", ""), *texts)
        )

    def check_dmp(self, params: dict[str, Any]) -> dict[str, Any]:
        patient = params["patient"]
        anchor = self.pick(self._dmp("TD0.2", patient))
        if anchor is None:
            raise not_observed(
                f"no DMP existence test (TD0.2) for {_who(patient)} recorded in this session",
                f"aucun test d'existence du DMP (TD0.2) de {_who(patient)} enregistré dans cette session",
            )
        self.take(anchor)
        why = (
            "how the product read the TD0.2 answer is not on the wire: segur run judges it",
            "la lecture que le produit fait de la réponse TD0.2 ne se voit pas dans les échanges : segur run la juge",
        )
        return ObservedAnswer({}, {"outcome": why, "authorisation": why})

    def _feed_answer(self, exchange: Exchange) -> dict[str, Any]:
        request = dmp_verify.read_request(exchange)
        submission = request.submission()
        entry = submission.documents[0] if submission is not None and submission.documents else None
        unique_id = entry.unique_id if entry is not None else None
        answer: dict[str, Any] = {
            "outcome": "stored" if dmp_verify.succeeded(exchange) else "refused",
            "unique_id": unique_id,
        }
        content = request.documents().get(entry.id) if entry is not None else None
        if content:
            answer["document"] = base64.b64encode(content).decode("ascii")
        return answer

    def feed_document(self, params: dict[str, Any]) -> dict[str, Any]:
        patient, title = params["patient"], str(params.get("title") or "")
        anchor = self.pick(self._dmp("TD2.1", patient, title))
        if anchor is None:  # the product's own title: any original feed of the patient will do
            anchor = self.pick(lambda e: self._dmp("TD2.1", patient)(e) and not _mentions(e, xds.RPLC))
        if anchor is None:
            raise not_observed(
                f"no TD2.1 submission for {_who(patient)} recorded in this session "
                f"(share a document titled {title!r} for this patient)",
                f"aucune alimentation TD2.1 pour {_who(patient)} enregistrée dans cette session "
                f"(partager pour ce patient un document intitulé {title!r})",
            )
        self._show_authorisations_before(anchor, patient)
        return self._feed_answer(self.take(anchor))

    def _show_authorisations_before(self, anchor: int, patient: dict[str, Any]) -> None:
        """The TD0.3 the product sent for the patient since its previous feed: DMP-14 judges feeding without one."""
        session = self.session.exchanges
        earlier = [i for i in range(anchor) if self._dmp("TD2.1", patient)(session[i])]
        start = earlier[-1] + 1 if earlier else 0
        seen = {e.id for e in self.visible}
        self.visible += [e for e in session[start:anchor] if self._dmp("TD0.3", patient)(e) and e.id not in seen]

    def _entries_of(self, unique_id: str) -> set[str]:
        return {uuid for uuid, uid in self.session.entry_unique_ids().items() if uid == unique_id}

    def replace_document(self, params: dict[str, Any]) -> dict[str, Any]:
        patient, old, title = params["patient"], str(params["unique_id"]), str(params.get("title") or "")
        entries = self._entries_of(old)

        def replaces(exchange: Exchange) -> bool:
            submission = dmp_verify.read_request(exchange).submission()
            return submission is not None and any(a.target in entries for a in submission.associations_of(xds.RPLC))

        feed = self._dmp("TD2.1", patient)
        anchor = self.pick(lambda e: feed(e) and replaces(e))
        if anchor is None and title:
            anchor = self.pick(lambda e: feed(e) and _mentions(e, title))
        if anchor is None:
            raise not_observed(
                f"no replacement (TD2.1 with RPLC) of document {old} for {_who(patient)} recorded in this session",
                f"aucun remplacement (TD2.1 avec RPLC) du document {old} pour {_who(patient)} "
                "enregistré dans cette session",
            )
        return self._feed_answer(self.take(anchor))

    def find_documents(self, params: dict[str, Any]) -> dict[str, Any]:
        patient = params["patient"]
        anchor = self.pick(self._dmp("TD3.1", patient, xds.FIND_DOCUMENTS))
        if anchor is None:
            raise not_observed(
                f"no FindDocuments query (TD3.1) for {_who(patient)} recorded in this session",
                f"aucune recherche FindDocuments (TD3.1) pour {_who(patient)} enregistrée dans cette session",
            )
        exchange = self.session.exchanges[anchor]
        if not self.visible:
            self.take(anchor)  # the listing starts the story (a consultation)
        elif anchor < self.horizon:
            self.take(anchor, advance=False)
        # A listing made after the story's current point is answered but not shown: it would show the
        # verifiers the registry's state after the actions still to come (a masked document's new version).
        returned = [xds.registry_object(e) for e in dmp_verify.registry_entries([exchange]).values()]
        later = self.session.exchanges[anchor + 1 :]

        def read_later(entry: Any) -> bool:
            return any(e.operation == "TD3.2" and _mentions(e, entry.unique_id or "") for e in later)

        documents = [
            {
                "unique_id": entry.unique_id,
                "title": entry.name or "",
                "type_code": (entry.codes(xds.DE_TYPE) or [("", None)])[0][0],
            }
            for entry in sorted(returned, key=lambda entry: not read_later(entry))  # what was read first
        ]
        return {"outcome": "ok", "documents": documents}

    def read_document(self, params: dict[str, Any]) -> dict[str, Any]:
        patient, unique_id = params["patient"], str(params["unique_id"])
        anchor = self.pick(lambda e: e.service == "dmp" and e.operation == "TD3.2" and _mentions(e, unique_id))
        if anchor is None:
            raise not_observed(
                f"no retrieval (TD3.2) of document {unique_id} for {_who(patient)} recorded in this session",
                f"aucune récupération (TD3.2) du document {unique_id} pour {_who(patient)} "
                "enregistrée dans cette session",
            )
        payload = dmp_verify.response_payload(self.take(anchor))
        document = f"{{{xds.XDSB}}}DocumentResponse/{{{xds.XDSB}}}Document"
        return {"outcome": "ok" if payload is not None and payload.find(document) is not None else "not_found"}

    def _update(self, patient: dict[str, Any], matches: Callable[[Any], bool], what: tuple[str, str]) -> dict[str, Any]:
        def fits(exchange: Exchange) -> bool:
            if not self._dmp("TD3.3", patient)(exchange):
                return False
            submission = dmp_verify.read_request(exchange).submission()
            return submission is not None and matches(submission)

        anchor = self.pick(fits)
        if anchor is None:
            raise not_observed(
                f"no {what[0]} for {_who(patient)} recorded in this session",
                f"aucun(e) {what[1]} pour {_who(patient)} enregistré(e) dans cette session",
            )
        exchange = self.take(anchor)
        return {"outcome": "done" if dmp_verify.succeeded(exchange) else "refused"}

    def mask_document(self, params: dict[str, Any]) -> dict[str, Any]:
        unique_id = str(params["unique_id"])
        return self._update(
            params["patient"],
            lambda s: (
                any(d.unique_id == unique_id for d in s.documents) and not s.associations_of(xds.UPDATE_AVAILABILITY)
            ),
            (
                f"metadata update (TD3.3a) of document {unique_id}",
                f"mise à jour des métadonnées (TD3.3a) du document {unique_id}",
            ),
        )

    def _status_change(self, params: dict[str, Any], status: str) -> dict[str, Any]:
        unique_id = str(params["unique_id"])
        entries = self._entries_of(unique_id)
        return self._update(
            params["patient"],
            lambda s: any(
                a.target in entries and a.slot("NewStatus") == status
                for a in s.associations_of(xds.UPDATE_AVAILABILITY)
            ),
            (
                f"status change (TD3.3) of document {unique_id} to {status}",
                f"changement de statut (TD3.3) du document {unique_id} vers {status}",
            ),
        )

    def delete_document(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._status_change(params, xds.DELETED)

    def archive_document(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._status_change(params, xds.ARCHIVED if params.get("archived", True) else xds.APPROVED)

    # -- MSSanté ------------------------------------------------------------------------

    def _submission_to(self, recipient: str) -> int | None:
        recipient = recipient.lower()
        return self.pick(
            lambda e: (
                e.service == "mss"
                and e.operation == "smtp.data"
                and e.outcome == OK
                and recipient in (r.lower() for r in e.request_meta.get("rcpt_tos", []))
            )
        )

    def send_document(self, params: dict[str, Any]) -> dict[str, Any]:
        recipient = str(params["recipient"])
        anchor = self._submission_to(recipient)
        if anchor is None:
            raise not_observed(
                f"no message to {recipient} accepted by the MSSanté operator in this session",
                f"aucun message à {recipient} accepté par l'opérateur MSSanté dans cette session",
            )
        self.take(anchor)
        return {"outcome": "sent"}

    def send_to_patient(self, params: dict[str, Any]) -> dict[str, Any]:
        patient = params["patient"]
        mailbox = f"{patient.get('ins')}@{PATIENT_MAIL_DOMAIN}"
        anchor = self._submission_to(mailbox)
        if anchor is not None:
            self.take(anchor)
            return {"outcome": "sent"}
        if patient.get("status") != "QUAL":
            return {"outcome": "refused"}  # nothing was sent to this unqualified identity, as required
        raise not_observed(
            f"no message to the patient mailbox {mailbox} of {_who(patient)} recorded in this session",
            f"aucun message à la messagerie patient {mailbox} de {_who(patient)} enregistré dans cette session",
        )


DMP_MSS_HANDLERS: Handlers = {
    "dmp.check_dmp": ObservedTest.check_dmp,
    "dmp.feed_document": ObservedTest.feed_document,
    "dmp.replace_document": ObservedTest.replace_document,
    "dmp.find_documents": ObservedTest.find_documents,
    "dmp.read_document": ObservedTest.read_document,
    "dmp.mask_document": ObservedTest.mask_document,
    "dmp.delete_document": ObservedTest.delete_document,
    "dmp.archive_document": ObservedTest.archive_document,
    "mss.send_document": ObservedTest.send_document,
    "mss.send_to_patient": ObservedTest.send_to_patient,
}


class ObservedHandle:
    """A mock as one observed test sees it: the exchanges of its actions; no server, no scenario."""

    def __init__(self, view: ObservedTest, service: str, env: Any = None):
        self.view, self.service, self.url = view, service, ""
        self.env = env  # the judge's environment: its PKI is the serve's (the CAs a CPx assertion chains to)
        self.session_key = view.session.session_key

    def exchanges(self) -> list[Exchange]:
        return self.view.exchanges(self.service)

    def scenario(self, **changes: Any) -> None:
        raise not_observed(
            "segur judge cannot inject a fault into traffic that is already recorded; segur run judges it",
            "segur judge ne peut injecter de défaut dans des échanges déjà enregistrés ; segur run le juge",
        )

    def present_foreign_certificate(self, foreign: bool = True) -> None:
        raise not_observed(
            "segur judge cannot switch the operator's certificate during a recorded connection; segur run judges "
            "that the product refuses a certificate outside IGC-Santé",
            "segur judge ne peut changer le certificat de l'opérateur dans une connexion déjà enregistrée ; "
            "segur run juge le refus d'un certificat hors IGC-Santé",
        )

    def present_crl_certificate(self, which: str) -> None:
        raise not_observed(
            "segur judge cannot make the operator present a certificate naming the harness's CRL distribution "
            "point, nor make that point fail; segur run judges that the product keeps the last valid CRL",
            "segur judge ne peut faire présenter par l'opérateur un certificat désignant le point de distribution "
            "de CRL du harnais, ni faire échouer ce point ; segur run juge la conservation de la dernière CRL valide",
        )

    def fail_crl_distribution(self, fault: str | None) -> None:
        self.present_crl_certificate("good")

    def crl_fetches(self) -> list[Exchange]:
        return self.view.exchanges("crl")

    def mailbox(self, address: str, folder: str = "INBOX") -> list[Any]:
        raise not_observed(
            f"segur judge does not read the mailbox {address}; segur run judges what arrives there",
            f"segur judge ne lit pas la boîte {address} ; segur run juge ce qui y arrive",
        )

    def deliver(self, address: str, raw: bytes) -> bytes:
        raise not_observed(
            f"segur judge does not deliver mail to the product ({address}); segur run judges how it receives",
            f"segur judge ne remet pas de message au produit ({address}) ; segur run juge la réception",
        )


def visible_ids(views: Iterable[ObservedTest]) -> list[str]:
    return [e.id for view in views for e in view.visible]
