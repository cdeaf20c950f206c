"""The reference product as the DMP sees it: its named defects, its OID, its software identity, its actions.

Each defect of :data:`DMP_DEFECTS` breaks one rule, so that every requirement of the ``dmp``
suite can be shown to fail; the request builders and the client read them by name.
"""

from __future__ import annotations

DMP_DEFECTS: dict[str, str] = {
    "dmp_no_message_id": "sends DMP requests without wsa:MessageID",
    "dmp_inline_documents": "sends the TD2.1 documents as inline base64 instead of MTOM/XOP attachments",
    "vihf_unsigned": "sends the VIHF without a signature",
    "vihf_authentication_key": "signs the VIHF with an authentication certificate instead of the CPS signature key",
    "vihf_without_software": "leaves LPS_ID_HOMOLOGATION_DMP out of the VIHF",
    "vihf_other_patient": "names another patient than the one concerned in the VIHF resource-id",
    "xds_local_patient_id": "identifies the patient in the XDS metadata by the local IPP instead of the INS",
    "xds_unique_id_extension": "writes XDSDocumentEntry.uniqueId as root^extension",
    "xds_no_class_code": "leaves XDSDocumentEntry.classCode out",
    "xds_type_code_mismatch": "declares a typeCode other than the CDA document code",
    "xds_no_signature_document": "feeds documents without the XAdES signature document",
    "dmp_replace_without_rplc": "replaces a document by feeding a new one without the RPLC association",
    "dmp_mask_with_local_code": "masks a document with a local confidentiality code instead of MASQUE_PS",
    "dmp_delete_wrong_status": "deletes a document declaring a wrong OriginalStatus",
    "dmp_retrieve_wrong_repository": "retrieves documents from a made-up repository id",
    "dmp_closed_as_open": "reads a closed DMP in the TD0.2 answer as an open one",
    "dmp_authorises_before_feeding": "declares an access authorisation (TD0.3) before feeding a document",
    "dmp_drops_feed_when_unavailable": "reports an error and forgets the document when the DMP cannot be reached",
    "dmp_relay_rebuilds_document": "relays a document received from another system by sharing a new document "
    "of its own (new id) instead of the one received",
    "psc_dmp_self_made_vihf": "with a PSC login, signs a VIHF of its own (AuthnContext MobileTwoFactorUnregistered) "
    "and calls the DMP directly instead of going through the PSC -> VIHF proxy",
    "psc_dmp_id_token_as_bearer": "with a PSC login, presents the ID token to the PSC -> VIHF proxy instead of "
    "the access token",
}

SOURCE_ID = "2.25.216147016744468532364416963591815342157"  # the reference product's own OID
LPS = {"id": "segur-harness-reference", "nom": "segur-harness", "version": "1.0", "homologation": "SEGUR-REF-DMP"}
SPECIALTY = "G15_10/SM26^Médecin - Qualifié en Médecine Générale (SM)^1.2.250.1.213.1.1.4.5"


TD02_ACTION = "urn:hl7-org:v3:PRPA_IN201307UV02"
TD21_ACTION = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
