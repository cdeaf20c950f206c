"""The DMP's business behaviour, one method per transaction (TD0.2 to TD3.3).

Rights follow the matrix summarised in facts §2.3: feeding needs no authorisation but a
blocked professional gets nothing; consultation needs a valid authorisation or an emergency
mode the patient did not oppose; documents masked from professionals are seen by their author
only; masking, archiving and deletion belong to the author (or the author's structure when
authentication is indirect).
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lxml import etree

from harness.content import xds_metadata
from harness.core.recorder import FAULT, OK, REJECTED
from harness.protocols import mtom, soap, vihf, xds
from mock_services.dmp import messages
from mock_services.dmp.messages import FaultTable
from mock_services.dmp.patients import DmpPatient, PatientBase, SeedDocument
from mock_services.dmp.registry import DmpRegistry, NewSubmissionSet, StoredEntry

if TYPE_CHECKING:
    from mock_services.dmp.app import DmpSettings

HL7 = messages.HL7


class Refusal(Exception):
    """Ends handling with a protocol answer; ``outcome`` says how it is recorded."""

    def __init__(self, status: int, body: bytes, outcome: str, fault: dict[str, Any], mtom: bool = False):
        super().__init__(fault.get("reason", ""))
        self.status, self.body, self.outcome, self.fault, self.mtom = status, body, outcome, fault, mtom


@dataclass
class Answer:
    body: etree._Element
    outcome: str = OK
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)


class BusinessError(Exception):
    """A refusal the transaction answers in its own shape (RegistryResponse Failure...)."""

    def __init__(self, situation: str, detail: str = "", location: str = ""):
        super().__init__(situation)
        self.situation, self.detail, self.location = situation, detail, location


@dataclass(frozen=True)
class Actor:
    """Who acts, as the VIHF says (read from the signed part only)."""

    ps: str
    structure: str | None
    auth_mode: str | None
    purpose: str | None
    patient_ins: str | None
    patient_oid: str | None

    @classmethod
    def from_check(cls, check: vihf.VihfCheck) -> Actor:
        def first(name: str) -> str | None:
            values = check.attributes.get(name) or []
            return values[0] if values else None

        resource = first("urn:oasis:names:tc:xacml:2.0:resource:resource-id")
        patient = xds.patient_ins(resource)
        purpose = first("urn:oasis:names:tc:xspa:1.0:subject:purposeofuse")
        return cls(
            ps=check.name_id or "",
            structure=first("Identifiant_Structure"),
            auth_mode=first("Authentification_mode"),
            purpose=purpose.split("^")[0] if purpose else None,
            patient_ins=patient[0] if patient else None,
            patient_oid=patient[1] if patient else None,
        )

    @property
    def indirect(self) -> bool:
        return (self.auth_mode or "DIRECTE") != "DIRECTE"


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")


class Transactions:
    def __init__(self, registry: DmpRegistry, patients: PatientBase, faults: FaultTable, settings: DmpSettings):
        self.registry, self.patients, self.faults, self.settings = registry, patients, faults, settings

    def run(
        self,
        transaction: str,
        realm: str,
        payload: etree._Element,
        attachments: mtom.MultipartMessage | None,
        actor: Actor,
        message_id: str | None,
        summary: dict[str, Any],
    ) -> Answer:
        if self.registry.claim_realm(realm):
            self._seed(realm)
        handler = {
            "TD0.2": self.td02_test_existence,
            "TD0.3": self.td03_set_authorisation,
            "TD0.4": self.td04_authorised_patients,
            "TD2.1": self.td21_provide_and_register,
            "TD3.1": self.td31_stored_query,
            "TD3.2": self.td32_retrieve,
            "TD3.3": self.td33_update,
        }[transaction]
        try:
            return handler(realm, payload, attachments, actor, summary)
        except BusinessError as error:
            spec = self.faults[error.situation]
            summary["fault"] = {"situation": error.situation, "code": spec.code, "detail": error.detail}
            if spec.kind == "soap" or transaction in ("TD0.3", "TD0.4"):
                body = messages.soap_fault(spec, message_id, error.detail)
                raise Refusal(400, body, FAULT, summary["fault"] | {"reason": spec.message}) from None
            if transaction == "TD3.1":
                return Answer(messages.query_failure(spec, error.detail), FAULT)
            if transaction == "TD3.2":
                return Answer(messages.retrieve_response([], [(spec, error.detail)]), FAULT)
            return Answer(messages.registry_failure(spec, error.location, error.detail), FAULT)

    # -- patients and rights -----------------------------------------------------------------

    def patient(self, ins: str | None, oid: str | None = None) -> DmpPatient | None:
        found = self.patients.get(ins)
        if found is None and ins and self.settings.unknown_patient == "open":
            return DmpPatient(
                key=ins, ins=ins, oid=oid or "", nom_naissance="", prenoms=("",), sexe="", date_naissance=""
            )
        return found

    def authorisation(self, realm: str, patient: DmpPatient, actor: Actor) -> str:
        return self.registry.authorisation(realm, patient.ins, actor.ps) or patient.authorisation

    def _open_patient(self, ins: str | None) -> DmpPatient:
        patient = self.patient(ins)
        if patient is None or patient.status == "not_created":
            raise BusinessError("unknown_patient", f"INS {ins}")
        if patient.status == "closed":
            raise BusinessError("dmp_closed", f"INS {ins}")
        return patient

    def _emergency(self, actor: Actor) -> str | None:
        return self.settings.emergency_purposes.get(actor.purpose or "")

    def _check_consultation(self, realm: str, patient: DmpPatient, actor: Actor) -> None:
        status = self.authorisation(realm, patient, actor)
        if status == "INTERDIT":
            raise BusinessError("access_denied", "professionnel bloqué par le patient")
        emergency = self._emergency(actor)
        if emergency is not None:
            if emergency in patient.opposition:
                raise BusinessError("access_denied", f"opposition du patient à l'accès en mode {emergency}")
            return
        if status != "VALIDE":
            raise BusinessError("access_denied", f"autorisation {status}")

    def _visible(self, entry: StoredEntry, actor: Actor) -> bool:
        return not entry.masked_from_professionals or self._is_author(entry, actor)

    @staticmethod
    def _is_author(entry: StoredEntry, actor: Actor) -> bool:
        if actor.indirect:
            return bool(actor.structure) and entry.author_structure == actor.structure
        return entry.author == actor.ps

    # -- TD0.x ---------------------------------------------------------------------------------

    def td02_test_existence(self, realm, payload, attachments, actor, summary) -> Answer:
        reason = payload.find(f"{{{HL7}}}controlActProcess/{{{HL7}}}reasonCode")
        if reason is None or reason.get("code") != "TEST_EXST":
            # The same HL7 interaction carries TD1.3a (consultation of the administrative file).
            raise BusinessError("unsupported", f"reasonCode {reason.get('code') if reason is not None else 'absent'}")
        value = payload.find(f".//{{{HL7}}}patientIdentifier/{{{HL7}}}value")
        ins = value.get("extension") if value is not None else None
        oid = value.get("root") if value is not None else None
        message_id = payload.find(f"{{{HL7}}}id")
        query_id = payload.find(f".//{{{HL7}}}queryByParameter/{{{HL7}}}queryId")
        sender = payload.find(f"{{{HL7}}}sender/{{{HL7}}}device/{{{HL7}}}id")
        request = {
            "message_id": dict(message_id.attrib) if message_id is not None else {},
            "query_id": dict(query_id.attrib) if query_id is not None else {},
            "sender_root": sender.get("root") if sender is not None else None,
            "sender_name": payload.findtext(f"{{{HL7}}}sender/{{{HL7}}}device/{{{HL7}}}softwareName"),
        }
        patient = self.patient(ins, oid)
        found = patient is not None and patient.status != "not_created"
        outcome = {
            "found": found,
            "closed": found and patient is not None and patient.status == "closed",
            "authorisation": self.authorisation(realm, patient, actor) if found and patient else "NON_EXISTE",
            "medecin_traitant": False,
            "patient": patient,
            "not_found_code": self.settings.td02_not_found_code,
        }
        summary["response"] = {k: v for k, v in outcome.items() if k != "patient"} | {"ins": ins}
        return Answer(messages.td02_response(request, outcome))

    def td03_set_authorisation(self, realm, payload, attachments, actor, summary) -> Answer:
        action = (payload.findtext(f"{{{messages.HABILITATIONS}}}action") or "").strip()
        patient = self._open_patient(actor.patient_ins)
        summary["request"] = {"action": action, "ins": patient.ins}
        if action not in ("AJOUT", "SUPPRESSION"):
            raise BusinessError("metadata_error", f"action {action!r}: AJOUT ou SUPPRESSION attendu")
        if self._emergency(actor) is not None:
            raise BusinessError("access_denied", "se déclarer autorisé est impossible en mode d'urgence")
        current = self.authorisation(realm, patient, actor)
        if action == "AJOUT":
            if current == "INTERDIT" or patient.refuses_authorisations:
                raise BusinessError("access_denied", "le patient n'autorise pas ce professionnel")
            if current == "VALIDE":
                return Answer(messages.td03_response("Autorisation déjà présente aucune action effectuée"))
            self.registry.set_authorisation(realm, patient.ins, actor.ps, "VALIDE")
            return Answer(messages.td03_response("Autorisation ajoutée"))
        if current == "INTERDIT":
            raise BusinessError("access_denied", "professionnel bloqué par le patient")
        self.registry.set_authorisation(realm, patient.ins, actor.ps, "NON_EXISTE")
        return Answer(messages.td03_response("Autorisation supprimée"))

    def td04_authorised_patients(self, realm, payload, attachments, actor, summary) -> Answer:
        insts = set(self.registry.authorised_patients(realm, actor.ps))
        listed = []
        for patient in self.patients.by_ins.values():
            stored = self.registry.authorisation(realm, patient.ins, actor.ps)
            if patient.status == "open" and (
                patient.ins in insts or (stored is None and patient.authorisation == "VALIDE")
            ):
                listed.append(patient)
        summary["response"] = {"patients": [p.ins for p in listed]}
        return Answer(messages.td04_response(listed))

    # -- TD2.1 (ITI-41) ------------------------------------------------------------------------

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
        summary["findings"] = _advice(submission, contents)
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

    # -- TD3.1 (ITI-18) ------------------------------------------------------------------------

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
            entries = [e for e in entries if self._visible(e, actor)]
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
            if not self._visible(entry, actor):
                errors.append((self.faults["unknown_document"], unique_id))
                continue
            content_id = f"{uuid.uuid4()}@urn:ihe:iti:xds-b:2007"
            documents.append((unique_id, entry.mime_type, content_id))
            parts.append((content_id, entry.mime_type, self.registry.content(realm, unique_id) or b""))
        summary["request"] = {"documents": requested}
        summary["response"] = {"returned": [d[0] for d in documents], "errors": [s.code for s, _ in errors]}
        return Answer(messages.retrieve_response(documents, errors), FAULT if errors and not documents else OK, parts)

    # -- TD3.3 (ITI-57) ------------------------------------------------------------------------

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

    def _check_author(self, realm: str, entry: StoredEntry, actor: Actor) -> None:
        patient = self._open_patient(entry.patient_ins)
        if self.authorisation(realm, patient, actor) == "INTERDIT" or not self._is_author(entry, actor):
            raise BusinessError("access_denied", "seul l'auteur du document peut le modifier")

    # -- seed ----------------------------------------------------------------------------------

    def _seed(self, realm: str) -> None:
        for patient in self.patients.by_ins.values():
            for number, seed in enumerate(patient.documents, start=1):
                self._seed_document(realm, patient, seed, number)

    def _seed_document(self, realm: str, patient: DmpPatient, seed: SeedDocument, number: int) -> None:
        data = seed_content(patient, seed)
        unique_id = f"2.25.{uuid.uuid4().int}"
        entry_uuid = xds.new_uuid()
        masking = [xds.Code(c, xds.CS_DMP_MASKING, c) for c in seed.confidentiality if c in xds.MASKING_CODES]
        fields = xds.EntryFields(
            patient_id=xds.format_cx(patient.ins, patient.oid),
            unique_id=unique_id,
            title=seed.title,
            creation_time=_utc_now(),
            class_code=xds.Code("10", xds.CS_CLASS, "Compte rendu"),
            type_code=xds.Code(seed.type_code, xds.CS_LOINC, seed.title),
            format_code=xds.Code("urn:ihe:iti:xds-sd:text:2008", xds.CS_FORMAT_IHE, "Texte"),
            facility_code=xds.Code("SA01", xds.CS_FACILITY, "Etablissement public de santé"),
            practice_code=xds.Code("ETABLISSEMENT", xds.CS_PRACTICE, "Etablissement de santé"),
            author_person=xds.format_xcn(seed.author, "AUTEUR", "Seed"),
            author_specialty="G15_10/SM26^Médecin - Qualifié en Médecine Générale (SM)^1.2.250.1.213.1.1.4.5",
            author_institution=xds.format_xon("Structure d'amorçage", seed.author_structure),
            confidentiality=[xds.Code("N", xds.CS_CONFIDENTIALITY, "Normal"), *masking],
        )
        element = xds.document_entry(None, f"seed{number}", fields)
        document = xds.registry_object(element)
        digest = hashlib.sha1(data).hexdigest()  # the XDS hash slot is SHA-1 by definition
        metadata = stored_metadata(element, entry_uuid, entry_uuid, 1, digest, len(data))
        entry = _stored_entry(document, entry_uuid, entry_uuid, 1, patient.ins, digest, data, "seed", metadata)
        self.registry.store(realm, None, [entry], {unique_id: data})


def _advice(submission: xds.Submission, contents: dict[str, bytes]) -> list[str]:
    """What the strict verifiers would say of this submission, recorded for whoever debugs with the mock.

    The mock answers like the DMP whatever this says; verdicts are the suite's business.
    """
    try:
        findings = xds_metadata.check_metadata(submission, "TD2.1") + xds_metadata.check_cda(
            submission, contents, "TD2.1"
        )
    except Exception as exc:  # advice must never turn an accepted feed into a fault
        return [f"the verifiers could not judge this submission: {type(exc).__name__}: {exc}"]
    return [f.describe() for f in findings[:50]]


def seed_content(patient: DmpPatient, seed: SeedDocument) -> bytes:
    """A small CDA-shaped document: enough for a retrieval, not a document to validate."""
    text = f"Document d'amorçage du simulateur DMP: {seed.title} ({patient.nom_naissance})"
    root = etree.Element(f"{{{HL7}}}ClinicalDocument", nsmap={None: HL7})
    etree.SubElement(root, f"{{{HL7}}}title").text = text
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


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


def stored_metadata(element: etree._Element, entry_uuid: str, lid: str, version: int, digest: str, size: int) -> bytes:
    """The DocumentEntry as the registry keeps it: its ids replaced, registry slots added."""
    entry = copy.deepcopy(element)
    old_id = entry.get("id", "")
    entry.set("id", entry_uuid)
    entry.set("lid", lid)
    entry.set("status", xds.APPROVED)
    entry.set("isOpaque", "false")
    for child in entry.iter():
        for attribute in ("classifiedObject", "registryObject"):
            if child.get(attribute) == old_id:
                child.set(attribute, entry_uuid)
    for slot in entry.findall(f"{{{xds.RIM}}}Slot"):
        if slot.get("name") in ("hash", "size", "repositoryUniqueId"):
            entry.remove(slot)
    for position, (name, value) in enumerate(
        (("hash", digest), ("size", str(size)), ("repositoryUniqueId", xds.DMP_REPOSITORY_ID))
    ):
        slot = xds.add_slot(entry, name, [value])
        entry.remove(slot)
        entry.insert(position, slot)
    for old in entry.findall(f"{{{xds.RIM}}}VersionInfo"):
        entry.remove(old)
    anchor = entry.find(f"{{{xds.RIM}}}Description")
    if anchor is None:
        anchor = entry.find(f"{{{xds.RIM}}}Name")
    version_info = etree.Element(f"{{{xds.RIM}}}VersionInfo", versionName=str(version))
    if anchor is not None:
        anchor.addnext(version_info)
    else:
        entry.append(version_info)
    return etree.tostring(entry)


def _stored_entry(
    document: xds.RegistryObject,
    entry_uuid: str,
    lid: str,
    version: int,
    patient_ins: str,
    digest: str,
    data: bytes | None,
    submission_set: str,
    metadata: bytes,
    *,
    size: int | None = None,
    unique_id: str | None = None,
    mime_type: str | None = None,
) -> StoredEntry:
    author = document.author(xds.DE_AUTHOR)
    person = xds.parse_xcn((author.get("authorPerson") or [""])[0])
    institution = xds.parse_xon((author.get("authorInstitution") or [""])[0])
    types = document.codes(xds.DE_TYPE)
    return StoredEntry(
        entry_uuid=entry_uuid,
        lid=lid,
        version=version,
        unique_id=unique_id or document.unique_id or "",
        patient_ins=patient_ins,
        status=xds.APPROVED,
        author=person.id,
        author_structure=institution.id,
        confidentiality=tuple(code for code, _ in document.codes(xds.DE_CONFIDENTIALITY)),
        type_code=types[0][0] if types else "",
        mime_type=mime_type or document.attributes.get("mimeType", "text/xml"),
        hash=digest,
        size=size if size is not None else len(data or b""),
        submission_set=submission_set,
        metadata=metadata,
    )


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
