"""The SAS platform's appointment endpoint (ans.fhir.fr.sas 1.2.0, gestion des RDV): the product sends
``POST [base]/Appointment`` when a regulator books one of its slots and ``PUT [base]/Appointment?identifier=``
when the appointment changes. Lenient: it records and answers like the guide's page says; the
``sas`` suite judges the recorded requests."""

from mock_services.sas.app import create_app

__all__ = ["create_app"]
