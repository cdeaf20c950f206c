"""ISO Schematron (queryBinding xslt2) -> XSLT 2.0, written for the ANS kit's schematrons.

What it does, in the order of ISO/IEC 19757-3 Annex A's reference implementation: resolve
``sch:include`` (relative to the including file; case-insensitively, with a warning, when a
kit names a file with other letter case), expand abstract rules (``sch:extends``) and abstract
patterns (``is-a`` + ``sch:param`` macro substitution), select a phase, then emit one XSLT
mode per active pattern so that each node fires at most one rule per pattern. Lets become
``xsl:variable``: schema-, phase- and pattern-level ones global (the ANS volets define in a
``variables`` pattern the value-set paths other patterns use), rule-level ones local.

The output is SVRL (failed-assert / successful-report with id, role, location, see, flag and
the message text); ``fired-rule`` is left out: nothing reads it and it multiplies the output.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from lxml import etree

from harness.content.schematron import documents as pooled

SCH = "http://purl.oclc.org/dsdl/schematron"
XSL = "http://www.w3.org/1999/XSL/Transform"
SVRL = "http://purl.oclc.org/dsdl/svrl"
_S = f"{{{SCH}}}"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_comments=True)
_ATTRIBUTE_CONTEXT = re.compile(r"(@|attribute::)[^/\]]*$")


class SchematronError(ValueError):
    """The schematron cannot be compiled (unreadable file, unknown abstract pattern or rule...)."""


@dataclass
class Diagnostic:
    severity: str  # "warning" or "error"
    message: str
    file: str


@dataclass
class CompiledSchematron:
    source: Path
    phase: str
    xslt: str
    patterns: list[str]
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # Files the rules read through doc()/document(): the runner may serve them parsed once.
    documents: list[Path] = field(default_factory=list)


def resolve_href(base_dir: Path, href: str) -> tuple[Path | None, bool]:
    """The file ``href`` names from ``base_dir``; (path, exact) or (None, False) when absent.

    Resolves case-insensitively segment by segment when the exact path does not exist, as the
    kit was written on a case-insensitive file system.
    """
    exact = (base_dir / href).resolve()
    if exact.is_file():
        return exact, True
    current = base_dir.resolve()
    for part in Path(href).parts:
        if part in (".", ""):
            continue
        if part == "..":
            current = current.parent
            continue
        if not current.is_dir():
            return None, False
        wanted = part.lower()
        match = next((c for c in current.iterdir() if c.name.lower() == wanted), None)
        if match is None:
            return None, False
        current = match
    return (current, False) if current.is_file() else (None, False)


def _load(path: Path, diagnostics: list[Diagnostic], seen: tuple[Path, ...] = ()) -> etree._Element:
    try:
        root = etree.parse(str(path), _PARSER).getroot()
    except (OSError, etree.XMLSyntaxError) as exc:
        raise SchematronError(f"cannot read schematron file {path}: {exc}") from None
    _expand_includes(root, path, diagnostics, (*seen, path))
    return root


def _expand_includes(root: etree._Element, path: Path, diagnostics: list[Diagnostic], seen: tuple[Path, ...]) -> None:
    for include in list(root.iter(f"{_S}include")):
        href = include.get("href", "")
        parent = include.getparent()
        if parent is None:
            raise SchematronError(f"{path}: an include cannot be the root element")
        target, exact = resolve_href(path.parent, href)
        if target is None:
            diagnostics.append(Diagnostic("error", f"include {href!r} not found (from {path.name})", str(path)))
            parent.remove(include)
            continue
        if not exact:
            diagnostics.append(
                Diagnostic("warning", f"include {href!r} resolved case-insensitively to {target.name}", str(path))
            )
        if target in seen:
            raise SchematronError(f"include cycle: {' -> '.join(p.name for p in (*seen, target))}")
        included = _load(target, diagnostics, seen)
        included.tail = include.tail
        parent.replace(include, included)


def _substitute(text: str, params: list[tuple[str, str]]) -> str:
    # As ISO's iso_abstract_expand.xsl (which the ANS kit uses): plain substring replacement of
    # "$name", parameter by parameter in declared order, so verdicts stay the kit's.
    for name, value in params:
        text = text.replace(f"${name}", value)
    return text


_MACRO_ATTRIBUTES = ("test", "context", "select")


def _instantiate(abstract: etree._Element, concrete: etree._Element) -> etree._Element:
    """A concrete pattern from ``abstract``: parameters replaced in @test, @context, @select and text."""
    params = [(p.get("name", ""), p.get("value", "")) for p in concrete.findall(f"{_S}param")]
    pattern = copy.deepcopy(abstract)
    for key in ("abstract", "id"):
        pattern.attrib.pop(key, None)
    for attr in ("id", "documents"):
        if concrete.get(attr):
            pattern.set(attr, concrete.get(attr, ""))
    for element in pattern.iter():
        for name in _MACRO_ATTRIBUTES:
            if element.get(name) is not None:
                element.set(name, _substitute(element.get(name, ""), params))
        if element is not pattern and isinstance(element.tag, str) and element.text:
            element.text = _substitute(element.text, params)
        if element is not pattern and element.tail:
            element.tail = _substitute(element.tail, params)
    return pattern


def _expand_abstract_rules(schema: etree._Element) -> None:
    abstract_rules = {r.get("id"): r for r in schema.iter(f"{_S}rule") if r.get("abstract") == "true"}

    def inline(rule: etree._Element, chain: tuple[str, ...]) -> None:
        for extends in list(rule.findall(f"{_S}extends")):
            rule_id = extends.get("rule", "")
            if rule_id in chain:
                raise SchematronError(f"abstract rule cycle through {rule_id!r}")
            base = abstract_rules.get(rule_id)
            if base is None:
                raise SchematronError(f"sch:extends names an unknown abstract rule {rule_id!r}")
            body = copy.deepcopy(base)
            inline(body, (*chain, rule_id))
            position = rule.index(extends)
            rule.remove(extends)
            for offset, child in enumerate(c for c in body if c.tag != f"{_S}title"):
                rule.insert(position + offset, child)

    for rule in list(schema.iter(f"{_S}rule")):
        if rule.get("abstract") != "true":
            inline(rule, ())


def _patterns(schema: etree._Element) -> list[etree._Element]:
    abstract = {p.get("id"): p for p in schema.iter(f"{_S}pattern") if p.get("abstract") == "true"}
    result = []
    for pattern in schema.iter(f"{_S}pattern"):
        if pattern.get("abstract") == "true":
            continue
        if pattern.get("is-a"):
            base = abstract.get(pattern.get("is-a"))
            if base is None:
                raise SchematronError(
                    f"pattern {pattern.get('id')!r} is-a unknown abstract pattern {pattern.get('is-a')!r}"
                )
            result.append(_instantiate(base, pattern))
        else:
            result.append(pattern)
    return result


def _message(node: etree._Element) -> str:
    """The XSLT that writes an assertion's message (text, value-of, name; other markup as text)."""
    parts = [_xsl_text(node.text)]
    for child in node:
        if not isinstance(child.tag, str):
            pass
        elif child.tag == f"{_S}value-of":
            parts.append(f"<xsl:value-of select={quoteattr(child.get('select', ''))}/>")
        elif child.tag == f"{_S}name":
            parts.append(f"<xsl:value-of select={quoteattr('name(' + child.get('path', '.') + ')')}/>")
        else:
            parts.append(_message(child))
        parts.append(_xsl_text(child.tail))
    return "".join(parts)


