"""Reference target profiles: ``author only Reference(AsPractitionerRoleProfile)`` judged on the
resource the reference resolves to inside the input (a contained resource, a Bundle entry).

The resolved resource must conform to at least one of the target profiles of its type. A core
target (``http://hl7.org/fhir/StructureDefinition/Device``) asks for the type only. A reference
that does not resolve inside the input, or whose target profiles are not held, is not judged
here (the Bundle check says when a ``urn:`` reference resolves to no entry).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.content.fhir.profiles import CORE_PREFIX, Profile, Registry
from harness.content.fhir.report import FhirIssue

Resolver = Callable[[str, dict[str, Any]], "dict[str, Any] | None"]
# (profile, target resource, resolver for the references inside it) -> the errors of that walk
Judge = Callable[[Profile, dict[str, Any], "Resolver | None"], list[FhirIssue]]
# (id of a referenced resource, target profile URL) -> its errors, shared by every walk of one input
TargetChecks = dict[tuple[int, str], list[FhirIssue]]


def target_profile_errors(
    registry: Registry,
    current: dict[str, Any],
    resolver: Resolver | None,
    checks: TargetChecks,
    targets: list[str],
    target: dict[str, Any],
    judge: Judge,
) -> tuple[list[str], list[FhirIssue]] | None:
    """None when ``target`` (referenced from ``current``) conforms to one of ``targets``, or none of
    them can be judged; else the profiles tried and the errors of the first one."""
    resource_type = target.get("resourceType")
    tried: list[str] = []
    first_errors: list[FhirIssue] = []
    for url in targets:
        profile = registry.get(url)
        if profile is None:
            if url.startswith(CORE_PREFIX) and url[len(CORE_PREFIX) :] == resource_type:
                return None  # a core target asks for the type only
            continue
        if profile.type != resource_type:
            continue
        key = (id(target), profile.url)
        if key not in checks:
            checks[key] = []  # a cycle back to this pair counts as conforming
            checks[key] = judge(profile, target, _resolver_for(resolver, current, target))
        errors = checks[key]
        if not errors:
            return None
        tried.append(profile.url)
        first_errors = first_errors or errors
    return (tried, first_errors) if tried else None


def _resolver_for(base: Resolver | None, container: dict[str, Any], target: dict[str, Any]) -> Resolver | None:
    """A ``#id`` reference inside a contained ``target`` names a sibling: it resolves against the container."""
    contained = container.get("contained")
    if base is None or not (isinstance(contained, list) and any(item is target for item in contained)):
        return base
    return lambda reference, current: base(reference, container if reference.startswith("#") else current)


def target_issue(node_id: str, profile_url: str, tried: list[str], errors: list[FhirIssue], expr: str) -> FhirIssue:
    first = errors[0]
    where = first.element or first.expression
    names = " | ".join(tried)
    return FhirIssue(
        "error",
        "structure",
        "fhir.reference-target",
        f"{node_id}: the referenced resource conforms to none of its target profiles ({names}); "
        f"first error: {where}: {first.message}",
        expr,
        node_id,
        profile_url,
        expected=names,
        received=f"{len(errors)} error(s)",
        message_fr=f"{node_id} : la ressource référencée n'est conforme à aucun de ses profils cibles ({names}) ; "
        f"première erreur : {where} : {first.message_fr or first.message}",
    )
