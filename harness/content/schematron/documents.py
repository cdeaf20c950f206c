"""Documents the rules read with doc()/document(), served from memory instead of re-read per run.

Saxon's document pool lives for one transformation, so a schematron that looks codes up in a
3 MB terminology file re-parses it for every CDA document. The compiler rewrites every call of
``doc``, ``document`` and ``doc-available`` in the rules' XPath into a stylesheet function that
first looks the resolved URI up in a map parameter (``POOL_PARAMETER``: URI -> document node, parsed
once by the caller) and falls back to the real function otherwise, so verdicts do not depend on
what the pool holds: an empty pool behaves exactly as before.

Which files to pool is read from the rules' string literals: a literal naming an XML file next to
the schematron (``'../jeuxDeValeurs/JDV_J07.xml'``, ``'include/voc-….xml'``), a ``file:`` URI (a
substituted value set), or a folder the rules build names in (``'../terminologie/'`` in
``terminologie.sch``, read as ``concat($path_terminologie, $theCodeSystem, '.rdf')``).
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlparse

from lxml import etree

POOL_NS = "urn:segur-harness:schematron-documents"
POOL_PARAMETER = f"{{{POOL_NS}}}pool"
DOCUMENT_SUFFIXES = (".xml", ".rdf")
XPATH_ATTRIBUTES = ("test", "context", "select", "value", "path")

# A call of the built-in function only: not my-doc(…), not a prefixed or already rewritten name.
_CALL = re.compile(r"(?<![\w:.\-$])(doc-available|document|doc)\s*\(")
_LITERAL = re.compile(r"""'([^']*)'|"([^"]*)\"""")
_REWRITTEN = {"doc": "segurdoc:doc(", "document": "segurdoc:document(", "doc-available": "segurdoc:doc-available("}


def rewrite_calls(expression: str) -> str:
    """``doc(x)`` -> ``segurdoc:doc(x)`` (and document, doc-available), outside string literals."""
    if "doc" not in expression:
        return expression
    parts = []
    position = 0
    for literal in _LITERAL.finditer(expression):
        parts.append(_CALL.sub(lambda m: _REWRITTEN[m[1]], expression[position : literal.start()]))
        parts.append(literal.group(0))
        position = literal.end()
    parts.append(_CALL.sub(lambda m: _REWRITTEN[m[1]], expression[position:]))
    return "".join(parts)


def rewrite_schema(schema: etree._Element) -> bool:
    """Rewrite the calls in every XPath attribute of ``schema``; True when there was one."""
    found = False
    for element in schema.iter():
        if not isinstance(element.tag, str):
            continue
        for name in XPATH_ATTRIBUTES:
            value = element.get(name)
            if value is not None and "doc" in value:
                rewritten = rewrite_calls(value)
                if rewritten != value:
                    element.set(name, rewritten)
                    found = True
    return found


def referenced_documents(schema: etree._Element, base_dir: Path) -> list[Path]:
    """The XML files the rules may read, from their string literals (see the module text)."""
    found: dict[Path, None] = {}
    for element in schema.iter():
        if not isinstance(element.tag, str):
            continue
        for value in element.attrib.values():
            for single, double in _LITERAL.findall(value):
                for path in _literal_files(single or double, base_dir):
                    found.setdefault(path, None)
    return sorted(found)


def _literal_files(literal: str, base_dir: Path) -> list[Path]:
    if not literal or len(literal) > 500 or not ("/" in literal or literal.endswith(DOCUMENT_SUFFIXES)):
        return []
    if literal.startswith("file:"):
        candidate = Path(unquote(urlparse(literal).path))
    elif "://" in literal or literal.startswith(("#", "http")):
        return []
    else:
        candidate = base_dir / literal
    try:
        if literal.endswith("/") and candidate.is_dir():
            return sorted(p.resolve() for p in candidate.iterdir() if p.suffix.lower() in DOCUMENT_SUFFIXES)
        if candidate.suffix.lower() in DOCUMENT_SUFFIXES and candidate.is_file():
            return [candidate.resolve()]
    except OSError:
        return []
    return []


def pool_keys(path: Path) -> tuple[str, ...]:
    """The URIs under which ``resolve-uri`` may name ``path``: ``file:///`` (Python, the
    stylesheet's xml:base) or ``file:/`` (Java), percent-encoded and not."""
    encoded = path.as_uri()
    short = "file:/" + encoded.removeprefix("file:///")
    return tuple(dict.fromkeys((encoded, unquote(encoded), short, unquote(short))))


# The functions the rewritten calls use. resolve-uri can raise on names doc-available just
# refuses (a code system with a space), hence xsl:try; the fallbacks are the real functions,
# evaluated in this stylesheet, so relative names resolve against the same static base URI.
FUNCTIONS = """<xsl:param name="segurdoc:pool" as="map(*)" select="map{}"/>
<xsl:function name="segurdoc:key" as="xs:string?">
  <xsl:param name="href" as="item()?"/>
  <xsl:try select="if (empty($href)) then () else string(resolve-uri(string($href), static-base-uri()))">
    <xsl:catch select="()"/>
  </xsl:try>
</xsl:function>
<xsl:function name="segurdoc:doc" as="document-node()?">
  <xsl:param name="href" as="xs:string?"/>
  <xsl:variable name="key" select="segurdoc:key($href)"/>
  <xsl:sequence select="if (exists($key) and map:contains($segurdoc:pool, $key))
    then $segurdoc:pool($key) else doc($href)"/>
</xsl:function>
<xsl:function name="segurdoc:doc-available" as="xs:boolean">
  <xsl:param name="href" as="xs:string?"/>
  <xsl:variable name="key" select="segurdoc:key($href)"/>
  <xsl:sequence select="(exists($key) and map:contains($segurdoc:pool, $key)) or doc-available($href)"/>
</xsl:function>
<xsl:function name="segurdoc:document" as="node()*">
  <xsl:param name="hrefs" as="item()*"/>
  <xsl:variable name="key" select="if (count($hrefs) eq 1 and not($hrefs instance of node()) and string($hrefs) ne '')
    then segurdoc:key($hrefs) else ()"/>
  <xsl:sequence select="if (exists($key) and map:contains($segurdoc:pool, $key))
    then $segurdoc:pool($key) else document($hrefs)"/>
</xsl:function>"""

# Prefixes FUNCTIONS uses; a schematron's own binding of the same prefix wins (same URIs in the kit).
NAMESPACES = {
    "segurdoc": POOL_NS,
    "map": "http://www.w3.org/2005/xpath-functions/map",
    "xs": "http://www.w3.org/2001/XMLSchema",
}