def _xsl_text(text: str | None) -> str:
    if not text:
        return ""
    return f"<xsl:text>{escape(text)}</xsl:text>"


def _variable(let: etree._Element) -> str:
    name = let.get("name", "")
    if let.get("value") is not None:
        return f"<xsl:variable name={quoteattr(name)} select={quoteattr(let.get('value', ''))}/>"
    content = "".join(etree.tostring(c, encoding="unicode") for c in let)
    return f"<xsl:variable name={quoteattr(name)}>{content}</xsl:variable>"


def _assertion(element: etree._Element) -> str:
    is_assert = element.tag == f"{_S}assert"
    test = element.get("test", "true()")
    svrl = "svrl:failed-assert" if is_assert else "svrl:successful-report"
    attrs = [f"test={quoteattr(test)}"]
    for name in ("id", "role", "flag", "see"):
        if element.get(name) is not None:
            value = element.get(name, "").replace("{", "{{").replace("}", "}}")
            attrs.append(f"{name}={quoteattr(value)}")
    condition = f"not({test})" if is_assert else test
    return (
        f'<xsl:if test={quoteattr(condition)}><{svrl} {" ".join(attrs)} location="{{path(.)}}">'
        f"<svrl:text>{_message(element)}</svrl:text></{svrl}></xsl:if>"
    )


# A pattern is one tree walk that fires, on each node, its first matching rule. That is wasted on
# the nodes no rule matches, most of them (IHE.sch has 231 patterns of one rule each, one per
# section or entry template): the nodes the rule contexts select, in document order, given to the
# same templates without descending, give the same results in the same order, and Saxon finds
# them with one fast descendant search per context. Measured on the kit's examples (CPU ms/doc):
# IHE 322 -> 59, modèles de contenus 178 -> 29, modèles ANS 94 -> 17; even StrucMin's pattern of
# 617 rules is cheaper so (182 -> 74). The limit only guards against a huge union expression.
SELECT_RULES_LIMIT = 10_000
_NAME_STEP = re.compile(
    r"(?:@|\*|text\(\)|node\(\)|comment\(\)|[A-Za-z_][\w.\-]*(?::(?:[A-Za-z_][\w.\-]*|\*))?(?![\w.\-:(]))"
)


