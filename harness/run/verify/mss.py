"""Verifiers of the ``mss`` suite: the messages the product submitted, and what it did with mail it received.

They read the recorded SMTP transactions (raw message bytes, envelope, TLS and authentication
as the operator saw them) and the mailboxes, never the operator's own opinion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from harness.content import xdm_check
from harness.core import ins
from harness.core.recorder import OK, Exchange
from harness.core.results import Finding
from harness.protocols import mssmail
from harness.run.verify.recorded import require_live

# The date of birth is the one optional field (SC.MSS/CONF.25); the first name is never taken for it.
SUBJECT = re.compile(
    r"^XDM/1\.0/DDM\+(?P<title>.+) (?P<family>\S+) (?P<given>(?!\d{2}/\d{2}/\d{4}$)\S+)"
    r"(?: (?P<born>\d{2}/\d{2}/\d{4}))?$"
)
PATIENT_DOMAIN = "patient.mssante.fr"
STRONG_AUTH = {"XOAUTH2", "OAUTHBEARER", "certificate"}


@dataclass
class Submitted:
    """One message the operator accepted from the product."""

    exchange: Exchange
    message: mssmail.EmailMessage

    @property
    def where(self) -> str:
        return f"exchange {self.exchange.id} (message {self.message.get('Message-ID', '?')})"

    @property
    def recipients(self) -> list[str]:
        return [r.lower() for r in self.exchange.request_meta.get("rcpt_tos", [])]

    def xdm(self) -> tuple[str, bytes] | None:
        for name, _, data in mssmail.attachments(self.message):
            if name.upper() == mssmail.XDM_NAME:
                return name, data
        return None


def submitted(exchanges: list[Exchange]) -> list[Submitted]:
    return [
        Submitted(e, mssmail.parse(e.request_body))
        for e in exchanges
        if e.service == "mss" and e.operation == "smtp.data" and e.outcome == OK
    ]


def none_sent(
    requirement: str,
    what: str = "message accepted by the operator",
    what_fr: str = "message accepté par l'opérateur",
) -> list[Finding]:
    """The finding when the product sent nothing to judge; ``what_fr`` is ``what`` in French."""
    return [
        Finding(
            "mss.sent",
            f"the product sent no {what}",
            message_fr=f"le produit n'a envoyé aucun {what_fr}",
            requirement=requirement,
            expected="one",
            received="none",
            expected_fr="un",
            received_fr="aucun",
        )
    ]


def check_transport(messages: list[Submitted]) -> list[Finding]:
    """MSS-01: TLS before authentication, and a PSC bearer token or an ORG certificate."""
    require_live(
        "MSS-01",
        "the TLS session and the SMTP authentication",
        "la session TLS et l'authentification SMTP",
        exchanges=[m.exchange for m in messages],
    )
    if not messages:
        return none_sent("MSS-01")
    findings = []
    for sent in messages:
        meta = sent.exchange.request_meta
        if meta.get("tls") not in ("implicit", "starttls"):
            findings.append(
                Finding(
                    "mss.tls",
                    "the message was submitted without TLS",
                    message_fr="le message a été soumis sans TLS",
                    requirement="MSS-01",
                    location=sent.where,
                    received=meta.get("tls"),
                )
            )
        if meta.get("auth") not in STRONG_AUTH:
            findings.append(
                Finding(
                    "mss.auth",
                    "the submission was not authenticated with a PSC bearer token "
                    "(XOAUTH2/OAUTHBEARER) or an IGC-Santé ORG certificate",
                    message_fr="la soumission n'a été authentifiée ni par un jeton porteur PSC "
                    "(XOAUTH2/OAUTHBEARER) ni par un certificat ORG IGC-Santé",
                    requirement="MSS-01",
                    location=sent.where,
                    received=meta.get("auth"),
                )
            )
    return findings


def check_structure(messages: list[Submitted], patient: dict[str, str]) -> list[Finding]:
    """MSS-02: subject of a document message, UTF-8 text body, the XDM and its PDF copy."""
    if not messages:
        return none_sent("MSS-02")
    findings = []
    for sent in messages:
        message, where = sent.message, sent.where
        subject = str(message.get("Subject", ""))
        match = SUBJECT.match(subject)
        born = "/".join(reversed(patient["date_naissance"].split("-")))
        if not match:
            findings.append(
                Finding(
                    "mss.subject",
                    "the subject must be XDM/1.0/DDM+<libellé> <NOM> <prénom> [<JJ/MM/AAAA>]",
                    message_fr="l'objet doit être de la forme XDM/1.0/DDM+<libellé> <NOM> <prénom> [<JJ/MM/AAAA>]",
                    requirement="MSS-02",
                    location=where,
                    received=subject,
                )
            )
        elif match["family"] != patient["nom_naissance"] or match["born"] not in (None, born):
            findings.append(
                Finding(
                    "mss.subject",
                    "the subject does not name the document's patient",
                    message_fr="l'objet ne nomme pas le patient du document",
                    requirement="MSS-02",
                    location=where,
                    received=subject,
                    expected=f"{patient['nom_naissance']} ... [{born}]",
                )
            )
        body = message.get_body(preferencelist=("plain",))
        if body is None or (body.get_content_charset() or "").lower() != "utf-8":
            findings.append(
                Finding(
                    "mss.body",
                    "the message needs a text/plain body in UTF-8",
                    message_fr="le message doit avoir un corps text/plain en UTF-8",
                    requirement="MSS-02",
                    location=where,
                    received=body.get_content_charset() if body else "no body",
                    received_fr=None if body else "aucun corps",
                )
            )
        names = [(name, media) for name, media, _ in mssmail.attachments(message)]
        if sent.xdm() is None:
            findings.append(
                Finding(
                    "mss.xdm-attached",
                    "no IHE_XDM.ZIP attachment",
                    message_fr="aucune pièce jointe IHE_XDM.ZIP",
                    requirement="MSS-02",
                    location=where,
                    received=", ".join(n for n, _ in names) or "no attachment",
                    received_fr=None if names else "aucune pièce jointe",
                )
            )
        if not any(media == "application/pdf" for _, media in names):
            findings.append(
                Finding(
                    "mss.pdf",
                    "no PDF copy of the document is attached",
                    message_fr="aucune copie PDF du document n'est jointe",
                    requirement="MSS-02",
                    location=where,
                )
            )
    return findings


def check_xdm(messages: list[Submitted]) -> list[Finding]:
    """MSS-03: the XDM package is well formed and its metadata, hashes and CDA are right."""
    from harness.protocols import xdm

    if not messages:
        return none_sent("MSS-03")
    findings: list[Finding] = []
    for sent in messages:
        attached = sent.xdm()
        if attached is None:
            findings.append(
                Finding(
                    "mss.xdm-attached",
                    "no IHE_XDM.ZIP to judge",
                    message_fr="aucune IHE_XDM.ZIP à juger",
                    requirement="MSS-03",
                    location=sent.where,
                )
            )
            continue
        try:
            package = xdm.read_xdm(attached[1])
        except xdm.UnsupportedArchive as exc:  # an operator set to relay it (MssSettings.unsupported_xdm)
            findings.append(replace(xdm_check.zip_format_finding(exc, "MSS-03"), location=sent.where))
            continue
        except xdm.NotAnXdm as exc:
            findings.append(
                Finding(
                    "xdm.readable",
                    f"the XDM cannot be read: {exc}",
                    message_fr=f"l'archive XDM est illisible : {exc}",
                    requirement="MSS-03",
                    location=sent.where,
                )
            )
            continue
        for finding in xdm_check.check_xdm(package, requirement="MSS-03"):
            # replace() keeps the XDM checker's own French (message_fr, expected_fr, received_fr).
            findings.append(replace(finding, requirement="MSS-03", location=f"{sent.where}: {finding.location or ''}"))
    return findings


def _cda_codes(sent: Submitted) -> set[str]:
    from harness.content.cda import NotACda, read_cda
    from harness.protocols import xdm

    attached = sent.xdm()
    if attached is None:
        return set()
    try:
        package = xdm.read_xdm(attached[1])
    except xdm.NotAnXdm:
        return set()
    codes = set()
    for data in package.documents().values():
        try:
            code = read_cda(data).find("c:code")
        except NotACda:
            continue
        if code is not None and code.get("code"):
            codes.add(code.get("code") or "")
    return codes


def check_headers(messages: list[Submitted], patient: dict[str, str]) -> list[Finding]:
    """MSS-04: X-MSS-CODECDA (the CDA codes), X-MSS-INS (O with a qualified INS), X-MSS-NIL."""
    if not messages:
        return none_sent("MSS-04")
    findings = []
    for sent in messages:
        message, where = sent.message, sent.where
        codes = _cda_codes(sent)
        declared = {c.strip() for c in str(message.get("X-MSS-CODECDA", "")).split(",") if c.strip()}
        if codes and declared != codes:
            findings.append(
                Finding(
                    "mss.x-mss-codecda",
                    "X-MSS-CODECDA must list the code of every CDA of the XDM",
                    message_fr="X-MSS-CODECDA doit lister le code de chaque CDA de l'archive XDM",
                    requirement="MSS-04",
                    location=where,
                    expected=",".join(sorted(codes)),
                    received=message.get("X-MSS-CODECDA"),
                )
            )
        expected_ins = "O" if patient.get("status") == "QUAL" else "N"
        if str(message.get("X-MSS-INS", "")).strip() != expected_ins:
            findings.append(
                Finding(
                    "mss.x-mss-ins",
                    "X-MSS-INS must say whether the patient's INS is qualified",
                    message_fr="X-MSS-INS doit indiquer si l'INS du patient est qualifié",
                    requirement="MSS-04",
                    location=where,
                    expected=expected_ins,
                    received=message.get("X-MSS-INS"),
                )
            )
        if not str(message.get("X-MSS-NIL", "")).strip():
            findings.append(
                Finding(
                    "mss.x-mss-nil",
                    "X-MSS-NIL (the product's reference) is missing",
                    message_fr="X-MSS-NIL (la référence du produit) est absent",
                    requirement="MSS-04",
                    location=where,
                )
            )
    return findings


def check_patient_recipients(messages: list[Submitted], patient: dict[str, str]) -> list[Finding]:
    """MSS-05: mail to a patient mailbox only with a qualified INS, and that INS in the address."""
    require_live(
        "MSS-05",
        "the SMTP envelope, and whether it refuses a patient without a qualified INS",
        "l'enveloppe SMTP, et s'il refuse un patient sans INS qualifiée",
        exchanges=[m.exchange for m in messages],
    )
    findings = []
    for sent in messages:
        for recipient in sent.recipients:
            local, _, domain = recipient.partition("@")
            if domain != PATIENT_DOMAIN:
                continue
            if patient.get("status") != "QUAL":
                findings.append(
                    Finding(
                        "mss.patient-ins",
                        "a message was sent to a patient mailbox for an identity whose INS is not qualified",
                        message_fr="un message a été envoyé à une messagerie patient pour une identité "
                        "dont l'INS n'est pas qualifié",
                        requirement="MSS-05",
                        location=sent.where,
                        received=patient.get("status"),
                    )
                )
            if local != patient["ins"] or ins.matricule_problems(local):
                findings.append(
                    Finding(
                        "mss.patient-address",
                        "the patient mailbox must be <INS>@patient.mssante.fr with the patient's own INS",
                        message_fr="l'adresse de la messagerie patient doit être <INS>@patient.mssante.fr "
                        "avec l'INS du patient lui-même",
                        requirement="MSS-05",
                        location=sent.where,
                        expected=f"{patient['ins']}@{PATIENT_DOMAIN}",
                        received=recipient,
                    )
                )
    return findings


def check_acknowledgement_requested(messages: list[Submitted]) -> list[Finding]:
    """MSS-06: a reading/integration acknowledgement is asked for (Disposition-Notification-To)."""
    if not messages:
        return none_sent("MSS-06")
    return [
        Finding(
            "mss.ack-request",
            "the message does not ask for an acknowledgement (Disposition-Notification-To)",
            message_fr="le message ne demande pas d'accusé de réception (Disposition-Notification-To)",
            requirement="MSS-06",
            location=sent.where,
        )
        for sent in messages
        if not str(sent.message.get("Disposition-Notification-To", "")).strip()
    ]


def check_mdn(raw_messages: list[bytes], original_id: str, error_code: str | None, requirement: str) -> list[Finding]:
    """MSS-08: the product's MDN for ``original_id``: processed, or processed/Error with the code and KO subject."""
    dispositions = [d for d in (mssmail.parse_mdn(r) for r in raw_messages) if d is not None]
    matching = [d for d in dispositions if d.original_message_id == original_id]
    if not matching:
        return [
            Finding(
                "mss.mdn",
                "no MDN for the delivered message (Original-Message-ID)",
                message_fr="aucun MDN pour le message remis (Original-Message-ID)",
                requirement=requirement,
                expected=original_id,
                received=", ".join(str(d.original_message_id) for d in dispositions) or "no MDN",
                received_fr=None if dispositions else "aucun MDN",
            )
        ]
    found = matching[-1]
    findings = []
    if not found.final_recipient:
        findings.append(
            Finding(
                "mss.mdn-final-recipient",
                "the MDN has no Final-Recipient",
                message_fr="le MDN n'a pas de Final-Recipient",
                requirement=requirement,
            )
        )
    if "processed" not in found.disposition:
        findings.append(
            Finding(
                "mss.mdn-disposition",
                "the integration MDN must be 'processed'",
                message_fr="le MDN d'intégration doit être « processed »",
                requirement=requirement,
                received=found.disposition,
            )
        )
    if error_code is None and found.error:
        findings.append(
            Finding(
                "mss.mdn-error",
                "a correct message was acknowledged with an error",
                message_fr="un message correct a été acquitté avec une erreur",
                requirement=requirement,
                received=found.error,
            )
        )
    if error_code is not None:
        if not found.error or found.error.split("^", 1)[0] != error_code:
            findings.append(
                Finding(
                    "mss.mdn-error",
                    "the integration failure must be reported with its error code",
                    message_fr="l'échec d'intégration doit être signalé avec son code d'erreur",
                    requirement=requirement,
                    expected=error_code,
                    received=found.error,
                )
            )
        if not found.subject.startswith(f"{mssmail.KO_PREFIX}[{error_code}]"):
            findings.append(
                Finding(
                    "mss.mdn-subject",
                    f"a negative MDN's subject starts with {mssmail.KO_PREFIX}[{error_code}]",
                    message_fr=f"l'objet d'un MDN négatif commence par {mssmail.KO_PREFIX}[{error_code}]",
                    requirement=requirement,
                    received=found.subject,
                )
            )
    return findings
