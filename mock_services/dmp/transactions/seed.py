"""The documents each realm starts with: every test patient's seed documents, stored on the realm's
first request as if fed by TD2.1.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

from lxml import etree

from harness.protocols import xds
from mock_services.dmp import messages
from mock_services.dmp.patients import DmpPatient, SeedDocument
from mock_services.dmp.transactions.entries import _stored_entry, stored_metadata
from mock_services.dmp.transactions.rights import Rights

HL7 = messages.HL7


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")


class Seeding(Rights):
    """Stores the test patients' seed documents in a new realm."""

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


def seed_content(patient: DmpPatient, seed: SeedDocument) -> bytes:
    """A small CDA-shaped document: enough for a retrieval, not a document to validate."""
    text = f"Document d'amorçage du simulateur DMP: {seed.title} ({patient.nom_naissance})"
    root = etree.Element(f"{{{HL7}}}ClinicalDocument", nsmap={None: HL7})
    etree.SubElement(root, f"{{{HL7}}}title").text = text
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