def _branches(context: str) -> list[str] | None:
    """The top-level ``|`` alternatives of a match pattern (None when brackets do not balance)."""
    branches, depth, quote, start = [], 0, "", 0
    for position, char in enumerate(context):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "|" and depth == 0:
            branches.append(context[start:position])
            start = position + 1
    branches.append(context[start:])
    return None if depth or quote else [b.strip() for b in branches]


def selected_candidates(contexts: list[str], limit: int = SELECT_RULES_LIMIT) -> str | None:
    """An XPath selecting from the root, in document order, every node one of ``contexts`` (match
    patterns) matches; None to walk every node instead (too many rules, or a pattern form whose
    meaning as a path differs: ``current()``, ``key()``/``id()`` starts, axes, kind tests)."""
    if not contexts or len(contexts) > limit:
        return None
    selected: list[str] = []
    for context in contexts:
        branches = _branches(context)
        if branches is None or "current()" in context or re.search(r"\bunion\b|\bintersect\b|\bexcept\b", context):
            return None
        for branch in branches:
            if branch.startswith("/"):
                selected.append(branch)  # "/", "/a/b", "//a": already a path from the root
            elif _NAME_STEP.match(branch):
                selected.append(f"//{branch}")
            else:
                return None
    return " | ".join(dict.fromkeys(selected))


_DOC_LITERAL = re.compile(r"""\b(doc|document|doc-available)\(\s*(['"])([^'"]+)\2\s*\)""")
MissingDocument = Callable[[str], "Path | None"]


def _check_documents(
    schema: etree._Element, path: Path, diagnostics: list[Diagnostic], substitute: MissingDocument | None
) -> None:
    """Diagnose doc('literal') files that are absent; point them at a substitute when one is given."""
    replaced: dict[str, str] = {}
    for element in schema.iter():
        for name, value in element.attrib.items():
            for _function, _quote, href in {m.groups() for m in _DOC_LITERAL.finditer(value)}:
                if href in replaced or "://" in href or resolve_href(path.parent, href)[0] is not None:
                    continue
                target = substitute(href) if substitute else None
                if target is None:
                    diagnostics.append(
                        Diagnostic("error", f"document {href!r} read by the rules is missing", str(path))
                    )
                    replaced[href] = href
                else:
                    diagnostics.append(
                        Diagnostic("warning", f"document {href!r} is missing; using {target.name} instead", str(path))
                    )
                    replaced[href] = target.as_uri()
            if any(old != new for old, new in replaced.items() if old in value):
                for old, new in replaced.items():
                    value = value.replace(f"'{old}'", f"'{new}'").replace(f'"{old}"', f'"{new}"')
                element.set(name, value)


