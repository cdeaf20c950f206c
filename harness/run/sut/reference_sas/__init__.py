"""The reference product as an agenda vendor's FHIR server for the SAS (``suites/sas``).

``agenda.py`` holds its professionals and the Slot search, ``server.py`` the FHIR API over mTLS,
``appointments.py`` the appointments it sends to the SAS platform.
"""

from __future__ import annotations

SAS_DEFECTS: dict[str, str] = {
    "sas_no_capability_statement": "serves no CapabilityStatement at /metadata",
    "sas_first_identifier_only": "searches the slots of the first professional of the list only",
    "sas_ignores_window": "returns slots outside the start=ge/le window",
    "sas_ignores_status": "returns busy slots to a status=free search",
    "sas_bundle_not_searchset": "answers a Bundle of type collection",
    "sas_no_booking_url": "gives no booking URL in Slot.comment",
    "sas_no_include": "leaves out the Schedule, Practitioner and PractitionerRole",
    "sas_practitioner_bare_rpps": "identifies the professional by the bare RPPS, without the 8 prefix",
    "sas_role_without_location": "gives the PractitionerRole no contained Location",
    "sas_no_slots_404": "answers 404 instead of an empty Bundle when no slot matches",
    "sas_accepts_no_certificate": "accepts a client with no certificate",
    "sas_accepts_any_cn": "does not check the client certificate's CN",
    "sas_accepts_any_ou": "does not check the client certificate's OU",
    "sas_ignores_revocation": "accepts a revoked client certificate (no CRL check)",
    "sas_slow_search": "answers a slot search in more than a second",
    "sas_regulator_no_location": "creates a regulator account without a Location header",
    "sas_put_unknown_404": "refuses a conditional update of a regulator it does not know instead of creating it",
    "sas_accepts_invalid_regulator": "accepts a regulator account missing mandatory fields",
    "sas_booking_ignores_origin": "opens the agenda to a user coming from the SAS without logging them in",
    "sas_appointment_without_operator": "sends the appointment without the regulator who booked it",
    "sas_cancel_as_new_appointment": "sends a cancellation as a new appointment (POST), not as an update",
}
