"""The built-in reference MSSanté client: what a conforming DPI does with secure health mail.

It sends documents as an applicative mailbox authenticated by its ORG certificate (facts §3.1),
with the IHE XDM package, the PDF copy and the X-MSS headers (facts §3.3), and reads its
mailbox over IMAP: it identifies the patient from METADATA.XML and answers each message that
asks for it with an MDN, negative with the MSSanté error code when the patient is unknown
(facts §3.4). Named defects break one rule each.
"""

from __future__ import annotations

import contextlib
import email.utils
import imaplib
import smtplib
import ssl
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from harness.protocols import mssmail, xdm
from harness.run.sut import xdm_writer
from harness.run.sut.reference_cda import DOCUMENT_CODE, build_n1_document, minimal_pdf
from harness.run.sut.reference_crl import CRL_DEFECTS, CrlKeeper

MSS_DEFECTS: dict[str, str] = {
    "mss_password_auth": "submits with the mailbox password instead of its ORG certificate",
    "mss_subject_format": "writes the subject without the XDM/1.0/DDM+ form",
    "mss_no_pdf_copy": "attaches no PDF copy of the document",
    "mss_xdm_wrong_hash": "declares a wrong SHA-1 for the CDA in METADATA.XML",
    "mss_no_mss_headers": "omits X-MSS-CODECDA, X-MSS-INS and X-MSS-NIL",
    "mss_patient_unqualified": "writes to a patient mailbox whatever the identity status",
    "mss_no_ack_request": "asks for no acknowledgement of its messages",
    "mss_identifies_by_subject": "identifies the patient of a received message from its subject",
    "mss_no_mdn": "never acknowledges a received message",
    "mss_no_end_of_exchange": "writes no X-MSS-MES: FIN when the professional wants no answer from the patient",
    "mss_other_cipher_suites": "offers TLS 1.2 cipher suites outside the MSSanté list (ChaCha20, no TLS 1.3)",
    "mss_accepts_any_server_certificate": "connects to the operator whatever server certificate it presents",
    **CRL_DEFECTS,
}
# SC.MSS/CONF.27: the operator's certificate comes from IGC-Santé's Élémentaire Organisations range (facts §1.4
# names the real CA "AC IGC-SANTE ELEMENTAIRE ORGANISATIONS"; the test PKI prefixes it with TEST).
OPERATOR_CA_NAME = "IGC-SANTE ELEMENTAIRE ORGANISATIONS"
# SC.MSS/CONF.03 (db_ghseet_socle row 158): the only TLS 1.2 suites for the operator's LPS API, in OpenSSL names.
MSS_TLS12_CIPHERS = (
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-SHA384:"
    "ECDHE-RSA-AES128-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES128-GCM-SHA256"
)
NIL = "SEGUR-HARNESS-REFERENCE"  # X-MSS-NIL: the reference product's own listing reference (not an official one)
UNKNOWN_PATIENT = "902^Identifiant patient inconnu"  # shared/reference/mssante/error-codes.md


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


