"""TD3.1 (ITI-18, stored queries: FindDocuments, FindSubmissionSets, GetDocuments, by reference id)
and TD3.2 (ITI-43, retrieving documents), within the consultation rights and document masking.
"""

from __future__ import annotations

import uuid

from lxml import etree

from harness.core.recorder import FAULT, OK
from harness.protocols import xds
from mock_services.dmp import messages
from mock_services.dmp.registry import StoredEntry
from mock_services.dmp.transactions.model import Answer, BusinessError
from mock_services.dmp.transactions.rights import Rights


class ConsultationTransactions(Rights):
    """TD3.1 and TD3.2: finding and retrieving documents."""

    def td31_stored_query(self, realm, payload, attachments, actor, summary) -> Answer:
        query = payload.find(f"{{{xds.RIM}}}AdhocQuery")
        option = payload.find(f"{{{xds.QUERY}}}ResponseOption")
        return_type = option.get("returnType", "LeafClass") if option is not None else "LeafClass"
        query_id = query.get("id", "") if query is not None else ""
        params = query_parameters(query) if query is not None else {}
        summary["request"] = {"query": xds.STORED_QUERIES.get(query_id, query_id), "parameters": params}
        if query_id not in xds.STORED_QUERIES:
            raise BusinessError("metadata_error", f"requête stockée inconnue {query_id}")
        patient_key = (
            "$XDSSubmissionSetPatientId" if query_id == xds.FIND_SUBMISSION_SETS else "$XDSDocumentEntryPatientId"
        )
        patient_ins = xds.patient_ins(next(iter(params.get(patient_key) or []), None))
        if query_id == xds.GET_DOCUMENTS:
            entries = self._get_documents(realm, params)
            patient_ins = (entries[0].patient_ins, None) if entries else (actor.patient_ins or "", None)
        patient = self._open_patient(patient_ins[0] if patient_ins else None)
        self._check_consultation(realm, patient, actor)
        if query_id == xds.FIND_SUBMISSION_SETS:
            objects = [etree.fromstring(m) for _, _, m in self.registry.submission_sets(realm, patient.ins)]
        else:
            if query_id != xds.GET_DOCUMENTS:
                entries = self._find_documents(realm, patient.ins, params, by_reference=query_id != xds.FIND_DOCUMENTS)
            entries = [e for e in entries if self._visible(e, actor, patient)]
            objects = [_object(e, return_type) for e in entries]
        summary["response"] = {"count": len(objects)}
        return Answer(messages.query_response(objects))

    def _find_documents(
        self, realm: str, ins: str, params: dict[str, list[str]], *, by_reference: bool
    ) -> list[StoredEntry]:
        statuses = set(params.get("$XDSDocumentEntryStatus") or [xds.APPROVED])
        found = [e for e in self.registry.entries(realm, ins) if e.status in statuses]
        type_codes = {c.split("^")[0] for c in params.get("$XDSDocumentEntryTypeCode", [])}
        if type_codes:
            found = [e for e in found if e.type_code in type_codes]
        if by_reference:
            wanted = set(params.get("$XDSDocumentEntryReferenceIdList", []))
            found = [e for e in found if wanted & set(_slot_values(e.metadata, "urn:ihe:iti:xds:2013:referenceIdList"))]
        return found

    def _get_documents(self, realm: str, params: dict[str, list[str]]) -> list[StoredEntry]:
        found = [self.registry.entry(realm, u) for u in params.get("$XDSDocumentEntryEntryUUID", [])]
        for unique_id in params.get("$XDSDocumentEntryUniqueId", []):
            found += self.registry.entries_by_unique_id(realm, unique_id)
        return [e for e in found if e is not None]

    # -- TD3.2 (ITI-43) ------------------------------------------------------------------------

    def td32_retrieve(self, realm, payload, attachments, actor, summary) -> Answer:
        documents, errors, parts = [], [], []
        requested = []
        for request in payload.findall(f"{{{xds.XDSB}}}DocumentRequest"):
            repository = (request.findtext(f"{{{xds.XDSB}}}RepositoryUniqueId") or "").strip()
            unique_id = (request.findtext(f"{{{xds.XDSB}}}DocumentUniqueId") or "").strip()
            requested.append({"repository": repository, "unique_id": unique_id})
            if repository != xds.DMP_REPOSITORY_ID:
                errors.append((self.faults["unknown_repository"], repository))
                continue
            versions = [e for e in self.registry.entries_by_unique_id(realm, unique_id) if e.status != xds.DELETED]
            entry = versions[-1] if versions else None
            if entry is None:
                errors.append((self.faults["unknown_document"], unique_id))
                continue
            patient = self._open_patient(entry.patient_ins)
            self._check_consultation(realm, patient, actor)
            if not self._visible(entry, actor, patient):
                errors.append((self.faults["unknown_document"], unique_id))
                continue
            content_id = f"{uuid.uuid4()}@urn:ihe:iti:xds-b:2007"
            documents.append((unique_id, entry.mime_type, content_id))
            parts.append((content_id, entry.mime_type, self.registry.content(realm, unique_id) or b""))
        summary["request"] = {"documents": requested}
        summary["response"] = {"returned": [d[0] for d in documents], "errors": [s.code for s, _ in errors]}
        return Answer(messages.retrieve_response(documents, errors), FAULT if errors and not documents else OK, parts)


def query_parameters(query: etree._Element) -> dict[str, list[str]]:
    """Stored-query slots; values like ``'a'`` or ``('a','b')`` become lists of strings."""
    params: dict[str, list[str]] = {}
    for slot in query.findall(f"{{{xds.RIM}}}Slot"):
        values = []
        for raw in slot.iter(f"{{{xds.RIM}}}Value"):
            text = (raw.text or "").strip()
            if text.startswith("(") and text.endswith(")"):
                text = text[1:-1]
            values += [v.strip().strip("'") for v in text.split(",") if v.strip()]
        params[slot.get("name", "")] = values
    return params


def _object(entry: StoredEntry, return_type: str) -> etree._Element:
    element = etree.fromstring(entry.metadata)
    element.set("status", entry.status)
    if return_type == "ObjectRef":
        return etree.Element(f"{{{xds.RIM}}}ObjectRef", id=entry.entry_uuid)
    return element


def _slot_values(metadata: bytes, name: str) -> list[str]:
    element = etree.fromstring(metadata)
    for slot in element.findall(f"{{{xds.RIM}}}Slot"):
        if slot.get("name") == name:
            return [(v.text or "") for v in slot.iter(f"{{{xds.RIM}}}Value")]
    return []
