"""What the official StrucMin schematron constrains, read from its assertions into a data file.

The ANS kit's structuration minimale schematron is ART-DECOR output: one pattern of rules whose
contexts are element paths from ``ClinicalDocument`` and whose assertions follow a few fixed shapes
(``count(child) >= n``, ``@attr``, ``string(@attr) = ('v')``, the ``xsi:type`` check, ...). Each
error assertion is classified into a constraint kind; what fits no kind is kept as ``other`` with
its test, so the differential can tell what the own rules do not model. The data file
``profiles/cda/strucmin_structure.json`` is this module's output, never edited by hand:

    python -m harness.content.cda.strucmin_extract KIT_DIR [OUT]
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

from lxml import etree

SCH = "{http://purl.oclc.org/dsdl/schematron}"
STRUCMIN = Path("schematrons/profils/structurationMinimale")
TEMPLATE = STRUCMIN / "include/1.2.250.1.213.1.1.1.1-2017-12-13T103531.sch"
MAIN = STRUCMIN / "ASIP-STRUCT-MIN-StrucMin.sch"
ROOT_STEP = "//hl7:ClinicalDocument"

_ATTR = r"@(?P<a>[\w:]+)"
_SHAPES: list[tuple[str, re.Pattern[str]]] = [
    ("min", re.compile(r"^count\((?P<child>[\w-]+:(?:(?!//|\$).)+?)\s*\)\s*>=\s*(?P<n>\d+)$")),
    ("max", re.compile(r"^count\((?P<child>[\w-]+:(?:(?!//|\$).)+?)\s*\)\s*<=\s*(?P<n>\d+)$")),
    ("attribute-required", re.compile(rf"^{_ATTR}$")),
    (
        "attribute-fixed",
        re.compile(
            rf"^string\({_ATTR}\)\s*=\s*\((?P<values>'[^']*'(?:\s*,\s*'[^']*')*)\)(?P<optional>\s+or\s+not\(@(?P=a)\))?$"
        ),
    ),
    ("attribute-nonempty", re.compile(rf"^not\({_ATTR}\)\s+or\s+string-length\(@(?P=a)\)\s*>\s*0$")),
    (
        "attribute-token",
        re.compile(
            rf"^not\({_ATTR}\)\s+or\s+\(string-length\(@(?P=a)\)\s*>\s*0\s+and\s+not\(matches\(@(?P=a),'\\s'\)\)\)$"
        ),
    ),
    (
        "attribute-pattern",
        re.compile(rf"^not\({_ATTR}\)(?P<alternatives>(?:\s+or\s+matches\((?:string\()?@(?P=a)\)?,\s*'[^']*'\))+)$"),
    ),
    ("attribute-enum", re.compile(rf"^not\({_ATTR}\)(?P<alternatives>(?:\s+or\s+@(?P=a)\s*=\s*[\"'][^\"']*[\"'])+)$")),
    ("attribute-enum-required", re.compile(rf"^{_ATTR}\s*=\s*'[^']*'(?:\s+or\s+@(?P=a)\s*=\s*'[^']*')+$")),
    (
        "xsi-type",
        re.compile(
            r"^empty\(@xsi:type\)\s+or\s+resolve-QName\(@xsi:type,\s*\.\)\s*=\s*QName\('(?P<ns>[^']*)',\s*'(?P<type>[^']*)'\)$"
        ),
    ),
    ("no-children", re.compile(r"^not\(\*\)$")),
]
_QUOTED = re.compile(r"""["']([^"']*)["']""")
_MATCHES = re.compile(r"matches\((?:string\()?@[\w:]+\)?,\s*'([^']*)'\)")


def classify(test: str) -> dict[str, Any]:
    """One assertion test as a constraint: its kind and the values the kind needs."""
    normal = " ".join(test.split())
    for kind, shape in _SHAPES:
        match = shape.match(normal)
        if not match:
            continue
        groups = match.groupdict()
        out: dict[str, Any] = {"kind": kind}
        if groups.get("child"):
            out["child"] = groups["child"].strip()
            out["count"] = int(groups["n"])
        if groups.get("a"):
            out["attribute"] = groups["a"]
        if kind == "attribute-fixed":
            out["values"] = _QUOTED.findall(groups["values"])
            out["optional"] = bool(groups.get("optional"))
        if kind == "attribute-pattern":
            out["patterns"] = _MATCHES.findall(groups["alternatives"])
        if kind == "attribute-enum":
            out["values"] = _QUOTED.findall(groups["alternatives"])
        if kind == "attribute-enum-required":
            out["kind"] = "attribute-enum"
            out["values"] = _QUOTED.findall(normal)
            out["required"] = True
        if kind == "xsi-type":
            out["namespace"], out["type"] = groups["ns"], groups["type"]
        return out
    if "doc(" in normal and "valueSet" in normal:
        return {"kind": "value-set"}
    expression = _as_xpath1(normal)
    if expression is not None:
        return {"kind": "xpath", "xpath": expression}
    return {"kind": "other"}


_ANY_NAMESPACE = re.compile(r"\*:(?P<local>[\w.-]+)")
_XPATH1_PROBE = etree.fromstring(b'<ClinicalDocument xmlns="urn:hl7-org:v3"/>')


def _as_xpath1(test: str) -> str | None:
    """The test as an XPath 1.0 expression lxml evaluates (``*:x`` read as ``*[local-name()='x']``),
    or None when it needs XPath 2.0 (variables, quantifiers, functions lxml does not have)."""
    if "$" in test:
        return None
    expression = _ANY_NAMESPACE.sub(lambda m: f"*[local-name()='{m['local']}']", test)
    # "//" scans the whole document, body included; ClinicalDocument is the root of the CDA and
    # recordTarget a child of it only (CDA R2 schema): both are reached through the ancestors.
    for whole_document, header in _HEADER_PATHS:
        expression = expression.replace(whole_document, header)
    try:
        etree.XPath(expression, namespaces=_NAMESPACES)(_XPATH1_PROBE)
    except (etree.XPathSyntaxError, etree.XPathEvalError):
        return None
    return expression


_HEADER_PATHS = [
    ("//hl7:ClinicalDocument/", "ancestor-or-self::hl7:ClinicalDocument/"),
    ("//*[local-name()='ClinicalDocument']/", "ancestor-or-self::*[local-name()='ClinicalDocument']/"),
    ("//hl7:recordTarget/", "ancestor-or-self::hl7:ClinicalDocument/hl7:recordTarget/"),
]
_NAMESPACES = {"hl7": "urn:hl7-org:v3", "cda": "urn:hl7-org:v3", "sdtc": "urn:hl7-org:sdtc"}


_VARIABLE_COUNT = re.compile(r"^\$(?P<name>\w+)\s*(?P<op>>=|<=)\s*(?P<n>\d+)$")


def _with_count_variable(test: str, lets: dict[str, str]) -> str:
    """``$elmcount >= 1`` with ``<let name="elmcount" value="count(...)"/>`` -> ``count(...) >= 1``."""
    match = _VARIABLE_COUNT.match(test.strip())
    value = lets.get(match["name"], "") if match else ""
    if match and value.startswith("count("):
        return f"{value} {match['op']} {match['n']}"
    return test


def _message(element: etree._Element) -> str:
    text = "".join(element.itertext()) if element.text else ""
    return " ".join(text.split())[:300]


def extract(kit_root: Path) -> dict[str, Any]:
    """The StrucMin error assertions of the kit at ``kit_root``, classified, in rule order."""
    template_path = kit_root / TEMPLATE
    tree = etree.parse(str(template_path), etree.XMLParser(resolve_entities=False, no_network=True))
    main = etree.parse(str(kit_root / MAIN), etree.XMLParser(resolve_entities=False, no_network=True))
    namespaces = {ns.get("prefix"): ns.get("uri") for ns in main.iter(f"{SCH}ns")}
    contexts = []
    for rule_element in tree.iter(f"{SCH}rule"):
        context = rule_element.get("context") or ""
        if not context.startswith(ROOT_STEP):
            continue
        constraints = []
        lets = {e.get("name"): e.get("value") or "" for e in rule_element.iter(f"{SCH}let")}
        for child in rule_element:
            if child.tag != f"{SCH}assert" or (child.get("role") or "error") != "error":
                continue
            test = _with_count_variable(child.get("test") or "", lets)
            constraints.append({**classify(test), "test": " ".join(test.split()), "message": _message(child)})
        datatypes = [e.get("rule") for e in rule_element.iter(f"{SCH}extends")]
        contexts.append(
            {
                "id": rule_element.get("id"),
                "context": context,
                "datatype": datatypes[0] if datatypes else None,
                "constraints": constraints,
            }
        )
    digest = hashlib.sha256(template_path.read_bytes()).hexdigest()
    return {
        "source": {"file": TEMPLATE.as_posix(), "sha256": digest, "kit": "ansforge/TestContenuCDA-3-0"},
        "namespaces": namespaces,
        "contexts": contexts,
    }


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    data = extract(Path(argv[0]))
    out = (
        Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[3] / "profiles/cda/strucmin_structure.json"
    )
    out.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    kinds: dict[str, int] = {}
    for context in data["contexts"]:
        for constraint in context["constraints"]:
            kinds[constraint["kind"]] = kinds.get(constraint["kind"], 0) + 1
    print(f"{out}: {len(data['contexts'])} contexts; " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
