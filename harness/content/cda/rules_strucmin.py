"""Header structure and datatype rules driven by ``profiles/cda/strucmin_structure.json``.

The data file is what the official StrucMin schematron asserts, classified by
:mod:`harness.content.cda.strucmin_extract`. Contexts are evaluated step by step
(:mod:`harness.content.cda.strucmin_paths`: Python predicates, lxml XPath 1.0 for other shapes,
XPath 2.0 contexts skipped) and, as in one schematron pattern, a node is checked by the first
rule whose context it matches only. Constraint kinds ``value-set`` and ``other`` are not evaluated here (the value
sets are the terminology rules' job; the rest is listed in ``profiles/cda/strucmin_differences.csv``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from lxml import etree

from harness.content.cda.rules import Context, finding, rule
from harness.content.cda.strucmin_paths import Index, NotXPath1, Step, select, split_steps, step, xpath
from harness.core.paths import data_dir
from harness.core.results import Finding
from harness.protocols.cda_document import CdaDocument

XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
RULE_ID = "cda.strucmin-structure"
DATATYPE_RULE_ID = "cda.strucmin-datatype"
_OID_OR_UUID = re.compile(
    r"^[0-2](\.(0|[1-9]\d*))*$|^[A-Fa-f\d]{8}-[A-Fa-f\d]{4}-[A-Fa-f\d]{4}-[A-Fa-f\d]{4}-[A-Fa-f\d]{12}$"
)
_CODED = {"CD", "CE", "CV", "CO"}
_TEXT = {"ST", "ADXP", "ENXP", "SC"}


@dataclass(frozen=True)
class StructureRule:
    id: str
    steps: tuple[str, ...]
    datatype: str | None
    constraints: tuple[dict[str, Any], ...]
    children: tuple[Step | None, ...] = ()  # per constraint: its child path, compiled
    expressions: tuple[etree.XPath | None, ...] = ()  # per constraint of kind "xpath": its test


@cache
def structure() -> tuple[dict[str, str], tuple[StructureRule, ...]]:
    data = json.loads((data_dir("profiles") / "cda" / "strucmin_structure.json").read_text(encoding="utf-8"))
    rules = []
    for entry in data["contexts"]:
        steps = split_steps(entry["context"])
        # "//hl7:ClinicalDocument[...]" is evaluated from the root element itself.
        steps = ["self::" + steps[2], *steps[3:]]
        ns = tuple(sorted(data["namespaces"].items()))
        constraints = tuple(entry["constraints"])
        rules.append(
            StructureRule(
                entry["id"],
                tuple(steps),
                entry["datatype"],
                constraints,
                tuple(step(c["child"], ns) if "child" in c else None for c in constraints),
                tuple(xpath(c["xpath"], ns) if c["kind"] == "xpath" else None for c in constraints),
            )
        )
    return data["namespaces"], tuple(rules)


@cache
def _prefix_table() -> tuple[tuple[tuple[int, Step | None], ...], tuple[int, ...]]:
    """Every distinct context prefix once, parents first, as (parent's row, last step); and the
    row of each rule's context: a step shared by many contexts is evaluated once per document."""
    namespaces, rules = structure()
    ns = tuple(sorted(namespaces.items()))
    rows: dict[tuple[str, ...], int] = {(): 0}
    table: list[tuple[int, Step | None]] = [(-1, None)]
    for structure_rule in rules:
        for depth in range(1, len(structure_rule.steps) + 1):
            key = structure_rule.steps[:depth]
            if key not in rows:
                rows[key] = len(table)
                table.append((rows[key[:-1]], step(key[-1], ns)))
    return tuple(table), tuple(rows[r.steps] for r in rules)


_FIRED: list[tuple[etree._Element, list[tuple[StructureRule, etree._Element]]]] = []


def _nodes(
    doc: CdaDocument, rules: tuple[StructureRule, ...], namespaces: dict[str, str]
) -> list[tuple[StructureRule, etree._Element]]:
    """Each (rule, node) the pattern fires on, the first matching rule only per node. The last
    document's answer is kept (with its root, so the identity stays valid): both rules ask it."""
    last = _FIRED[0] if _FIRED else None  # one read: another thread may replace it meanwhile
    if last is not None and last[0] is doc.root:
        return last[1]
    table, rule_prefixes = _prefix_table()
    found: list[list[etree._Element] | None] = [[doc.root]]
    index: Index = {}
    for parent, path in table[1:]:
        parents = found[parent]
        if not parents or path is None:
            found.append(parents)
            continue
        try:
            found.append([n for p in parents for n in select(p, path, index)])
        except (NotXPath1, etree.XPathEvalError):
            found.append(None)  # an XPath 2.0 context: not evaluated by the own rules
    claimed: set[etree._Element] = set()
    fired = []
    for structure_rule, prefix in zip(rules, rule_prefixes, strict=True):
        for node in found[prefix] or ():
            if node not in claimed:
                claimed.add(node)
                fired.append((structure_rule, node))
    _FIRED[:] = [(doc.root, fired)]
    _INDEX[:] = [(doc.root, index)]
    return fired


_INDEX: list[tuple[etree._Element, Index]] = []


def _index_of(doc: CdaDocument) -> Index:
    last = _INDEX[0] if _INDEX else None
    return last[1] if last is not None and last[0] is doc.root else {}


def _violated(
    constraint: dict[str, Any], child: Step | None, node: etree._Element, index: Index, test: etree.XPath | None = None
) -> bool:
    kind = constraint["kind"]
    if test is not None:  # kind "xpath": the schematron's own test, XPath 1.0
        return not bool(test(node))
    attribute = constraint.get("attribute", "")
    value = node.get(attribute) if attribute and ":" not in attribute else None
    if kind in ("min", "max"):
        try:
            count = len(select(node, child, index)) if child is not None else 0
        except (NotXPath1, etree.XPathEvalError):
            return False
        return count < constraint["count"] if kind == "min" else count > constraint["count"]
    if kind == "attribute-required":
        return value is None
    if kind == "attribute-fixed":
        return not (value is None and constraint["optional"]) and (value or "") not in constraint["values"]
    if kind == "attribute-nonempty":
        return value is not None and value == ""
    if kind == "attribute-token":
        return value is not None and (value == "" or re.search(r"\s", value) is not None)
    if kind == "attribute-pattern":
        return value is not None and not any(
            re.search(p, value) for p in _python_patterns(tuple(constraint["patterns"]))
        )
    if kind == "attribute-enum":
        return (value is None and constraint.get("required", False)) or (
            value is not None and value not in constraint["values"]
        )
    if kind == "xsi-type":
        declared = node.get(XSI_TYPE)
        if declared is None:
            return False
        prefix, _, local = declared.rpartition(":")
        return (node.nsmap.get(prefix or None), local) != (constraint["namespace"], constraint["type"])
    if kind == "no-children":
        return any(isinstance(element.tag, str) for element in node)
    return False  # value-set, other: not modelled


def _received(constraint: dict[str, Any], child: Step | None, node: etree._Element, index: Index) -> str:
    """What the document has, for the finding's "received"."""
    if child is not None:
        return f"{len(select(node, child, index))} × {constraint['child']}"
    if constraint["kind"] == "xsi-type":
        return f"xsi:type={node.get(XSI_TYPE)}"
    if constraint["kind"] == "xpath":
        return "false"
    if constraint["kind"] == "no-children":
        return ", ".join(etree.QName(e).localname for e in node if isinstance(e.tag, str))
    attribute = constraint.get("attribute", "")
    value = node.get(attribute)
    return f"@{attribute} absent" if value is None else f'@{attribute}="{value}"'


@cache
def _python_patterns(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error:
            # XPath allows "^+?" (a literal-free quantifier) where Python does not: read it as "^\+?".
            compiled.append(re.compile(pattern.replace("^+?", r"^\+?")))
    return tuple(compiled)


@rule(RULE_ID, "CDA-01", "StrucMin element cardinalities, required and fixed attributes, xsi:type (from the kit)")
def strucmin_structure(doc: CdaDocument, ctx: Context) -> Iterator[Finding]:
    namespaces, rules = structure()
    fired = _nodes(doc, rules, namespaces)
    index = _index_of(doc)
    for structure_rule, node in fired:
        checks = zip(structure_rule.constraints, structure_rule.children, structure_rule.expressions, strict=True)
        for constraint, child, test in checks:
            if _violated(constraint, child, node, index, test):
                yield finding(
                    RULE_ID,
                    constraint["message"],
                    node,
                    # The kit's assertion text is official (ANS, French and English mixed): kept as is.
                    message_fr=constraint["message"],
                    expected=constraint["test"],
                    received=_received(constraint, child, node, index),
                )


def _datatype_problems(datatype: str, node: etree._Element) -> Iterator[str]:
    """The DTr1 datatype assertions of ART-DECOR that the header variants reach (II, TS, CD, CS, ST)."""
    null = node.get("nullFlavor") is not None
    if datatype == "II":
        root = node.get("root")
        if not null and root is None:
            yield "dtr1-1-II: @root is required if @nullFlavor is not present"
        if null and root is not None:
            yield "dtr1-2-II: @root may not be used if @nullFlavor is present"
        if root is not None and not _OID_OR_UUID.match(root):
            yield "dtr1-10-II: @root SHALL be a syntactically correct OID or UUID."
    elif datatype in ("TS", "IVXB_TS"):
        has_children = any(isinstance(c.tag, str) for c in node)
        if not (null or node.get("value") is not None or has_children) or (null and node.get("value") is not None):
            yield "dtr1-1-TS: exactly one of @value and @nullFlavor (or a child element)"
    elif datatype in _CODED:
        code = node.get("code")
        if not null and code is None and node.find("{urn:hl7-org:v3}originalText") is None:
            yield f"dtr1-1-CD ({datatype}): null or code and/or originalText"
        if code is not None and node.get("codeSystem") is None:
            yield f"dtr1-2-CD ({datatype}): code requires codeSystem"
        if null and code is not None:
            yield f"dtr1-6-CD ({datatype}): co-occurence violation. Cannot have code and null"
    elif datatype == "CS":
        coded = node.get("code") is not None or node.get("typeCode") is not None
        if null == coded:
            yield "dtr1-1-CS: either @code or @nullFlavor"
    elif datatype in _TEXT and not null and not "".join(node.xpath("text()")):
        yield f"dtr1-1-{datatype}: text is required if @nullFlavor is not present"


@rule(DATATYPE_RULE_ID, "CDA-01", "StrucMin datatype rules (ART-DECOR DTr1: II, TS, CD/CE/CV, CS, ST) on the header")
def strucmin_datatype(doc: CdaDocument, ctx: Context) -> Iterator[Finding]:
    namespaces, rules = structure()
    for structure_rule, node in _nodes(doc, rules, namespaces):
        if structure_rule.datatype is None:
            continue
        for problem in _datatype_problems(structure_rule.datatype, node):
            yield finding(DATATYPE_RULE_ID, problem, node, message_fr=problem, expected=structure_rule.datatype)
