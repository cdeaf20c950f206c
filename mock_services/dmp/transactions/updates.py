"""TD3.3 (ITI-57, metadata update): status changes (archiving, deletion, restoring) and new
metadata versions, by the document's author only.
"""

from __future__ import annotations

from harness.protocols import xds
from mock_services.dmp.registry import StoredEntry
from mock_services.dmp.transactions.entries import _stored_entry, stored_metadata
from mock_services.dmp.transactions.model import Answer, BusinessError
from mock_services.dmp.transactions.rights import Rights


class UpdateTransaction(Rights):
    """TD3.3: status changes and new metadata versions."""

    def td33_update(self, realm, payload, attachments, actor, summary) -> Answer:
        submission = xds.parse_submission(payload)
        status_updates = submission.associations_of(xds.UPDATE_AVAILABILITY)
        summary["request"] = {"kind": "availability" if status_updates else "metadata"}
        changes: list[tuple[str, str]] = []
        new_entries: list[StoredEntry] = []
        for association in status_updates:
            entry = self.registry.entry(realm, association.target)
            if entry is None:
                raise BusinessError("unresolved_reference", association.target, association.id)
            self._check_author(realm, entry, actor)
            original, new = association.slot("OriginalStatus"), association.slot("NewStatus")
            allowed = {
                xds.APPROVED: {xds.ARCHIVED, xds.DELETED},
                xds.ARCHIVED: {xds.APPROVED, xds.DELETED},
            }
            if original != entry.status or new not in allowed.get(entry.status, set()):
                raise BusinessError(
                    "status_error", f"{entry.status} -> {new} (OriginalStatus {original})", association.id
                )
            changes.append((entry.entry_uuid, new))
        for association in submission.associations_of(xds.HAS_MEMBER):
            document = submission.document(association.target)
            if document is None:
                continue
            lid = document.attributes.get("lid", "")
            versions = [e for e in self.registry.entries_by_lid(realm, lid) if e.status != xds.DEPRECATED]
            if not versions:
                raise BusinessError("unresolved_reference", f"lid {lid}", document.id)
            current = versions[-1]
            self._check_author(realm, current, actor)
            previous = association.slot("PreviousVersion")
            if previous != str(current.version):
                raise BusinessError("version_error", f"PreviousVersion {previous}, version courante {current.version}")
            entry_uuid = xds.new_uuid()
            metadata = stored_metadata(
                document.element, entry_uuid, lid, current.version + 1, current.hash, current.size
            )
            new_entries.append(
                _stored_entry(
                    document,
                    entry_uuid,
                    lid,
                    current.version + 1,
                    current.patient_ins,
                    current.hash,
                    None,
                    current.submission_set,
                    metadata,
                    size=current.size,
                    unique_id=current.unique_id,
                    mime_type=current.mime_type,
                )
            )
            changes.append((current.entry_uuid, xds.DEPRECATED))
        if not changes:
            raise BusinessError(
                "metadata_error", "aucune mise à jour reconnue (UpdateAvailabilityStatus ou nouvelle version)"
            )
        self.registry.store(realm, None, new_entries, {}, changes)
        summary["response"] = {"changes": changes, "new_versions": [e.entry_uuid for e in new_entries]}
        return Answer(xds.registry_response(xds.SUCCESS))
