"""The named actions a conformance test can ask of the SUT, with their parameters and answers.

This table is the contract with vendors: a ``command`` SUT maps each action it supports to
a shell command; the answer is one JSON object on standard output. ``segur sut actions``
prints it, and the README documents it.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.run.sut.base import SutFailure

IDENTITY_FIELDS = (
    "ins (15 characters), oid (assigning authority OID), nom_naissance, prenoms (list of birth given "
    "names in order), sexe (M/F), date_naissance (YYYY-MM-DD), lieu_naissance (INSEE COG code), "
    "status (PROV, RECUP, VALI or QUAL)"
)


@dataclass(frozen=True)
class ActionSpec:
    name: str
    summary: str
    params: dict[str, str]
    answer: str
    outcomes: frozenset[str]


ACTIONS: dict[str, ActionSpec] = {
    spec.name: spec
    for spec in (
        ActionSpec(
            "insi.search_by_traits",
            "Search the patient's INS with INSi by identity traits (rechercherInsAvecTraitsIdentite), "
            "as the product does when it creates or completes an identity, and record what it keeps.",
            {
                "nom_naissance": "birth name",
                "prenoms": "birth given names, a list (a command template receives them space-separated)",
                "sexe": "M or F",
                "date_naissance": "birth date YYYY-MM-DD",
                "lieu_naissance": "INSEE COG code of the birth place, or empty",
                "identity_document_checked": "true when the operator checked a high-trust identity document",
            },
            f'{{"outcome": "found|not_found|multiple|refused|error", "identity": {{{IDENTITY_FIELDS}}} or null, '
            '"message": "what the user was told"} (refused: INSi answered an identity whose INS must not be '
            "imported, e.g. 00 as birth day or month, or an empty birth name, given names or sex)",
            frozenset({"found", "not_found", "multiple", "refused", "error"}),
        ),
        ActionSpec(
            "insi.search_by_carte_vitale",
            "Search the INS with INSi from the carte Vitale data (rechercherInsAvecCarteVitale).",
            {
                "matricule_individu": "the beneficiary's 15-character number read from the card",
                "nom_naissance": "birth name read from the card",
                "date_naissance": "birth date YYYY-MM-DD",
                "rang_naissance": "birth rank, e.g. 1",
                "identity_document_checked": "true when the operator checked a high-trust identity document",
            },
            "same answer as insi.search_by_traits",
            frozenset({"found", "not_found", "multiple", "refused", "error"}),
        ),
        ActionSpec(
            "insi.verify_identity",
            "Verify a stored INS with INSi (a traits search with the stored traits, then a comparison).",
            {"identity": f"the stored identity: {IDENTITY_FIELDS}"},
            '{"outcome": "verified|mismatch|not_found|multiple|error", "message": "...", '
            '"identity": the stored identity as the product keeps it after the verification}',
            frozenset({"verified", "mismatch", "not_found", "multiple", "error"}),
        ),
        ActionSpec(
            "identity.export",
            "Give the patient identifiers the product would put in an outgoing document or message "
            "(CDA, DMP, MSSanté) for this stored identity.",
            {"identity": f"the stored identity: {IDENTITY_FIELDS}"},
            '{"outcome": "exported", "identifiers": [{"value": "...", "oid": "..."}]}',
            frozenset({"exported", "error"}),
        ),
        ActionSpec(
            "psc.authorization_url",
            "Start a Pro Santé Connect login: give the URL the product sends the user's browser to.",
            {},
            '{"outcome": "ok", "url": "the authorization request URL"}',
            frozenset({"ok", "error"}),
        ),
        ActionSpec(
            "psc.callback",
            "Finish the login: the browser comes back to the product's redirect URI with this URL "
            "(code and state, or an error); the product exchanges the code and checks the tokens.",
            {"url": "the full callback URL the browser was redirected to"},
            '{"outcome": "logged_in|refused", "user": {"id_nat_ps": "...", "sub": "..."} or null, "message": "..."}',
            frozenset({"logged_in", "refused", "error"}),
        ),
        ActionSpec(
            "psc.refresh",
            "Renew the tokens of the current PSC session with the refresh token.",
            {},
            '{"outcome": "refreshed|refused"}',
            frozenset({"refreshed", "refused", "error"}),
        ),
        ActionSpec(
            "psc.logout_url",
            "Log the user out: give the PSC end-session URL the product sends the browser to.",
            {},
            '{"outcome": "ok", "url": "the end-session request URL"}',
            frozenset({"ok", "error"}),
        ),
        ActionSpec(
            "cda.produce_document",
            "Produce the CDA R2 document the product would share for this patient (a consultation note, "
            "or whatever document type it produces), as it would send it to the DMP or by MSSanté.",
            {
                "patient": f"the stored identity: {IDENTITY_FIELDS}",
                "title": "the document title to use",
            },
            '{"outcome": "produced", "document": "the file, base64-encoded" (or "path": "a file it wrote")}',
            frozenset({"produced", "error"}),
        ),
        ActionSpec(
            "dmp.check_dmp",
            "Check that the patient has a DMP and whether the user is authorised on it (TD0.2), as the "
            "product does before feeding or consulting.",
            {"patient": f"the stored identity: {IDENTITY_FIELDS}"},
            '{"outcome": "exists|not_found|closed|error", '
            '"authorisation": "VALIDE|NON_EXISTE|INTERDIT|EXPIRE" or null}',
            frozenset({"exists", "not_found", "closed", "error"}),
        ),
        ActionSpec(
            "dmp.declare_authorisation",
            "Declare the user authorised on the patient's DMP (TD0.3, action AJOUT) or withdraw it (SUPPRESSION).",
            {"patient": f"the stored identity: {IDENTITY_FIELDS}", "action": "AJOUT or SUPPRESSION"},
            '{"outcome": "done|refused|error", "message": "..."}',
            frozenset({"done", "refused", "error"}),
        ),
        ActionSpec(
            "dmp.feed_document",
            "Share a document of the patient in the DMP (TD2.1): the product produces it (as for "
            "cda.produce_document) and sends it with its metadata.",
            {
                "patient": f"the stored identity: {IDENTITY_FIELDS}",
                "title": "the document title to use",
                "masking": "DMP confidentiality codes to apply, a list (empty, or e.g. MASQUE_PS)",
                "document_type": "the document type to produce, from the couloir's flow: "
                '{"code": LOINC code of JDV_J07, "display": its display name}',
            },
            '{"outcome": "stored|queued|refused|error", "unique_id": "the document uniqueId", "message": "..."} '
            "(queued: the DMP could not be reached and the send is on hold)",
            frozenset({"stored", "queued", "refused", "error"}),
        ),
        ActionSpec(
            "dmp.relay_document",
            "As a hospital's intermediation platform (PFI): a document another system of the establishment "
            "(DPI, RIS, SGL) produced has reached the product; share it in the DMP as it came (TD2.1).",
            {
                "patient": f"the stored identity: {IDENTITY_FIELDS}",
                "document": "the CDA document received, base64",
                "masking": "DMP confidentiality codes the emitting system asked for, a list (may be empty)",
            },
            '{"outcome": "stored|refused|error", "unique_id": "the document uniqueId", "message": "..."}',
            frozenset({"stored", "refused", "error"}),
        ),
        ActionSpec(
            "dmp.send_pending",
            "The DMP can be reached again: let the product run the sends it put on hold, as its "
            "background task would, with no user action.",
            {},
            '{"outcome": "done|error", "sent": ["the uniqueId of each document sent"], "message": "..."}',
            frozenset({"done", "error"}),
        ),
        ActionSpec(
            "dmp.replace_document",
            "Share a new version of a document the product shared before (replacement).",
            {
                "patient": f"the stored identity: {IDENTITY_FIELDS}",
                "unique_id": "the uniqueId of the document to replace",
                "title": "the title of the new version",
                "document_type": "the document type of the new version (the same as the replaced one's): "
                '{"code": LOINC code of JDV_J07, "display": its display name}',
            },
            '{"outcome": "stored|refused|error", "unique_id": "the new uniqueId", "message": "..."}',
            frozenset({"stored", "refused", "error"}),
        ),
        ActionSpec(
            "dmp.find_documents",
            "List the patient's documents in the DMP (TD3.1).",
            {
                "patient": f"the stored identity: {IDENTITY_FIELDS}",
                "authentication": 'optional; "psc": the user logged in with Pro Santé Connect (psc.callback) '
                "and the call must carry that identity (SC.DMP/PSC.01), through the PSC -> VIHF proxy "
                "(SEGUR_VIHF_PROXY_URL)",
            },
            '{"outcome": "ok|refused|error", "documents": [{"unique_id": "...", "title": "...", "type_code": "..."}]}',
            frozenset({"ok", "refused", "error"}),
        ),
        ActionSpec(
            "dmp.read_document",
            "Read one of the patient's documents from the DMP (TD3.2).",
            {"patient": f"the stored identity: {IDENTITY_FIELDS}", "unique_id": "the document uniqueId"},
            '{"outcome": "ok|not_found|refused|error", "document": "the file, base64-encoded"}',
            frozenset({"ok", "not_found", "refused", "error"}),
        ),
        ActionSpec(
            "dmp.mask_document",
            "Hide one of the product's documents from other professionals (TD3.3a), or show it again.",
            {
                "patient": f"the stored identity: {IDENTITY_FIELDS}",
                "unique_id": "the document uniqueId",
                "masked": "true to hide, false to show again",
            },
            '{"outcome": "done|refused|error", "message": "..."}',
            frozenset({"done", "refused", "error"}),
        ),
        ActionSpec(
            "dmp.delete_document",
            "Delete one of the product's documents from the DMP (TD3.3c).",
            {"patient": f"the stored identity: {IDENTITY_FIELDS}", "unique_id": "the document uniqueId"},
            '{"outcome": "done|refused|error", "message": "..."}',
            frozenset({"done", "refused", "error"}),
        ),
        ActionSpec(
            "dmp.archive_document",
            "Archive one of the product's documents (TD3.3d), or bring it back.",
            {
                "patient": f"the stored identity: {IDENTITY_FIELDS}",
                "unique_id": "the document uniqueId",
                "archived": "true to archive, false to unarchive",
            },
            '{"outcome": "done|refused|error", "message": "..."}',
            frozenset({"done", "refused", "error"}),
        ),
        ActionSpec(
            "mss.send_document",
            "Send a document of the patient by MSSanté to a professional's mailbox (IHE XDM attachment).",
            {
                "patient": f"the stored identity: {IDENTITY_FIELDS}",
                "recipient": "the recipient's MSSanté address",
                "title": "the document title to use",
                "document_type": "the document type to produce, from the couloir's flow: "
                '{"code": LOINC code of JDV_J07, "display": its display name}',
            },
            '{"outcome": "sent|refused|error", "message_id": "the Message-ID of the message sent"}',
            frozenset({"sent", "refused", "error"}),
        ),
        ActionSpec(
            "mss.send_to_patient",
            "Send a document to the patient's own mailbox (Mon espace santé), when the product may.",
            {
                "patient": f"the stored identity: {IDENTITY_FIELDS}",
                "title": "the document title to use",
                "no_reply": "true when the professional does not want the patient to answer (X-MSS-MES: FIN)",
            },
            '{"outcome": "sent|refused|error", "message_id": "...", "message": "why it refused"}',
            frozenset({"sent", "refused", "error"}),
        ),
        ActionSpec(
            "mss.receive",
            "Read the product's MSSanté mailbox and integrate what arrived, as it does on its own.",
            {},
            '{"outcome": "ok|error", "messages": [{"message_id": "...", "status": "integrated|rejected", '
            '"patient": {"ins": "...", "oid": "..."} or null, "error_code": "902" or null}]}',
            frozenset({"ok", "error"}),
        ),
        ActionSpec(
            "fhir.produce_resource",
            "Produce the FHIR R4 resource the product would exchange: the patient (FR Core Patient, "
            "with the INS only when the identity is qualified), the user as a professional (FR Core "
            "Practitioner), its structure (FR Core Organization), or a document of the patient as a "
            "PDSm ITI-65 transaction bundle (SubmissionSet, DocumentReference, Binary, Patient).",
            {
                "kind": "patient | practitioner | organization | document-bundle",
                "patient": f"patient and document-bundle: the stored identity: {IDENTITY_FIELDS}",
                "title": "document-bundle: the document title to use",
            },
            '{"outcome": "produced", "resource": {the resource as FHIR JSON}} (or "document": its JSON '
            'or XML, base64-encoded, or "path": a file it wrote); "not_supported" when the product '
            "never produces this kind",
            frozenset({"produced", "not_supported", "error"}),
        ),
        ActionSpec(
            "sas.agenda_server",
            "Give the base URL of the product's FHIR API for the SAS platform (ans.fhir.fr.sas 1.2.0, "
            "PS individuel), served over mTLS with a server certificate the harness CA bundle trusts "
            "(SEGUR_CA_BUNDLE) and accepting only the SAS client certificate of the harness PKI "
            "(its CN and OU are the parameters), and the professionals (idNatPs) whose free slots it holds.",
            {
                "sas_client_cn": "the CN of the SAS platform's client certificate the server must accept",
                "sas_client_ou": "its OU",
            },
            '{"outcome": "ok", "url": "https://host:port/fhir (the FHIR base)", "practitioners": '
            '["idNatPs with free slots in the next 48 hours", ...], "practitioner_without_slots": '
            '"an idNatPs the agenda knows with no free slot"}',
            frozenset({"ok", "error"}),
        ),
        ActionSpec(
            "sas.send_appointment",
            "A regulator booked a slot through the SAS: send the appointment to the SAS platform "
            "(POST [SEGUR_SAS_URL]/Appointment, FrAppointmentSAS, mTLS with the product's certificate).",
            {
                "practitioner": "the professional's idNatPs",
                "regulator": 'the regulator\'s identifier, {"system": ..., "value": ...}, as the SAS gave it',
                "start": "the slot's start, an ISO 8601 date-time",
            },
            '{"outcome": "sent|error", "appointment_id": "the product\'s own id of the appointment"}',
            frozenset({"sent", "error"}),
        ),
        ActionSpec(
            "sas.cancel_appointment",
            "The appointment was cancelled: tell the SAS platform (PUT [SEGUR_SAS_URL]/Appointment?identifier=...).",
            {"appointment_id": "the id the product gave in sas.send_appointment"},
            '{"outcome": "sent|error"}',
            frozenset({"sent", "error"}),
        ),
    )
}


def check_answer(action: str, data: object) -> dict[str, object]:
    """Check that an answer has the documented shape; raise SutFailure saying what is wrong."""
    spec = ACTIONS[action]
    if not isinstance(data, dict):
        raise SutFailure(
            f"the answer to {action} must be a JSON object, received {type(data).__name__}",
            f"la réponse à {action} doit être un objet JSON, reçu {type(data).__name__}",
        )
    outcome = data.get("outcome")
    if outcome not in spec.outcomes:
        raise SutFailure(
            f"the answer to {action} has outcome {outcome!r}; expected one of {sorted(spec.outcomes)}",
            f"la réponse à {action} a pour outcome {outcome!r} ; attendu l'un de {sorted(spec.outcomes)}",
        )
    return data


def describe_actions() -> str:
    lines = []
    for spec in ACTIONS.values():
        lines.append(f"{spec.name}\n  {spec.summary}")
        for param, text in spec.params.items():
            lines.append(f"    {param}: {text}")
        lines.append(f"  answer: {spec.answer}\n")
    return "\n".join(lines)
