"""The base R4 structure, judged by the fhir.resources models (R4B: identical for the
elements these profiles use): unknown elements, wrong primitive formats, base cardinalities."""

from __future__ import annotations

import functools
from typing import Any

from pydantic import ValidationError

from harness.content.fhir.report import FhirIssue

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
    except (RecursionError, TypeError, ValueError) as exc:
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
