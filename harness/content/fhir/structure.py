"""The base R4 structure, judged by the fhir.resources models (R4B: identical for the
elements these profiles use): unknown elements, wrong primitive formats, base cardinalities.

The model is slow (about 300 µs for a Patient): a resource first goes through the quick pass of
``shapes`` (the same element definitions, read as data), and only one it cannot call certainly
valid is given to the model, whose errors are the findings. ``USE_QUICK_PASS = False`` gives every
resource to the model (the reference the differential test compares with).
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import ValidationError

from harness.content.fhir.report import FhirIssue
from harness.content.fhir.shapes import certainly_valid

USE_QUICK_PASS = True
MAX_STRUCTURE_ISSUES = 200  # a broken bundle can yield thousands; the first ones say enough


@functools.cache
def model_class(resource_type: str) -> Any:
    from fhir.resources.R4B import get_fhir_model_class

    try:
        cls = get_fhir_model_class(resource_type)
    except (KeyError, ValueError, ImportError, AttributeError):
        return None
    return cls if getattr(cls, "has_resource_base", lambda: False)() else None


def _expression(resource_type: str, loc: tuple[Any, ...]) -> str:
    out = resource_type
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and not part[:1].isupper():
            out += f".{part}"
    return out


def structure_issues(resource: dict[str, Any]) -> list[FhirIssue]:
    resource_type = str(resource.get("resourceType"))
    cls = model_class(resource_type)
    if cls is None:
        return [
            FhirIssue(
                "error",
                "structure",
                "fhir.json",
                f"{resource_type!r} is not an R4 resource type",
                str(resource_type),
                received=str(resource_type),
                message_fr=f"{resource_type!r} n'est pas un type de ressource R4",
            )
        ]
    if USE_QUICK_PASS and certainly_valid(resource, cls):
        return []
    return model_structure_issues(resource, cls)


def model_structure_issues(resource: dict[str, Any], cls: Any) -> list[FhirIssue]:
    """What the fhir.resources model finds wrong in ``resource`` (an instance of ``cls``)."""
    resource_type = str(resource.get("resourceType"))
    try:
        cls.model_validate(resource)
    except ValidationError as exc:
        issues = []
        for error in exc.errors()[:MAX_STRUCTURE_ISSUES]:
            where = _expression(resource_type, tuple(error.get("loc", ())))
            # pydantic's own message exists in English only: the French view quotes it as is.
            message = message_fr = error.get("msg", "invalid")
            if error.get("type") == "extra_forbidden":
                message = "unknown element for this resource type"
                message_fr = "élément inconnu pour ce type de ressource"
            issues.append(
                FhirIssue(
                    "error",
                    "structure",
                    "fhir.structure",
                    f"{where}: {message}",
                    where,
                    message_fr=f"{where} : {message_fr}",
                )
            )
        if len(exc.errors()) > MAX_STRUCTURE_ISSUES:
            issues.append(
                FhirIssue(
                    "error",
                    "too-costly",
                    "fhir.structure",
                    f"{len(exc.errors()) - MAX_STRUCTURE_ISSUES} more structural errors not listed",
                    resource_type,
                    message_fr=f"{len(exc.errors()) - MAX_STRUCTURE_ISSUES} autres erreurs de structure non listées",
                )
            )
        return issues
    except KeyError as exc:
        # fhir_core looks a nested resource's type up in its table without catching the miss
        return [
            FhirIssue(
                "error",
                "structure",
                "fhir.structure",
                f"a nested resource (contained, entry.resource) has a type that is not an R4 resource type: {exc}",
                resource_type,
                message_fr="une ressource imbriquée (contained, entry.resource) a un type qui n'est pas "
                f"un type de ressource R4 : {exc}",
            )
        ]
    except (RecursionError, TypeError, ValueError, AttributeError) as exc:  # fhir_core's own slips too
        return [
            FhirIssue(
                "error",
                "structure",
                "fhir.structure",
                f"the R4 model cannot read it: {exc}",
                resource_type,
                message_fr=f"le modèle R4 ne peut pas la lire : {exc}",
            )
        ]
    return []