def compile_schematron(
    path: Path | str,
    phase: str | None = None,
    *,
    substitute_missing: MissingDocument | None = None,
    select_rules_limit: int = SELECT_RULES_LIMIT,
) -> CompiledSchematron:
    """Compile the schematron file at ``path`` for ``phase`` (default: its defaultPhase, else #ALL).

    ``substitute_missing(href)`` may give a file to read instead of a ``doc('href')`` that is absent.
    ``select_rules_limit``: patterns with at most this many rules visit only the nodes their rule
    contexts select (see ``selected_candidates``); 0 walks every node for every pattern.
    """
    path = Path(path).resolve()
    diagnostics: list[Diagnostic] = []
    schema = _load(path, diagnostics)
    if schema.tag != f"{_S}schema":
        raise SchematronError(f"{path}: the root element is {schema.tag}, not an ISO Schematron schema")
    binding = schema.get("queryBinding", "xslt")
    if binding.lower() not in {"xslt", "xslt2", "xslt3", "xpath2"}:
        raise SchematronError(f"{path}: queryBinding {binding!r} is not supported (xslt, xslt2)")
    _expand_abstract_rules(schema)
    patterns = _patterns(schema)
    _check_documents(schema, path, diagnostics, substitute_missing)
    reads_documents = any([pooled.rewrite_schema(tree) for tree in (schema, *patterns)])
    documents = sorted(
        {d for tree in (schema, *patterns) for d in pooled.referenced_documents(tree, path.parent)}
        if reads_documents
        else set()
    )
    chosen = phase or schema.get("defaultPhase") or "#ALL"
    phase_lets: list[etree._Element] = []
    if chosen == "#ALL":
        active = patterns
    else:
        phase_element = next((p for p in schema.iter(f"{_S}phase") if p.get("id") == chosen), None)
        if phase_element is None:
            raise SchematronError(f"{path}: no phase {chosen!r}")
        wanted = [a.get("pattern") for a in phase_element.iter(f"{_S}active")]
        by_id = {p.get("id"): p for p in patterns if p.get("id")}
        for missing in [w for w in wanted if w not in by_id]:
            diagnostics.append(
                Diagnostic("error", f"phase {chosen!r} activates unknown pattern {missing!r}", str(path))
            )
        active = [by_id[w] for w in dict.fromkeys(wanted) if w in by_id]
        phase_lets = phase_element.findall(f"{_S}let")

    # sch:ns first; then prefixes only declared with xmlns in the (included) files, which the
    # ANS abstract patterns rely on (svs: in dansJeuDeValeurs.sch).
    namespaces = {ns.get("prefix"): ns.get("uri") for ns in schema.iter(f"{_S}ns")}
    for element in schema.iter():
        for prefix, uri in element.nsmap.items():
            if prefix and prefix not in namespaces and uri not in (SCH, XSL):
                namespaces[prefix] = uri
    if reads_documents:
        namespaces = {**pooled.NAMESPACES, **namespaces}
    ns_decls = " ".join(f"xmlns:{p}={quoteattr(u or '')}" for p, u in namespaces.items() if p)
    out = [
        # xml:base: document('../jeuxDeValeurs/…') in the kit is relative to the schematron file.
        f'<xsl:stylesheet version="2.0" xmlns:xsl="{XSL}" xmlns:svrl="{SVRL}" {ns_decls} '
        f'xml:base={quoteattr(path.as_uri())} exclude-result-prefixes="#all">',
        '<xsl:output method="xml" indent="no"/>',
    ]
    if reads_documents:
        out.append(pooled.FUNCTIONS)
    seen_globals: set[str] = set()
    global_lets = schema.findall(f"{_S}let") + phase_lets + [let for p in active for let in p.findall(f"{_S}let")]
    for let in global_lets:
        if let.get("name") in seen_globals:
            diagnostics.append(
                Diagnostic("warning", f"variable ${let.get('name')} defined twice; first kept", str(path))
            )
            continue
        seen_globals.add(let.get("name", ""))
        out.append(_variable(let))
    out.append(f'<xsl:template match="/"><svrl:schematron-output phase={quoteattr(chosen)}>')
    pattern_rules = [[r for r in p.iter(f"{_S}rule") if r.get("abstract") != "true"] for p in active]
    selections = [
        selected_candidates([r.get("context", "") for r in rules], select_rules_limit) for rules in pattern_rules
    ]
    for index, pattern in enumerate(active):
        label = pattern.get("id") or f"pattern-{index + 1}"
        out.append(f"<svrl:active-pattern id={quoteattr(label)}/>")
        if pattern_rules[index]:  # a pattern without rules fires nothing: no walk
            start = selections[index] or "/"
            out.append(f'<xsl:apply-templates select={quoteattr(start)} mode="M{index}"/>')
    out.append("</svrl:schematron-output></xsl:template>")
    for index, rules in enumerate(pattern_rules):
        candidates = selections[index]
        # Visiting every attribute in every mode costs; only patterns with attribute contexts need it.
        children = "@*|node()" if any(_ATTRIBUTE_CONTEXT.search(r.get("context", "")) for r in rules) else "node()"
        descend = "" if candidates else f'<xsl:apply-templates select="{children}" mode="M{index}"/>'
        for position, rule in enumerate(rules):
            body = "".join(
                _variable(c) if c.tag == f"{_S}let" else _assertion(c)
                for c in rule
                if c.tag in {f"{_S}let", f"{_S}assert", f"{_S}report"}
            )
            out.append(
                f'<xsl:template match={quoteattr(rule.get("context", ""))} priority="{1000 - position}" '
                f'mode="M{index}">{body}{descend}</xsl:template>'
            )
        if candidates:
            out.append(f'<xsl:template match="/|@*|node()" priority="-2" mode="M{index}"/>')
        else:
            out.append(
                f'<xsl:template match="text()|comment()|processing-instruction()" priority="-1" mode="M{index}"/>'
                f'<xsl:template match="@*|node()" priority="-2" mode="M{index}">'
                f'<xsl:apply-templates select="{children}" mode="M{index}"/></xsl:template>'
            )
    out.append("</xsl:stylesheet>")
    labels = [p.get("id") or f"pattern-{i + 1}" for i, p in enumerate(active)]
    return CompiledSchematron(path, chosen, "\n".join(out), labels, diagnostics, documents)
