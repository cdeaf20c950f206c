"""TD0.2 (test of existence of a DMP), TD0.3 (declaring oneself authorised, or no longer) and TD0.4
(the patients a professional is authorised for): HL7 v3 messages over the Habilitation and
patient services.
"""

from __future__ import annotations

from mock_services.dmp import messages
from mock_services.dmp.transactions.model import Answer, BusinessError
from mock_services.dmp.transactions.rights import Rights

HL7 = messages.HL7


class AuthorisationTransactions(Rights):
    """TD0.2, TD0.3 and TD0.4."""

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