@dataclass
class ReferenceMssClient:
    smtp: str  # host:port, implicit TLS
    imap: str  # host:port, implicit TLS
    ssl_context: ssl.SSLContext | None  # trusts the operator, presents the ORG certificate; None only builds messages
    mailbox: str
    password: str | None
    known_patients: dict[str, dict[str, Any]]  # INS -> identity: the product's patient base
    defects: frozenset[str] = frozenset()
    integrated: list[dict[str, Any]] = field(default_factory=list)
    timeout: float = 20.0
    crl_keeper: CrlKeeper | None = None  # revocation by CRL of an operator certificate naming a distribution point

    # -- sending ---------------------------------------------------------------------------

    def _submit(self, raw: bytes, recipients: list[str]) -> None:
        host, port = _split(self.smtp)
        with smtplib.SMTP_SSL(host, port, context=self.ssl_context, timeout=self.timeout) as client:
            self._check_operator(client.sock)
            client.ehlo("dpi-reference.segur-harness.invalid")
            if "mss_password_auth" in self.defects and self.password:
                client.login(self.mailbox, self.password)
            client.sendmail(self.mailbox, recipients, raw)

    def __post_init__(self) -> None:
        if self.ssl_context is None:
            return
        if "mss_other_cipher_suites" in self.defects:
            self.ssl_context.maximum_version = ssl.TLSVersion.TLSv1_2
            self.ssl_context.set_ciphers("ECDHE-RSA-CHACHA20-POLY1305")
        else:
            self.ssl_context.set_ciphers(MSS_TLS12_CIPHERS)
        if "mss_accepts_any_server_certificate" in self.defects:
            self.ssl_context.check_hostname = False
            self.ssl_context.verify_mode = ssl.CERT_NONE

    def _check_operator(self, sock: Any) -> None:
        """Only a certificate of IGC-Santé's Élémentaire Organisations range (the chain is checked by TLS)."""
        if "mss_accepts_any_server_certificate" in self.defects:
            return
        der = sock.getpeercert(binary_form=True) if sock is not None else None
        issuer = x509.load_der_x509_certificate(der).issuer if der else None
        names = issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME) if issuer is not None else []
        if not any(OPERATOR_CA_NAME in str(name.value) for name in names):
            raise ssl.SSLError(f"operator certificate not issued by {OPERATOR_CA_NAME}")
        if self.crl_keeper is not None and der:
            self.crl_keeper.check(x509.load_der_x509_certificate(der))

    def _document_message(
        self,
        patient: dict[str, Any],
        recipients: list[str],
        title: str,
        document_type: tuple[str, str] = DOCUMENT_CODE,
        no_reply: bool = False,
    ) -> bytes:
        cda = build_n1_document(patient, self.defects, title=title, document_type=document_type)
        pdf = minimal_pdf(f"{title} - {patient['nom_naissance']} {patient['prenoms'][0]}")
        package = xdm_writer.build_xdm(
            cda,
            pdf=None if "mss_no_pdf_copy" in self.defects else pdf,
            recipients=recipients,
            sender=self.mailbox,
            defects=frozenset({"xdm_wrong_hash"}) if "mss_xdm_wrong_hash" in self.defects else frozenset(),
        )
        subject = mssmail.document_subject(title, patient)
        if "mss_subject_format" in self.defects:
            subject = f"{title} - {patient['nom_naissance']}"
        plain_headers = "mss_no_mss_headers" in self.defects
        code = xdm.cda_code(cda)
        message = mssmail.DocumentMessage(
            sender=self.mailbox,
            recipients=recipients,
            subject=subject,
            body=f"Bonjour,\n\nVeuillez trouver ci-joint le document « {title} ».\n\nCordialement.\n",
            xdm=package,
            pdf=None if "mss_no_pdf_copy" in self.defects else pdf,
            pdf_name=f"{title.replace(' ', '_')}_{patient['nom_naissance']}.pdf",
            cda_codes=() if plain_headers or not code else (code,),
            ins_qualified=patient.get("status") == "QUAL",
            nil=None if plain_headers else NIL,
            ack_to=None if "mss_no_ack_request" in self.defects else self.mailbox,
            no_reply=no_reply and "mss_no_end_of_exchange" not in self.defects,
        )
        raw = message.to_bytes()
        if plain_headers:
            raw = raw.replace(b"X-MSS-INS: O\r\n", b"").replace(b"X-MSS-INS: N\r\n", b"")
        return raw

    def send_document(
        self,
        patient: dict[str, Any],
        recipient: str,
        title: str,
        document_type: tuple[str, str] = DOCUMENT_CODE,
        no_reply: bool = False,
    ) -> dict[str, Any]:
        raw = self._document_message(patient, [recipient], title, document_type, no_reply)
        try:
            self._submit(raw, [recipient])
        except (smtplib.SMTPException, OSError) as exc:
            return {"outcome": "refused", "message": str(exc)}
        return {"outcome": "sent", "message_id": mssmail.parse(raw).get("Message-ID")}

    def send_to_patient(self, patient: dict[str, Any], title: str, no_reply: bool = False) -> dict[str, Any]:
        if patient.get("status") != "QUAL" and "mss_patient_unqualified" not in self.defects:
            return {"outcome": "refused", "message": "INS non qualifiée : pas d'envoi à la messagerie du patient"}
        return self.send_document(patient, f"{patient['ins']}@patient.mssante.fr", title, no_reply=no_reply)

    # -- receiving -------------------------------------------------------------------------

    def receive(self) -> dict[str, Any]:
        host, port = _split(self.imap)
        results = []
        with imaplib.IMAP4_SSL(host, port, ssl_context=self.ssl_context, timeout=self.timeout) as client:
            self._check_operator(client.sock)
            client.authenticate("EXTERNAL", lambda _: self.mailbox.encode())
            client.select("INBOX")
            _, data = client.uid("SEARCH", "UNSEEN")
            for uid in (data[0] or b"").decode().split():
                _, fetched = client.uid("FETCH", uid, "(BODY.PEEK[])")
                raw = next((part[1] for part in fetched if isinstance(part, tuple)), b"")
                results.append(self._integrate(raw))
                client.uid("STORE", uid, "+FLAGS", "(\\Seen)")
        self.integrated.extend(results)
        return {"outcome": "ok", "messages": results}

    def _integrate(self, raw: bytes) -> dict[str, Any]:
        message = mssmail.parse(raw)
        message_id = str(message.get("Message-ID", ""))
        if mssmail.parse_mdn(raw) is not None:
            return {"message_id": message_id, "status": "acknowledgement", "patient": None}
        patient = self._patient_of(message)
        error = None if patient is not None else UNKNOWN_PATIENT
        if message.get("Disposition-Notification-To") and "mss_no_mdn" not in self.defects:
            target = email.utils.parseaddr(str(message["Disposition-Notification-To"]))[1]
            # The integration result stands if the acknowledgement cannot be sent; the operator records why.
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._submit(mssmail.mdn(raw, reporter=self.mailbox, error=error), [target])
        return {
            "message_id": message_id,
            "status": "integrated" if patient is not None else "rejected",
            "patient": {"ins": patient["ins"], "oid": patient["oid"]} if patient else None,
            "error_code": error.split("^", 1)[0] if error else None,
        }

    def _patient_of(self, message: Any) -> dict[str, Any] | None:
        if "mss_identifies_by_subject" in self.defects:
            subject = str(message.get("Subject", ""))
            return next((p for p in self.known_patients.values() if f" {p['nom_naissance']} " in subject), None)
        for name, _, data in mssmail.attachments(message):
            if name.upper() == mssmail.XDM_NAME:
                try:
                    identifier = xdm.patient_of(xdm.read_xdm(data))
                except xdm.NotAnXdm:
                    return None
                if identifier is not None:
                    return self.known_patients.get(identifier[0])
        return None
