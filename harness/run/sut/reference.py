"""The ``reference`` SUT: the harness's own compliant clients, with optional named defects."""

from __future__ import annotations

import base64
import difflib
import time
from typing import Any

from harness.core import pki
from harness.protocols import xds
from harness.protocols.vihf import VihfSigner
from harness.protocols.xades import DocumentSigner
from harness.run.sut.actions import check_answer
from harness.run.sut.base import ActionNotSupported, ActionResult, SutConfigError, SutContext
from harness.run.sut.reference_cda import CDA_DEFECTS, DOCUMENT_CODE, build_n1_document
from harness.run.sut.reference_crl import CrlKeeper
from harness.run.sut.reference_dmp import DMP_DEFECTS, DmpCallError, PscCall, ReferenceDmpClient
from harness.run.sut.reference_fhir import FHIR_DEFECTS
from harness.run.sut.reference_insi import INSI_DEFECTS, ReferenceInsiClient
from harness.run.sut.reference_mss import MSS_DEFECTS, ReferenceMssClient
from harness.run.sut.reference_psc import PSC_DEFECTS, ReferencePscClient
from harness.run.sut.reference_sas import SAS_DEFECTS

# The reference product's applicative mailbox (fixtures/mss/directory.toml, ORG certificate CN DMP-ORG).
MSS_MAILBOX = "dpi-reference@harnais.mssante.fr"
REFERENCE_DEFECTS: dict[str, str] = {
    **INSI_DEFECTS,
    **PSC_DEFECTS,
    **CDA_DEFECTS,
    **DMP_DEFECTS,
    **MSS_DEFECTS,
    **FHIR_DEFECTS,
    **SAS_DEFECTS,
}


def _document_bytes(params: dict[str, Any]) -> bytes:
    try:
        return base64.b64decode(params["document"], validate=True)
    except (KeyError, TypeError, ValueError):
        raise SutConfigError("dmp.relay_document needs 'document': the CDA document in base64") from None


def document_type(params: dict[str, Any]) -> tuple[str, str]:
    """The ``document_type`` action parameter (the couloir's flow), the consultation report without it."""
    asked = params.get("document_type")
    if not asked:
        return DOCUMENT_CODE
    try:
        return str(asked["code"]), str(asked["display"])
    except (KeyError, TypeError):
        raise SutConfigError(f"document_type must be {{'code': ..., 'display': ...}}, not {asked!r}") from None


