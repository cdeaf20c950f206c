"""Every action ``segur judge`` finds on the wire: DMP and MSSanté (``observed``), INSi, PSC and CDA.

FHIR is named only to say why it is not judged: no mock of ``segur serve`` receives the FHIR
resources a product makes, so a session never holds one.
"""

from __future__ import annotations

from typing import Any

from harness.run import observed_cda, observed_insi, observed_psc
from harness.run.observed import DMP_MSS_HANDLERS, Handlers, ObservedTest, not_observed


def _fhir_resource(view: ObservedTest, params: dict[str, Any]) -> dict[str, Any]:
    kind = params.get("kind", "?")
    raise not_observed(
        f"a session of segur serve records no FHIR resource the product made (here: {kind}): no mock receives "
        "one; segur run, or --sut artifacts:DIR with the resources as files, judges it",
        f"une session de segur serve n'enregistre aucune ressource FHIR produite par le produit (ici : {kind}) : "
        "aucun simulateur n'en reçoit ; segur run, ou --sut artifacts:DIR avec les ressources en fichiers, la juge",
    )


HANDLERS: Handlers = {
    **DMP_MSS_HANDLERS,
    **observed_insi.HANDLERS,
    **observed_psc.HANDLERS,
    **observed_cda.HANDLERS,
    "fhir.produce_resource": _fhir_resource,
}
