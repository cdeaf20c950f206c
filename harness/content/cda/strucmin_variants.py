"""One-defect variants of a CDA header, one per StrucMin constraint, and the kit/own comparison.

For each (rule, node) the StrucMin pattern fires on in a document, and each constraint of that
rule, one variant breaks that constraint on the first such node: remove the required child,
duplicate a child of max cardinality 1, remove or empty a required attribute, give a fixed or
coded attribute a wrong value, an xsi:type of the wrong datatype, a malformed OID or an empty
text. The verdict compared is "the variant adds an error" (error counts above the base
document's), for the kit's StrucMin schematron and for the own rules.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from lxml import etree

from harness.content.cda import validate_document
from harness.content.cda.rules_strucmin import XSI_TYPE, _nodes, structure
from harness.content.cda.strucmin_paths import Namespaces, NotXPath1, select, step
from harness.content.schematron import SchematronError
from harness.content.schematron.saxon import SaxonSchematron
from harness.core.results import Severity
from harness.protocols.cda_document import HL7, CdaDocument, read_cda

STRUCMIN = "profils/structurationMinimale/ASIP-STRUCT-MIN-StrucMin.sch"
WRONG = "XXX-WRONG"


@dataclass(frozen=True)
class Variant:
    key: str  # "<kind>|<rule id>|<constraint index or datatype>|<what>": stable across runs
    kind: str
    data: bytes


def _wrong_type_name(node: etree._Element, expected: str) -> str:
    prefix = next((p for p, uri in node.nsmap.items() if uri == HL7), None)
    wrong = "CD" if expected != "CD" else "ST"
    return wrong if prefix is None else f"{prefix}:{wrong}"


def _children(node: etree._Element, child: str, ns: Namespaces) -> list[etree._Element]:
    try:
        return select(node, step(child, ns), {})
    except (NotXPath1, etree.XPathEvalError):
        return []


def _remove_children(node: etree._Element, child: str, ns: Namespaces) -> None:
    for element in _children(node, child, ns):
        node.remove(element)


def _duplicate_first(node: etree._Element, child: str, ns: Namespaces) -> None:
    element = _children(node, child, ns)[0]
    element.addnext(copy.deepcopy(element))


Mutation = tuple[str, str, Callable[[etree._Element], object]]


def _mutations(rule_id: str, index: int, constraint: dict, node: etree._Element, ns: Namespaces) -> Iterator[Mutation]:
    """(kind, key, function applying the defect to the copied node)."""
    kind = constraint["kind"]
    attribute = constraint.get("attribute", "")
    child = constraint.get("child", "")
    key = f"{rule_id}|{index}|{child or attribute}"
    if ":" in attribute:
        return
    present = attribute and node.get(attribute) is not None
    if kind == "min" and _children(node, child, ns):
        yield "remove-element", key, lambda n: _remove_children(n, child, ns)
    elif kind == "max" and constraint["count"] == 1 and _children(node, child, ns):
        yield "duplicate-element", key, lambda n: _duplicate_first(n, child, ns)
    elif kind == "attribute-required" and present:
        yield "remove-attribute", key, lambda n: n.attrib.pop(attribute)
    elif kind in ("attribute-nonempty", "attribute-token") and present:
        yield "empty-attribute", key, lambda n: n.set(attribute, "")
    elif kind in ("attribute-fixed", "attribute-enum") and present:
        yield "wrong-value", key, lambda n: n.set(attribute, WRONG)
    elif kind == "attribute-pattern" and present:
        yield "wrong-format", key, lambda n: n.set(attribute, "#not valid#")
    elif kind == "xsi-type":
        yield "wrong-datatype", key, lambda n: n.set(XSI_TYPE, _wrong_type_name(n, constraint["type"]))
    elif kind == "no-children":
        yield "add-child", key, lambda n: etree.SubElement(n, f"{{{HL7}}}reference")


def _datatype_mutations(rule_id: str, datatype: str | None, node: etree._Element) -> Iterator[Mutation]:
    if datatype == "II" and node.get("root") is not None:
        yield "malformed-oid", f"{rule_id}|II|root", lambda n: n.set("root", "1.2.abc")
    if datatype in ("ST", "ENXP", "ADXP") and (node.text or "").strip() and not len(node):
        yield "empty-text", f"{rule_id}|{datatype}|text", lambda n: setattr(n, "text", None)


def _child_positions(root: etree._Element, node: etree._Element) -> list[int]:
    """Where ``node`` is under ``root``, as child positions (valid in a deep copy of ``root``)."""
    positions = []
    while node is not root:
        parent = node.getparent()
        if parent is None:
            raise ValueError("the node is not under the document root")
        positions.append(parent.index(node))
        node = parent
    return positions[::-1]


def _follow(root: etree._Element, positions: list[int]) -> etree._Element:
    for position in positions:
        root = root[position]
    return root


def variants(doc: CdaDocument) -> Iterator[Variant]:
    """Every one-defect variant of ``doc`` (its first node per rule), in rule order."""
    namespaces, rules = structure()
    ns = tuple(sorted(namespaces.items()))
    seen: set[str] = set()
    for structure_rule, node in list(_nodes(doc, rules, namespaces)):
        rule_id = str(structure_rule.id)
        mutations = [m for i, c in enumerate(structure_rule.constraints) for m in _mutations(rule_id, i, c, node, ns)]
        mutations += list(_datatype_mutations(rule_id, structure_rule.datatype, node))
        for kind, key, mutate in mutations:
            full_key = f"{kind}|{key}"
            if full_key in seen:
                continue
            seen.add(full_key)
            root = copy.deepcopy(doc.root)
            target = _follow(root, _child_positions(doc.root, node))
            mutate(target)
            yield Variant(full_key, kind, etree.tostring(root, encoding="UTF-8", xml_declaration=True))


def kit_errors(schematron: SaxonSchematron, data: bytes) -> Counter[str]:
    """The kit's error assertions; a dynamic XPath error of the kit counts as one error (the kit
    does not accept a document it cannot evaluate)."""
    try:
        results = schematron.run(data)
    except SchematronError as exc:
        return Counter({f"kit-dynamic-error|{exc}": 1})
    errors = [r for r in results if (r.role or "error").lower() in ("error", "fatal")]
    return Counter(f"{r.id or r.pattern}|{' '.join(r.test.split())}" for r in errors)


def own_errors(data: bytes, rule_ids: set[str] | None = None) -> Counter[str]:
    report = validate_document(read_cda(data), rule_ids=rule_ids)
    return Counter(f"{f.rule}|{f.message}" for f in report.findings if f.severity is Severity.ERROR)


def outcome(kit_new: bool, own_new: bool) -> str:
    if kit_new == own_new:
        return "agree-reject" if kit_new else "agree-accept"
    return "kit-only" if kit_new else "own-only"


def compare(schematron: SaxonSchematron, variant: Variant, base_kit: Counter[str], base_own: Counter[str]) -> str:
    kit_new = bool(kit_errors(schematron, variant.data) - base_kit)
    own_new = bool(own_errors(variant.data) - base_own)
    return outcome(kit_new, own_new)


@dataclass(frozen=True)
class Comparison:
    outcome: str
    kit_new: tuple[str, ...]
    own_new: tuple[str, ...]


def compare_detailed(
    schematron: SaxonSchematron,
    variant: Variant,
    base_kit: Counter[str],
    base_own: Counter[str],
    rule_ids: set[str] | None = None,
) -> Comparison:
    kit_new = tuple(sorted(kit_errors(schematron, variant.data) - base_kit))
    own_new = tuple(sorted(own_errors(variant.data, rule_ids) - base_own))
    return Comparison(outcome(bool(kit_new), bool(own_new)), kit_new, own_new)


def _kinds_by_test() -> dict[str, str]:
    _, rules = structure()
    return {c["test"]: c["kind"] for r in rules for c in r.constraints}


def reason(comparison: Comparison) -> str:
    """The category (profiles/cda/strucmin_reasons.toml) of a disagreement, from what each side found."""
    if comparison.outcome == "own-only":
        return "own-stricter"
    if any(k.startswith("kit-dynamic-error|") for k in comparison.kit_new):
        return "kit-dynamic-error"
    kinds = _kinds_by_test()
    found = {kinds.get(k.split("|", 1)[1], "other") for k in comparison.kit_new}
    if found <= {"value-set"}:
        return "value-set"
    if found & {"other", "value-set"}:
        return "not-modelled"
    return "unexplained"
