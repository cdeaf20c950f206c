"""DMP-08 on an XDS.b submission: the signature document (an XAdES manifest over the documents).

Split from ``xds_metadata`` (which re-exports :func:`check_signature_document`); rules from facts
§2.5 (DMP kit TD2.1).
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509

from harness.core.results import Finding
from harness.protocols import xds
from harness.protocols.xades import verify_signature_document

SIGNATURE_CLASS = "urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1"
SIGNATURE_FORMAT = "http://www.w3.org/2000/09/xmldsig#"


def is_signature_entry(entry: xds.RegistryObject) -> bool:
    return any(code == SIGNATURE_CLASS for code, _ in entry.codes(xds.DE_CLASS)) or any(
        code == SIGNATURE_FORMAT for code, _ in entry.codes(xds.DE_FORMAT)
    )


def _signature_finding(message: str, location: str, *, message_fr: str, received: str | None = None) -> Finding:
    """A DMP-08 finding; ``message_fr`` is its French."""
    return Finding(
        rule="dmp.signature",
        message=message,
        message_fr=message_fr,
        requirement="DMP-08",
        location=location,
        received=received,
    )


def check_signature_document(
    submission: xds.Submission, documents: dict[str, bytes], trusted: Sequence[x509.Certificate] | None, where: str
) -> list[Finding]:
    """DMP-08; ``trusted`` None skips the trust check (a file judged away from any PKI)."""
    signatures = [e for e in submission.documents if is_signature_entry(e)]
    if not signatures:
        return [
            _signature_finding(
                "the submission carries no signature document",
                where,
                message_fr="la soumission ne porte aucun document de signature",
            )
        ]
    findings = []
    signed = {e.unique_id or "": documents.get(e.id, b"") for e in submission.documents if not is_signature_entry(e)}
    ss_id = submission.submission_set.id if submission.submission_set else ""
    for entry in signatures:
        loc = f"{where}, DocumentEntry {entry.id}"
        if not any(a.source == entry.id and a.target == ss_id for a in submission.associations_of(xds.SIGNS)):
            findings.append(
                _signature_finding(
                    "no 'signs' association to the submission set",
                    loc,
                    message_fr="aucune association « signs » vers le lot de soumission",
                )
            )
        expected = {
            xds.DE_CLASS: SIGNATURE_CLASS,
            xds.DE_TYPE: "E1762",
            xds.DE_FORMAT: SIGNATURE_FORMAT,
        }
        for scheme, code in expected.items():
            if code not in [c for c, _ in entry.codes(scheme)]:
                name = xds.SCHEME_NAMES[scheme]
                findings.append(
                    _signature_finding(f"{name} must be {code}", loc, message_fr=f"{name} doit être {code}")
                )
        check = verify_signature_document(documents.get(entry.id, b""), signed)
        # The XAdES checker (harness.protocols.xades) words its problems in English only.
        findings += [
            _signature_finding(problem, loc, message_fr=f"document de signature : {problem}")
            for problem in check.problems
        ]
        for uri, state in check.signed_documents.items():
            if state != "ok":
                findings.append(
                    _signature_finding(
                        f"manifest reference {uri}: {state}", loc, message_fr=f"référence {uri} du manifeste : {state}"
                    )
                )
        for unique_id in signed:
            if f"urn:oid:{unique_id}" not in check.signed_documents:
                findings.append(
                    _signature_finding(
                        f"document {unique_id} is not in the manifest",
                        loc,
                        message_fr=f"le document {unique_id} n'est pas dans le manifeste",
                    )
                )
        if check.signer is not None and trusted is not None and not _trusted(check.signer, trusted):
            findings.append(
                _signature_finding(
                    "the signer's certificate is not from a trusted CA",
                    loc,
                    message_fr="le certificat du signataire n'est pas émis par une AC de confiance",
                    received=check.signer.issuer.rfc4514_string(),
                )
            )
    return findings


def _trusted(certificate: x509.Certificate, trusted: Sequence[x509.Certificate]) -> bool:
    for issuer in trusted:
        try:
            certificate.verify_directly_issued_by(issuer)
            return True
        except Exception:
            continue
    return False
