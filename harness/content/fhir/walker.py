"""Walk a resource (its JSON form) against a compiled profile tree and report what differs.

The walk follows the profile, not the instance: only elements the profile constrains are
visited, so its cost grows with the profile's size and the repetitions actually present.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.content.fhir.checks import run_check
from harness.content.fhir.fhirpath import FhirPathError, holds
from harness.content.fhir.profiles import CORE_PREFIX, UNSET, Node, Profile, Registry
from harness.content.fhir.report import FhirIssue, wrong_resource_type
from harness.content.fhir.targets import Resolver, TargetChecks, target_issue, target_profile_errors
from harness.content.fhir.values import children, coding_pairs, matches_pattern, show, type_of_key, values_at

BINDING_SEVERITY = {"required": "error", "extensible": "warning", "preferred": "information"}
EXTENSION_ELEMENTS = ("extension", "modifierExtension")


@dataclass
class Context:
    registry: Registry
    profile: Profile
    resource: dict[str, Any]
    resolver: Resolver | None = None
    must_support: bool = False
    issues: list[FhirIssue] = field(default_factory=list)
    # (expression, profile URL) pairs already walked, so that a nested resource reached both by a
    # slice's profile and by its own meta.profile is judged once.
    walked: set[tuple[str, str]] = field(default_factory=set)
    said_once: set[str] = field(default_factory=set)
    target_checks: TargetChecks = field(default_factory=dict)

    def add(
        self,
        severity: str,
        code: str,
        rule: str,
        message: str,
        expression: str,
        element: str | None = None,
        expected: Any = None,
        received: Any = None,
        *,
        message_fr: str,
        rule_origin: str = "guide",
    ) -> None:
        self.issues.append(
            FhirIssue(
                severity,
                code,
                rule,
                message,
                expression,
                element,
                self.profile.url,
                None if expected is None else show(expected),
                None if received is None else show(received),
                message_fr=message_fr,
                rule_origin=rule_origin,
            )
        )

    def once(self, key: str, message: str, expression: str, *, message_fr: str) -> None:
        if key not in self.said_once:
            self.said_once.add(key)
            self.add("information", "informational", "fhir.processing", message, expression, message_fr=message_fr)


class Walker:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # ---- elements -------------------------------------------------------------------------
    def element(self, node: Node, parent: Any, parent_expr: str) -> None:
        items = children(parent, node.name)
        if not items and not node.min and not node.slices and not (node.must_support and self.ctx.must_support):
            return  # absent and allowed to be: most elements of a profile, on most instances
        expr = f"{parent_expr}.{node.name}"
        self._cardinality(node, len(items), expr, parent_expr)
        slicing = self._slicing(node)
        assigned: list[Node | None] = [None] * len(items)
        if slicing is not None:
            discriminators, rules = slicing
            counts = {name: 0 for name in node.slices}
            for index, (_, _, value) in enumerate(items):
                for slice_node in node.slices.values():
                    if self._in_slice(node, slice_node, value, discriminators):
                        assigned[index] = slice_node
                        counts[slice_node.slice_name or ""] += 1
                        break
                else:
                    if rules == "closed":
                        self.ctx.add(
                            "error",
                            "structure",
                            "fhir.slice",
                            f"{node.id}: this repetition matches none of the slices "
                            f"({', '.join(node.slices)}) and the slicing is closed",
                            f"{parent_expr}.{items[index][1]}",
                            node.id,
                            message_fr=f"{node.id} : cette répétition ne correspond à aucune des tranches "
                            f"({', '.join(node.slices)}) et le découpage (slicing) est fermé",
                        )
            for slice_node in node.slices.values():
                self._cardinality(slice_node, counts[slice_node.slice_name or ""], expr, parent_expr)
        for index, (key, suffix, value) in enumerate(items):
            item_expr = f"{parent_expr}.{suffix}"
            self.item(node, key, value, item_expr)
            if assigned[index] is not None:
                self.item(assigned[index], key, value, item_expr)  # type: ignore[arg-type]

    def _cardinality(self, node: Node, count: int, expr: str, parent_expr: str) -> None:
        label = node.id
        if node.min and count < node.min:
            self.ctx.add(
                "error",
                "required",
                "fhir.cardinality",
                f"{label}: minimum required = {node.min}, but only found {count}",
                expr,
                node.id,
                expected=f"{node.min}..{'*' if node.max is None else node.max}",
                received=str(count),
                message_fr=f"{label} : minimum requis = {node.min}, mais seulement {count} trouvé(s)",
            )
        if node.max is not None and count > node.max:
            self.ctx.add(
                "error",
                "structure",
                "fhir.cardinality",
                f"{label}: maximum allowed = {node.max}, but found {count}",
                expr,
                node.id,
                expected=f"{node.min or 0}..{node.max}",
                received=str(count),
                message_fr=f"{label} : maximum autorisé = {node.max}, mais {count} trouvé(s)",
            )
        if count == 0 and node.must_support and self.ctx.must_support:
            self.ctx.add(
                "information",
                "informational",
                "fhir.must-support",
                f"{label} is must-support and absent",
                expr,
                node.id,
                message_fr=f"{label} est must-support et absent",
            )

    def _slicing(self, node: Node) -> tuple[list[tuple[str, str]], str] | None:
        if node.slicing is not None:
            return node.slicing.discriminators, node.slicing.rules
        if node.slices and node.name in EXTENSION_ELEMENTS:
            return [("value", "url")], "open"  # extensions are always sliced by url
        if node.slices:
            return [], "open"
        return None

    # ---- slices -------------------------------------------------------------------------
    def extension_url(self, slice_node: Node) -> str | None:
        for type_spec in slice_node.types:
            profile = type_spec.get("profile")
            if profile:
                return profile if isinstance(profile, str) else profile[0]
        url_node = slice_node.children.get("url")
        if url_node is not None and url_node.fixed is not UNSET:
            return url_node.fixed
        return slice_node.slice_name

    def _in_slice(self, node: Node, slice_node: Node, value: Any, discriminators: list[tuple[str, str]]) -> bool:
        if not discriminators:
            return False
        for kind, path in discriminators:
            if kind in ("value", "pattern"):
                if path == "url" and node.name in EXTENSION_ELEMENTS:
                    if not isinstance(value, dict) or value.get("url") != self.extension_url(slice_node):
                        return False
                    continue
                target = slice_node if path == "$this" else slice_node.child_at(path)
                if target is None:
                    continue  # the slice says nothing at this path: it does not filter on it
                found = values_at(value, path)
                if target.fixed is not UNSET:
                    if not any(v == target.fixed for v in found):
                        return False
                elif target.pattern is not UNSET:
                    if not any(matches_pattern(v, target.pattern) for v in found):
                        return False
                elif target.binding is not None and target.binding[0] == "required":
                    # Discrimination by a required binding, as the HL7 validator does it.
                    value_set = self.ctx.registry.value_sets.get(target.binding[1])
                    if value_set is None or not any(
                        code is not None and value_set.contains(system, code)
                        for v in found
                        for system, code in coding_pairs(v)
                    ):
                        return False
            elif kind == "type":
                target = slice_node if path == "$this" else slice_node.child_at(path)
                wanted = {t.get("code") for t in (target.types if target else [])}
                found = values_at(value, path)
                types = {v.get("resourceType") for v in found if isinstance(v, dict)}
                if not wanted or not (types & wanted):
                    return False
            elif kind == "profile":
                target = slice_node if path == "$this" else slice_node.child_at(path)
                found = values_at(value, path)
                if target is None or not found or not any(self._conforms_roughly(target, v) for v in found):
                    return False
            elif kind == "exists":
                target = slice_node.child_at(path)
                if target is None:
                    return False
                present = bool(values_at(value, path))
                if present != bool(target.min):
                    return False
            else:
                self.ctx.once(
                    f"discriminator:{kind}",
                    f"discriminator type {kind} is not supported",
                    node.id,
                    message_fr=f"le type de discriminant {kind} n'est pas pris en charge",
                )
                return False
        return True

    def _conforms_roughly(self, target: Node, resource: Any) -> bool:
        if not isinstance(resource, dict):
            return False
        for type_spec in target.types:
            profiles = type_spec.get("profile") or []
            for url in [profiles] if isinstance(profiles, str) else profiles:
                profile = self.ctx.registry.get(url)
                if profile is None:
                    # A core resource profile, or one we do not hold: the resource type decides.
                    core_type = url[len(CORE_PREFIX) :] if url.startswith(CORE_PREFIX) else type_spec.get("code")
                    if resource.get("resourceType") == core_type:
                        return True
                    continue
                if resource.get("resourceType") != profile.type:
                    continue
                if all(
                    any(
                        (v == expected) if how == "fixed" else matches_pattern(v, expected)
                        for v in values_at(resource, name)
                    )
                    for name, how, expected in profile.top_level_values()
                ):
                    return True
        return False

    # ---- one value ----------------------------------------------------------------------
    def item(self, node: Node, key: str, value: Any, expr: str) -> None:
        ctx = self.ctx
        if value is None:
            return
        if node.fixed is not UNSET and value != node.fixed:
            ctx.add(
                "error",
                "value",
                "fhir.fixed",
                f"{node.id}: value must be exactly the fixed value",
                expr,
                node.id,
                node.fixed,
                value,
                message_fr=f"{node.id} : la valeur doit être exactement la valeur fixée",
            )
        if node.pattern is not UNSET and not matches_pattern(value, node.pattern):
            ctx.add(
                "error",
                "value",
                "fhir.pattern",
                f"{node.id}: value does not match the pattern",
                expr,
                node.id,
                node.pattern,
                value,
                message_fr=f"{node.id} : la valeur ne correspond pas au motif (pattern)",
            )
        value_type = type_of_key(node.name, key) if node.name.endswith("[x]") else None
        if node.types:
            self._types(node, value, value_type, expr)
        if node.binding is not None:
            self._binding(node, value, expr)
        if node.check is not None:
            for problem in run_check(node.check, value):
                # The check's own detail is English only (harness.core.ins and checks.py word it).
                ctx.add(
                    "error",
                    "value",
                    f"fhir.check.{node.check}",
                    f"{node.id}: {problem}",
                    expr,
                    node.id,
                    received=value,
                    message_fr=f"{node.id} : valeur refusée par le contrôle {node.check} ({problem})",
                    rule_origin="harness",
                )
        if isinstance(value, dict):
            for child in node.children.values():
                self.element(child, value, expr)
        for constraint in node.constraints:
            try:
                ok = holds(constraint.expression, value, ctx.resource)
            except FhirPathError as exc:
                ctx.add(
                    "warning",
                    "processing",
                    f"fhir.invariant.{constraint.key}",
                    str(exc),
                    expr,
                    node.id,
                    message_fr=f"l'invariant {constraint.key} n'a pas pu être évalué : {exc}",
                )
                continue
            if not ok:
                ctx.add(
                    constraint.severity,
                    "invariant",
                    f"fhir.invariant.{constraint.key}",
                    f"constraint {constraint.key} failed: {constraint.human}",
                    expr,
                    node.id,
                    # constraint.human is the profile's own text: quoted as is in both languages.
                    message_fr=f"contrainte {constraint.key} non respectée : {constraint.human}",
                )

    def _types(self, node: Node, value: Any, value_type: str | None, expr: str) -> None:
        codes = {t.get("code") for t in node.types}
        if value_type is not None and value_type not in codes:
            self.ctx.add(
                "error",
                "structure",
                "fhir.type",
                f"{node.id}: type {value_type} is not allowed here",
                expr,
                node.id,
                expected=" | ".join(sorted(c for c in codes if c)),
                received=value_type,
                message_fr=f"{node.id} : le type {value_type} n'est pas autorisé ici",
            )
            return
        for type_spec in node.types:
            code = type_spec.get("code")
            if code == "Reference" and type_spec.get("targetProfiles") and isinstance(value, dict):
                self._reference_target(node, type_spec["targetProfiles"], value, expr)
            elif code == "Extension" and type_spec.get("profile") and isinstance(value, dict):
                self._extension(type_spec["profile"], value, expr)
            elif type_spec.get("profile") and isinstance(value, dict) and "resourceType" in value:
                urls = type_spec["profile"]
                for url in [urls] if isinstance(urls, str) else urls:
                    self.nested_resource(url, value, expr)

    def _extension(self, url: str, value: dict[str, Any], expr: str) -> None:
        profile = self.ctx.registry.get(url)
        if profile is None:
            return  # an extension we do not hold: its url matched the slice; content not judged
        sub = Context(
            self.ctx.registry, profile, self.ctx.resource, self.ctx.resolver, self.ctx.must_support, self.ctx.issues
        )
        sub.walked, sub.said_once, sub.target_checks = self.ctx.walked, self.ctx.said_once, self.ctx.target_checks
        Walker(sub).item(profile.root, "extension", value, expr)

    def nested_resource(self, url: str, resource: dict[str, Any], expr: str) -> None:
        if (expr, url) in self.ctx.walked:
            return
        self.ctx.walked.add((expr, url))
        profile = self.ctx.registry.get(url)
        if profile is None:
            if not url.startswith(CORE_PREFIX):  # a core type's structure is checked already
                self.ctx.once(
                    f"profile:{url}",
                    f"profile {url} is not held here; not checked",
                    expr,
                    message_fr=f"le profil {url} n'est pas disponible ici ; non vérifié",
                )
            return
        if resource.get("resourceType") != profile.type:
            self.ctx.issues.append(wrong_resource_type(url, profile.type, resource.get("resourceType"), expr))
            return
        sub = Context(self.ctx.registry, profile, resource, self.ctx.resolver, self.ctx.must_support, self.ctx.issues)
        sub.walked, sub.said_once, sub.target_checks = self.ctx.walked, self.ctx.said_once, self.ctx.target_checks
        Walker(sub).item(profile.root, resource["resourceType"], resource, expr)

    def _reference_target(self, node: Node, targets: list[str], value: dict[str, Any], expr: str) -> None:
        reference = value.get("reference")
        if not isinstance(reference, str) or self.ctx.resolver is None:
            return
        target = self.ctx.resolver(reference, self.ctx.resource)
        if target is None:
            return  # unresolvable references are the bundle check's business
        allowed: set[str] = set()
        for url in targets:
            profile = self.ctx.registry.get(url)
            if profile is not None:
                allowed.add(profile.type)
            elif url.startswith(CORE_PREFIX):
                allowed.add(url[len(CORE_PREFIX) :])
            else:
                return  # a target profile we do not hold: its resource type is unknown, so no verdict
        if target.get("resourceType") in allowed:
            ctx = self.ctx
            failed = target_profile_errors(
                ctx.registry, ctx.resource, ctx.resolver, ctx.target_checks, targets, target, self._judge_target
            )
            if failed is not None:
                self.ctx.issues.append(target_issue(node.id, self.ctx.profile.url, *failed, expr))
        else:
            self.ctx.add(
                "error",
                "structure",
                "fhir.type",
                f"{node.id}: the reference points at a {target.get('resourceType')}, which is not an allowed target",
                expr,
                node.id,
                expected=" | ".join(sorted(allowed)),
                received=str(target.get("resourceType")),
                message_fr=f"{node.id} : la référence pointe vers une ressource {target.get('resourceType')}, "
                "qui n'est pas une cible autorisée",
            )

    def _judge_target(self, profile: Profile, target: dict[str, Any], resolver: Resolver | None) -> list[FhirIssue]:
        sub = Context(self.ctx.registry, profile, target, resolver, False, [])
        sub.walked, sub.said_once, sub.target_checks = set(), set(), self.ctx.target_checks
        Walker(sub).item(profile.root, profile.type, target, str(target.get("resourceType")))
        return [issue for issue in sub.issues if issue.severity == "error"]

    def _binding(self, node: Node, value: Any, expr: str) -> None:
        strength, url = node.binding  # type: ignore[misc]
        severity = BINDING_SEVERITY.get(strength)
        if severity is None:
            return
        value_set = self.ctx.registry.value_sets.get(url)
        if value_set is None:
            self.ctx.once(
                f"valueset:{url}",
                f"value set {url} is not held here; codes bound to it are not checked",
                node.id,
                message_fr=f"le jeu de valeurs {url} n'est pas disponible ici ; "
                "les codes qui y sont liés ne sont pas vérifiés",
            )
            return
        codings = list(coding_pairs(value))
        if not codings:
            return
        if any(code is not None and value_set.contains(system, code) for system, code in codings):
            return
        shown = ", ".join(f"{s}#{c}" if s else str(c) for s, c in codings)
        self.ctx.add(
            severity,
            "code-invalid",
            "fhir.binding",
            f"{node.id}: no code is in the {strength} value set {value_set.name}",
            expr,
            node.id,
            expected=url,
            received=shown,
            message_fr=f"{node.id} : aucun code n'appartient au jeu de valeurs {value_set.name} (liaison {strength})",
        )
