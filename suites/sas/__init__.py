"""SAS suite: the product as the agenda vendor's FHIR server the SAS platform queries (ans.fhir.fr.sas 1.2.0)."""
