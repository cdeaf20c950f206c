"""FHIR R4 resources judged against the French profiles (FR Core, PDSm/MHD), offline.

``read_resource`` turns bytes (JSON or XML) into the resource's JSON form or raises
``NotFhir``; ``validate_resource`` checks the base R4 structure with fhir.resources, then walks
each applicable profile of ``profiles/fhir`` (see its README) and, for a Bundle, the references
between entries. Pure functions: no I/O beyond reading the profile data once.
"""

from __future__ import annotations

import json
from typing import Any

from harness.content.fhir.bundle import BundleIndex, contained_reference_issues, reference_issues, resolve_contained
from harness.content.fhir.profiles import ProfileDataError, Registry, registry
from harness.content.fhir.report import INVALID, NOT_JUDGED, VALID, FhirIssue, FhirReport, NotFhir, wrong_resource_type
from harness.content.fhir.structure import structure_issues
from harness.content.fhir.walker import Context, Walker

__all__ = [
    "INVALID",
    "NOT_JUDGED",
    "VALID",
    "FhirIssue",
    "FhirReport",
    "NotFhir",
    "ProfileDataError",
    "Registry",
    "known_profiles",
    "read_resource",
    "resolve_profile",
    "validate_resource",
]

MAX_BYTES = 256 * 1024 * 1024
MAX_DEPTH = 64  # R4 resources nest far less; deeper input is refused before any model sees it


def known_profiles() -> list[str]:
    """Canonical URLs of the resource profiles held (extensions excluded)."""
    return registry().resource_profiles()


def resolve_profile(ref: str) -> str | None:
    """A held profile's canonical from its URL, id or name."""
    return registry().resolve_name(ref)


def _depth(value: Any) -> int:
    """Levels of objects and arrays, counted one level at a time (stopping past MAX_DEPTH): a
    stack of (node, depth) pairs cost more than parsing the JSON."""
    level, depth = [value], 0
    while level:
        depth += 1
        if depth > MAX_DEPTH:
            return depth
        below: list[Any] = []
        for node in level:
            for child in node.values() if isinstance(node, dict) else node:
                if isinstance(child, (dict, list)):
                    below.append(child)
        level = below
    return depth


def read_resource(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_BYTES:
        raise NotFhir(f"{len(raw)} bytes is more than the {MAX_BYTES}-byte limit")
    text = raw.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"<"):
        from harness.content.fhir.xml import resource_from_xml

        data = resource_from_xml(text)
    else:
        try:
            data = json.loads(text)
        except RecursionError:
            raise NotFhir(f"nested more than {MAX_DEPTH} levels deep") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise NotFhir(f"neither JSON nor XML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
        raise NotFhir("not a FHIR resource: no resourceType at the top level")
    if _depth(data) > MAX_DEPTH:
        raise NotFhir(f"nested more than {MAX_DEPTH} levels deep")
    return data


def validate_resource(
    resource: dict[str, Any],
    profile: str | None = None,
    *,
    must_support: bool = False,
    profiles: Registry | None = None,
) -> FhirReport:
    """Judge one resource (a Bundle's entries included) against ``profile``, or else the
    profiles its ``meta.profile`` declares. ``profiles`` replaces the profiles/fhir data."""
    reg = profiles or registry()
    resource_type = resource.get("resourceType")
    report = FhirReport(resource_type if isinstance(resource_type, str) else None)
    structural = structure_issues(resource)
    report.issues.extend(structural)
    if any(issue.rule == "fhir.json" for issue in structural):
        return report
    try:
        _walk_profiles(resource, profile, reg, must_support, report)
    except (TypeError, AttributeError, KeyError, IndexError, ValueError) as exc:
        if not structural:
            raise  # on a resource of sound structure this is the engine's own bug: a harness error
        # The profile walk reads the JSON as R4 shapes it; the structure errors say where it is not.
        report.issues.append(
            FhirIssue(
                "warning",
                "processing",
                "fhir.processing",
                f"the profiles were not walked to the end: the structure errors above make the resource "
                f"unreadable to them ({type(exc).__name__})",
                str(resource_type),
                message_fr="les profils n'ont pas été parcourus jusqu'au bout : les erreurs de structure "
                f"ci-dessus rendent la ressource illisible pour eux ({type(exc).__name__})",
            )
        )
    return report


def _walk_profiles(
    resource: dict[str, Any], profile: str | None, reg: Registry, must_support: bool, report: FhirReport
) -> None:
    resource_type = resource.get("resourceType")
    index = BundleIndex(resource) if resource_type == "Bundle" else None
    resolver = index.resolve if index is not None else resolve_contained
    walked: set[tuple[str, str]] = set()
    said_once: set[str] = set()
    target_checks: dict[tuple[int, str], list[FhirIssue]] = {}

    def walk(url: str, target: dict[str, Any], expr: str, declared: bool) -> None:
        held = reg.get(url)
        if held is None:
            if url not in report.not_held:
                report.not_held.append(url)
            report.issues.append(
                FhirIssue(
                    "warning",
                    "not-supported",
                    "fhir.profile",
                    f"profile {url} is not held here: what it requires is not judged",
                    expr,
                    received=url,
                    message_fr=f"le profil {url} n'est pas disponible ici : ce qu'il exige n'est pas jugé",
                )
            )
            return
        if (expr, held.url) in walked:
            return
        if target.get("resourceType") != held.type:
            report.issues.append(wrong_resource_type(url, held.type, target.get("resourceType"), expr))
            return
        walked.add((expr, held.url))
        ctx = Context(reg, held, target, resolver, must_support, report.issues, walked, said_once, target_checks)
        Walker(ctx).item(held.root, held.type, target, expr)

    root_expr = str(resource_type)
    roots = [profile] if profile else _declared(resource)
    for url in roots:
        walk(url, resource, root_expr, declared=profile is None)
        if reg.get(url) is not None:
            report.profiles.append(reg.get(url).url)  # type: ignore[union-attr]
    if index is not None:
        report.issues.extend(reference_issues(resource, index))
        for position, entry in enumerate(resource.get("entry") or []):
            nested = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(nested, dict):
                for url in _declared(nested):
                    walk(url, nested, f"Bundle.entry[{position}].resource", declared=True)
    else:
        report.issues.extend(contained_reference_issues(resource, root_expr))
    if not roots and not (index is not None and any(r[1] for r in walked)):
        report.issues.append(
            FhirIssue(
                "information",
                "informational",
                "fhir.profile",
                "no profile declared in meta.profile nor given with --profile: only the base R4 structure was checked",
                root_expr,
                message_fr="aucun profil déclaré dans meta.profile ni donné par --profile : "
                "seule la structure R4 de base a été vérifiée",
            )
        )


def _declared(resource: dict[str, Any]) -> list[str]:
    meta = resource.get("meta")
    profiles = meta.get("profile") if isinstance(meta, dict) else None
    return [p for p in profiles if isinstance(p, str)] if isinstance(profiles, list) else []
