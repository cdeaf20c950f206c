"""References inside a Bundle: an index built once, so resolving grows linearly with the bundle.

In a transaction (ITI-65) the entries point at each other by ``fullUrl`` (``urn:uuid:...``);
a ``urn:`` reference that is no entry's fullUrl can never be resolved by the receiver, so it is
an error. Relative references (``Patient/123``) may name resources the server already holds and
are only resolved when an entry carries them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from harness.content.fhir.report import FhirIssue


class BundleIndex:
    def __init__(self, bundle: dict[str, Any]) -> None:
        self.by_full_url: dict[str, dict[str, Any]] = {}
        self.by_type_id: dict[str, dict[str, Any]] = {}
        self.duplicates: list[tuple[int, str]] = []
        for index, entry in enumerate(_entries(bundle)):
            resource = entry.get("resource")
            if not isinstance(resource, dict):
                continue
            full_url = entry.get("fullUrl")
            if isinstance(full_url, str):
                if full_url in self.by_full_url:
                    self.duplicates.append((index, full_url))
                else:
                    self.by_full_url[full_url] = resource
            type_id = f"{resource.get('resourceType')}/{resource.get('id')}"
            if resource.get("id") is not None:
                self.by_type_id.setdefault(type_id, resource)

    def resolve(self, reference: str, current: dict[str, Any]) -> dict[str, Any] | None:
        if reference.startswith("#"):
            return resolve_contained(reference, current)
        found = self.by_full_url.get(reference)
        if found is not None:
            return found
        if "/" in reference:
            tail = "/".join(reference.rstrip("/").split("/")[-2:])
            return self.by_type_id.get(tail)
        return None


def resolve_contained(reference: str, current: dict[str, Any]) -> dict[str, Any] | None:
    """The resource a local ``#id`` reference names among ``current``'s contained resources."""
    if not reference.startswith("#"):
        return None
    for contained in current.get("contained") or []:
        if isinstance(contained, dict) and f"#{contained.get('id')}" == reference:
            return contained
    return None


def _no_contained(reference: str, where: str) -> FhirIssue:
    return FhirIssue(
        "error",
        "not-found",
        "fhir.reference",
        f"{reference} names no contained resource",
        where,
        received=reference,
        message_fr=f"{reference} ne désigne aucune ressource contenue (contained)",
    )


def contained_reference_issues(resource: dict[str, Any], expr: str) -> list[FhirIssue]:
    return [
        _no_contained(reference, where)
        for reference, where in references(resource, expr)
        if reference.startswith("#") and resolve_contained(reference, resource) is None
    ]


def _entries(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    entries = bundle.get("entry")
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


Step = tuple[Any, str | int] | None  # (the parent's step, key or index): an expression not yet written


def _written(expr: str, step: Step) -> str:
    parts: list[str] = []
    while step is not None:
        step, part = step
        parts.append(f"[{part}]" if isinstance(part, int) else f".{part}")
    return expr + "".join(reversed(parts))


def references(value: Any, expr: str) -> Iterator[tuple[str, str]]:
    """(reference string, expression) of every Reference under ``value``, iteratively. The
    expression is written only for a reference found, not for every object walked."""
    stack: list[tuple[Any, Step]] = [(value, None)]
    while stack:
        node, step = stack.pop()
        if isinstance(node, dict):
            reference = node.get("reference")
            if isinstance(reference, str):
                yield reference, _written(expr, step) + ".reference"
            for key, child in node.items():
                if key == "contained":
                    continue  # contained resources are judged with their own container
                if isinstance(child, (dict, list)):
                    stack.append((child, (step, key)))
        elif isinstance(node, list):
            for index, child in enumerate(node):
                if isinstance(child, (dict, list)):
                    stack.append((child, (step, index)))


def reference_issues(bundle: dict[str, Any], index: BundleIndex) -> list[FhirIssue]:
    issues = [
        FhirIssue(
            "error",
            "structure",
            "fhir.reference",
            f"two entries share the fullUrl {full_url}; references to it are ambiguous",
            f"Bundle.entry[{position}].fullUrl",
            "Bundle.entry.fullUrl",
            received=full_url,
            message_fr=f"deux entrées partagent le fullUrl {full_url} ; les références vers lui sont ambiguës",
        )
        for position, full_url in index.duplicates
    ]
    for position, entry in enumerate(_entries(bundle)):
        resource = entry.get("resource")
        if not isinstance(resource, dict):
            continue
        base = f"Bundle.entry[{position}].resource"
        for reference, where in references(resource, base):
            if reference.startswith("#"):
                if resolve_contained(reference, resource) is None:
                    issues.append(_no_contained(reference, where))
            elif reference.startswith("urn:") and reference not in index.by_full_url:
                issues.append(
                    FhirIssue(
                        "error",
                        "not-found",
                        "fhir.reference",
                        f"{reference} is no entry's fullUrl in this bundle",
                        where,
                        received=reference,
                        message_fr=f"{reference} n'est le fullUrl d'aucune entrée de ce Bundle",
                    )
                )
    return issues