class ReferenceSut:
    """Performs every documented action with the built-in clients."""

    name = "reference"

    def __init__(self, defects: frozenset[str] = frozenset()):
        unknown = sorted(set(defects) - set(REFERENCE_DEFECTS))
        if unknown:
            hints = [
                f"{name} (did you mean {', '.join(close)}?)" if close else name
                for name in unknown
                for close in [difflib.get_close_matches(name, list(REFERENCE_DEFECTS), n=2)]
            ]
            raise SutConfigError(f"unknown reference defects: {', '.join(hints)}; `segur sut defects` lists them")
        self.defects = frozenset(defects)
        self._layout: pki.PkiLayout | None = None
        self._psc_clients: dict[str, ReferencePscClient] = {}  # one relying-party session per test
        self._dmp_client: ReferenceDmpClient | None = None
        self._mss_client: ReferenceMssClient | None = None
        self._agenda: Any = None  # the RunningAgenda, once a SAS test asked for it
        self._appointments: Any = None  # the AppointmentSender, once a SAS test asked for it

    def close(self) -> None:
        """Stop the reference agenda servers, if they were started."""
        if self._agenda is not None:
            self._agenda.stop()
            self._agenda = None

    def _appointment(self, action: str, params: dict[str, Any], context: SutContext) -> dict[str, Any]:
        import datetime as dt

        from harness.run.sut.reference_sas.appointments import AppointmentSender

        if self._appointments is None:
            context_tls = pki.client_ssl_context(self._pki(context), "dmp-org")  # its organisation certificate
            self._appointments = AppointmentSender(context_tls, self.defects)
        base = context.endpoints["sas"]
        if action == "sas.cancel_appointment":
            return dict(self._appointments.cancel(base, str(params["appointment_id"])))
        try:
            start = dt.datetime.fromisoformat(str(params["start"]))
        except ValueError:
            return {"outcome": "error", "message": f"start is not a date-time: {params['start']!r}"}
        return dict(self._appointments.book(base, str(params["practitioner"]), dict(params["regulator"]), start))

    def _agenda_server(self, context: SutContext) -> dict[str, Any]:
        from harness.run.sut.reference_sas import agenda
        from harness.run.sut.reference_sas.server import start_agenda

        if self._agenda is None:
            self._agenda = start_agenda(self._pki(context), self.defects)
        psc = self._psc_client(context)  # this test's PSC issuer: the booking page's login goes there
        self._agenda.app.login_url = lambda: str(psc.authorization_url()["url"])
        return {
            "outcome": "ok",
            "url": f"{self._agenda.api.url}/fhir",
            "practitioners": [p.id_nat_ps for p in agenda.PROFESSIONALS],
            "practitioner_without_slots": agenda.WITHOUT_SLOTS.id_nat_ps,
        }

    def describe(self) -> dict[str, Any]:
        return {
            "name": "Client de référence segur-harness",
            "kind": "reference",
            "defects": sorted(self.defects),
        }

    def _pki(self, context: SutContext) -> pki.PkiLayout:
        if self._layout is None or self._layout.directory != context.pki_dir:
            self._layout = pki.load_or_create_pki(context.pki_dir)
        return self._layout

    def _insi_client(self, context: SutContext) -> ReferenceInsiClient:
        layout = self._pki(context)
        client_name = "wrong-cn" if "wrong_certificate_cn" in self.defects else "insi-auto"
        return ReferenceInsiClient(
            url=context.endpoints["insi"],
            ssl_context=pki.client_ssl_context(layout, client_name),
            defects=self.defects,
        )

    def _psc_client(self, context: SutContext) -> ReferencePscClient:
        client = self._psc_clients.get(context.session_key)
        if client is None:
            layout = self._pki(context)
            client = ReferencePscClient(context.endpoints["psc"], pki.client_ssl_context(layout, None), self.defects)
            self._psc_clients = {context.session_key: client}  # earlier tests' sessions are over
        return client

    def _dmp(self, context: SutContext) -> ReferenceDmpClient:
        layout = self._pki(context)
        if self._dmp_client is None:
            # The VIHF is signed with the CPS signature key; the defect uses an authentication certificate.
            key_name = "dmp-org" if "vihf_authentication_key" in self.defects else "cps-signature"
            signing = layout.client(key_name)
            self._dmp_client = ReferenceDmpClient(
                url=context.endpoints["dmp"],
                ssl_context=pki.client_ssl_context(layout, "dmp-org"),
                signer=VihfSigner.from_files(signing.key_pem, signing.cert_pem),
                document_signer=DocumentSigner.from_files(
                    layout.client("cps-signature").key_pem, layout.client("cps-signature").cert_pem
                ),
                defects=self.defects,
            )
        self._dmp_client.url = context.endpoints["dmp"]  # each test has its own session route
        return self._dmp_client

    def _mss(self, context: SutContext) -> ReferenceMssClient:
        if self._mss_client is None:
            from mock_services.dmp.patients import PatientBase

            layout = self._pki(context)
            patients = {p.ins: p.identity() for p in PatientBase.load().by_ins.values()}
            self._mss_client = ReferenceMssClient(
                smtp=context.endpoints["mss"],
                imap=context.endpoints["mss_imap"],
                ssl_context=pki.client_ssl_context(layout, "dmp-org"),
                mailbox=MSS_MAILBOX,
                password="segur-test",
                known_patients=patients,
                defects=self.defects,
                crl_keeper=CrlKeeper(pki.trusted_ca_certificates(layout), self.defects),
            )
        return self._mss_client

    def _psc_call(self, context: SutContext) -> PscCall | None:
        """The PSC login of this test as the DMP client needs it, or None when nobody logged in."""
        login = self._psc_client(context).session
        if login is None or "vihf_proxy" not in context.endpoints:
            return None
        practices = (login.userinfo.get("SubjectRefPro") or {}).get("exercices") or [{}]
        situation = f"{practices[0].get('codeProfession', '')}{practices[0].get('codeCategorieProfessionnelle', '')}"
        return PscCall(
            proxy_url=context.endpoints["vihf_proxy"],
            access_token=str(login.tokens.get("access_token", "")),
            id_token=str(login.tokens.get("id_token", "")),
            id_nat_ps=str(login.userinfo.get("SubjectNameID", "")),
            work_situation=situation,
        )

    def _perform_dmp(self, action: str, params: dict[str, Any], context: SutContext) -> dict[str, Any]:
        client = self._dmp(context)
        if action == "dmp.send_pending":
            return client.send_pending()
        patient = params["patient"]
        try:
            if action == "dmp.check_dmp":
                return client.check_dmp(patient)
            if action == "dmp.declare_authorisation":
                return client.declare_authorisation(patient, params.get("action", "AJOUT"))
            if action == "dmp.feed_document":
                return client.feed_document(
                    patient,
                    params["title"],
                    list(params.get("masking") or []),
                    document_type=document_type(params),
                )
            if action == "dmp.relay_document":
                return client.relay_document(patient, _document_bytes(params), list(params.get("masking") or []))
            if action == "dmp.replace_document":
                return client.feed_document(
                    patient, params["title"], replaces=params["unique_id"], document_type=document_type(params)
                )
            if action == "dmp.find_documents":
                psc = self._psc_call(context) if params.get("authentication") == "psc" else None
                if params.get("authentication") == "psc" and psc is None:
                    return {"outcome": "refused", "message": "aucun utilisateur connecté par Pro Santé Connect"}
                found = client.find_documents(patient, psc)["documents"]
                keys = ("unique_id", "title", "type_code", "status")
                return {"outcome": "ok", "documents": [{k: d[k] for k in keys} for d in found]}
            if action == "dmp.read_document":
                return client.read_document(patient, params["unique_id"])
            if action == "dmp.mask_document":
                return client.mask_document(patient, params["unique_id"], bool(params.get("masked", True)))
            if action == "dmp.delete_document":
                return client.set_availability(patient, params["unique_id"], xds.DELETED)
            if action == "dmp.archive_document":
                status = xds.ARCHIVED if params.get("archived", True) else xds.APPROVED
                return client.set_availability(patient, params["unique_id"], status)
        except DmpCallError as exc:
            return {"outcome": "refused" if action != "dmp.check_dmp" else "error", "message": str(exc)}
        raise ActionNotSupported(
            f"the reference SUT has no action {action!r}", f"le SUT de référence n'a pas d'action {action!r}"
        )

    def perform(self, action: str, params: dict[str, Any], context: SutContext) -> ActionResult:
        started = time.perf_counter()
        if action.startswith("mss."):
            mail = self._mss(context)
            if action == "mss.send_document":
                data = mail.send_document(
                    params["patient"], params["recipient"], params["title"], document_type=document_type(params)
                )
            elif action == "mss.send_to_patient":
                data = mail.send_to_patient(params["patient"], params["title"], bool(params.get("no_reply")))
            elif action == "mss.receive":
                data = mail.receive()
            else:
                raise ActionNotSupported(
                    f"the reference SUT has no action {action!r}", f"le SUT de référence n'a pas d'action {action!r}"
                )
            return ActionResult(action, params, check_answer(action, data), time.perf_counter() - started)
        if action.startswith("dmp."):
            data = self._perform_dmp(action, params, context)
            return ActionResult(action, params, check_answer(action, data), time.perf_counter() - started)
        if action.startswith("psc."):
            client = self._psc_client(context)
            handlers = {
                "psc.authorization_url": client.authorization_url,
                "psc.refresh": client.refresh,
                "psc.logout_url": client.logout_url,
            }
            data = client.callback(params["url"]) if action == "psc.callback" else handlers[action]()
            return ActionResult(action, params, check_answer(action, data), time.perf_counter() - started)
        if action == "insi.search_by_traits":
            data = self._insi_client(context).search_by_traits(**params)
        elif action == "insi.search_by_carte_vitale":
            data = self._insi_client(context).search_by_carte_vitale(**params)
        elif action == "insi.verify_identity":
            data = self._insi_client(context).verify_identity(params["identity"])
        elif action == "identity.export":
            data = self._insi_client(context).export_identifiers(params["identity"])
        elif action == "sas.agenda_server":
            data = self._agenda_server(context)
        elif action in ("sas.send_appointment", "sas.cancel_appointment"):
            data = self._appointment(action, params, context)
        elif action == "cda.produce_document":
            document = build_n1_document(params["patient"], self.defects, title=params["title"])
            data = {"outcome": "produced", "document": base64.b64encode(document).decode("ascii")}
        elif action == "fhir.produce_resource":
            from harness.run.sut.reference_fhir import produce

            try:
                data = {"outcome": "produced", "resource": produce(params["kind"], params, self.defects)}
            except KeyError:
                data = {"outcome": "not_supported", "message": f"no FHIR {params.get('kind')!r} here"}
        else:
            raise ActionNotSupported(
                f"the reference SUT has no action {action!r}", f"le SUT de référence n'a pas d'action {action!r}"
            )
        return ActionResult(action, params, check_answer(action, data), time.perf_counter() - started)
