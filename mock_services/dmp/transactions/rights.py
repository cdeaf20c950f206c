"""Patients and rights, after the matrix summarised in facts §2.3: which patient an INS names, the
professional's authorisation, consultation (a valid authorisation, or an emergency mode the
patient did not oppose), visibility of masked documents (their author, or an emergency mode
when the patient allowed it) and the author's rights (the author's structure when
authentication is indirect).
"""

from __future__ import annotations

from mock_services.dmp.messages import FaultTable
from mock_services.dmp.patients import DmpPatient, PatientBase
from mock_services.dmp.registry import DmpRegistry, StoredEntry
from mock_services.dmp.settings import DmpSettings
from mock_services.dmp.transactions.model import Actor, BusinessError


class Rights:
    """The patient and rights checks every transaction builds on."""

    def __init__(self, registry: DmpRegistry, patients: PatientBase, faults: FaultTable, settings: DmpSettings):
        self.registry, self.patients, self.faults, self.settings = registry, patients, faults, settings

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

    def _visible(self, entry: StoredEntry, actor: Actor, patient: DmpPatient) -> bool:
        if not entry.masked_from_professionals or self._is_author(entry, actor):
            return True
        return patient.masked_visible_in_emergency and self._emergency(actor) is not None

    @staticmethod
    def _is_author(entry: StoredEntry, actor: Actor) -> bool:
        if actor.indirect:
            return bool(actor.structure) and entry.author_structure == actor.structure
        return entry.author == actor.ps

    def _check_author(self, realm: str, entry: StoredEntry, actor: Actor) -> None:
        patient = self._open_patient(entry.patient_ins)
        if self.authorisation(realm, patient, actor) == "INTERDIT" or not self._is_author(entry, actor):
            raise BusinessError("access_denied", "seul l'auteur du document peut le modifier")
