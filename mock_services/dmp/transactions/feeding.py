"""TD2.1 (ITI-41, provide and register): the submission's documents from MTOM (inline base64
accepted or refused by the ``inline_documents`` setting), its consistency
(patient, hashes, sizes, unique ids, replacements), storage, and the strict verifiers' advice
recorded beside it.
"""

from __future__ import annotations

import copy
import hashlib

from lxml import etree

from harness.content import xds_metadata, xds_transport
from harness.core.recorder import REJECTED
from harness.protocols import mtom, soap, xds
from mock_services.dmp.registry import NewSubmissionSet
from mock_services.dmp.transactions.entries import _stored_entry, stored_metadata
from mock_services.dmp.transactions.model import Answer, BusinessError, Refusal
from mock_services.dmp.transactions.rights import Rights


class FeedingTransaction(Rights):
    """TD2.1: feeding the DMP."""

    def td21_provide_and_register(self, realm, payload, attachments, actor, summary) -> Answer:
        request = payload.find(f"{{{xds.LCM}}}SubmitObjectsRequest")
        if request is None:
            raise BusinessError("metadata_error", "SubmitObjectsRequest absent")
        submission = xds.parse_submission(request)
        summary["request"] = {
            "documents": [d.id for d in submission.documents],
            "unique_ids": [d.unique_id for d in submission.documents],
        }
        raw_contents = self._documents(payload, attachments)
        inline = xds_transport.inline_documents(payload)
        if inline:
            summary["inline_documents"] = inline
            if self.settings.inline_documents == "refuse":
                raise BusinessError("inline_document", ", ".join(inline), inline[0])
        submission_set = submission.submission_set
        if submission_set is None or not submission.documents:
            raise BusinessError("metadata_error", "un lot de soumission et au moins une fiche document attendus")
        contents, notes = xds.attach_documents(submission, raw_contents)
        if notes:
            summary["lenient"] = notes
        for document in submission.documents:
            if document.id not in contents:
                raise BusinessError("missing_document", f"fiche {document.id}", document.id)
        if len(raw_contents) > len(contents):
            matched = {key.casefold() for key in contents}
            extra = sorted(key for key in raw_contents if key.casefold() not in matched)
            raise BusinessError("missing_metadata", f"document {', '.join(extra)}", extra[0] if extra else "")
        patient_cx = submission_set.patient_id
        for document in submission.documents:
            if document.patient_id != patient_cx:
                raise BusinessError("patient_id_mismatch", f"{document.patient_id} / {patient_cx}", document.id)
        patient_ins = xds.patient_ins(patient_cx)
        patient = self._open_patient(patient_ins[0] if patient_ins else None)
        if self.authorisation(realm, patient, actor) == "INTERDIT":
            raise BusinessError("access_denied", "professionnel bloqué par le patient")
        replaced: list[tuple[str, str]] = []
        for association in submission.associations_of(xds.RPLC):
            old = self.registry.entry(realm, association.target)
            if old is None or old.status != xds.APPROVED or old.patient_ins != patient.ins:
                raise BusinessError("metadata_error", f"RPLC: {association.target} n'est pas un document approuvé")
            replaced.append((old.entry_uuid, xds.DEPRECATED))
        ss_uuid = xds.new_uuid()
        entries, stored_contents = [], {}
        for document in submission.documents:
            unique_id = document.unique_id or ""
            if not unique_id or self.registry.unique_id_used(realm, unique_id) or unique_id in stored_contents:
                raise BusinessError("duplicate_unique_id", unique_id, document.id)
            data = contents[document.id]
            digest = hashlib.sha1(data).hexdigest()  # the XDS hash slot is SHA-1 by definition
            declared_hash, declared_size = document.slot("hash"), document.slot("size")
            if (declared_hash and declared_hash.lower() != digest) or (
                declared_size and declared_size != str(len(data))
            ):
                raise BusinessError("repository_metadata_error", unique_id, document.id)
            entry_uuid = xds.new_uuid()
            metadata = stored_metadata(document.element, entry_uuid, entry_uuid, 1, digest, len(data))
            entries.append(
                _stored_entry(document, entry_uuid, entry_uuid, 1, patient.ins, digest, data, ss_uuid, metadata)
            )
            stored_contents[unique_id] = data
        ss_metadata = copy.deepcopy(submission_set.element)
        ss_metadata.set("id", ss_uuid)
        new_set = NewSubmissionSet(ss_uuid, submission_set.unique_id or "", patient.ins, etree.tostring(ss_metadata))
        summary["findings"] = _advice(submission, contents, payload)
        self.registry.store(realm, new_set, entries, stored_contents, replaced)
        summary["response"] = {"stored": [(e.unique_id, e.entry_uuid) for e in entries], "replaced": replaced}
        return Answer(xds.registry_response(xds.SUCCESS))

    def _documents(self, payload: etree._Element, attachments: mtom.MultipartMessage | None) -> dict[str, bytes]:
        contents = {}
        empty = mtom.MultipartMessage(mtom.MimePart(None, "", {}, b""), {})
        for document in payload.findall(f"{{{xds.XDSB}}}Document"):
            try:
                data = mtom.include_content(document, attachments or empty)
            except mtom.MtomError as exc:
                reason = f"pièce MTOM invalide: {exc}"
                raise Refusal(
                    400, soap.fault("Sender", reason), REJECTED, {"code": "Sender", "reason": reason}
                ) from None
            contents[document.get("id", "")] = data or b""
        return contents


def _advice(submission: xds.Submission, contents: dict[str, bytes], payload: etree._Element) -> list[str]:
    """What the strict verifiers would say of this submission, recorded for whoever debugs with the mock.

    The mock answers like the DMP whatever this says; verdicts are the suite's business.
    """
    try:
        findings = xds_transport.check_document_transport(payload, "TD2.1")
        findings += xds_metadata.check_metadata(submission, "TD2.1")
        findings += xds_metadata.check_cda(submission, contents, "TD2.1")
    except Exception as exc:  # advice must never turn an accepted feed into a fault
        return [f"the verifiers could not judge this submission: {type(exc).__name__}: {exc}"]
    return [f.describe() for f in findings[:50]]
