"""The reference agenda telling the SAS platform about an appointment a regulator booked.

``POST [SAS]/Appointment`` (FrAppointmentSAS) when booked, ``PUT [SAS]/Appointment?identifier=``
when cancelled, over mTLS with the product's organisation certificate (page
specifications_techniques-tous-gestion_rdv of ans.fhir.fr.sas 1.2.0).
"""

from __future__ import annotations

import datetime as dt
import json
import ssl
import uuid
from typing import Any

import httpx

from harness.run.sut.reference_sas.agenda import FR_V2_0203, IDNPS_SYSTEM, fhir_instant

# The vendor's own assigning authority for its appointment ids (the guide: an OID or a URL of its own).
APPOINTMENT_SYSTEM = "https://agenda-reference.segur-harness.test/rdv"
OPERATOR_EXTENSION = "http://interopsante.org/fhir/StructureDefinition/FrAppointmentOperator"
PROFILE = "http://sas.fr/fhir/StructureDefinition/FrAppointmentSAS"


def appointment(
    appointment_id: str,
    practitioner: str,
    regulator: dict[str, str],
    start: dt.datetime,
    status: str,
    defects: frozenset[str],
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Appointment",
        "meta": {"profile": [PROFILE]},
        "identifier": [{"system": APPOINTMENT_SYSTEM, "value": appointment_id}],
        "status": status,
        "start": fhir_instant(start),
        "end": fhir_instant(start + dt.timedelta(minutes=20)),
        "created": fhir_instant(dt.datetime.now(dt.UTC)),
        "participant": [
            {
                "actor": {
                    "identifier": {
                        "type": {"coding": [{"system": FR_V2_0203, "code": "IDNPS"}]},
                        "system": IDNPS_SYSTEM,
                        "value": practitioner,
                    }
                },
                "status": "accepted",
            }
        ],
    }
    if "sas_appointment_without_operator" not in defects:
        code = "IDNPS" if regulator.get("system") == IDNPS_SYSTEM else "INTRN"
        resource["extension"] = [
            {
                "url": OPERATOR_EXTENSION,
                "valueReference": {
                    "identifier": {
                        "type": {"coding": [{"system": FR_V2_0203, "code": code}]},
                        "system": regulator.get("system", ""),
                        "value": regulator.get("value", ""),
                    }
                },
            }
        ]
    return resource


class AppointmentSender:
    """Sends the appointments of the reference agenda to the SAS base URL of the test."""

    def __init__(self, ssl_context: ssl.SSLContext, defects: frozenset[str]):
        self.ssl_context, self.defects = ssl_context, defects
        self.sent: dict[str, dict[str, Any]] = {}  # appointment id -> what was booked

    def _send(self, method: str, url: str, resource: dict[str, Any], params: dict[str, str] | None) -> dict[str, Any]:
        try:
            with httpx.Client(verify=self.ssl_context, timeout=15.0) as client:
                response = client.request(
                    method,
                    url,
                    params=params,
                    content=json.dumps(resource).encode(),
                    headers={"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"},
                )
        except httpx.HTTPError as exc:
            return {"outcome": "error", "message": f"{type(exc).__name__}: {exc}"}
        if response.status_code >= 400:
            return {"outcome": "error", "message": f"HTTP {response.status_code}"}
        return {"outcome": "sent", "location": response.headers.get("location", "")}

    def book(self, base: str, practitioner: str, regulator: dict[str, str], start: dt.datetime) -> dict[str, Any]:
        appointment_id = str(uuid.uuid4())
        resource = appointment(appointment_id, practitioner, regulator, start, "booked", self.defects)
        self.sent[appointment_id] = {"practitioner": practitioner, "regulator": regulator, "start": start}
        return {**self._send("POST", f"{base}/Appointment", resource, None), "appointment_id": appointment_id}

    def cancel(self, base: str, appointment_id: str) -> dict[str, Any]:
        booked = self.sent.get(appointment_id)
        if booked is None:
            return {"outcome": "error", "message": f"no appointment {appointment_id} here"}
        resource = appointment(
            appointment_id, booked["practitioner"], booked["regulator"], booked["start"], "cancelled", self.defects
        )
        if "sas_cancel_as_new_appointment" in self.defects:
            return {**self._send("POST", f"{base}/Appointment", resource, None), "appointment_id": appointment_id}
        params = {"identifier": f"{APPOINTMENT_SYSTEM}|{appointment_id}"}
        return {**self._send("PUT", f"{base}/Appointment", resource, params), "appointment_id": appointment_id}
