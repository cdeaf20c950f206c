"""Documents the rules read through doc()/document(), parsed once and served from memory."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.content.schematron import SchematronError, compile_schematron
from harness.content.schematron.documents import rewrite_calls
from harness.content.schematron.saxon import DocumentPool, ParsedDocument, SaxonSchematron

SCH = 'xmlns="http://purl.oclc.org/dsdl/schematron"'
DOC = b'<doc xmlns="urn:test"><item code="1"/><item code="9"/></doc>'
VALUES = "<values><code>1</code><code>2</code></values>"


def kit_like(folder: Path) -> Path:
    """A schematron reading a value file by literal name, by a let, and by a name built at run time."""
    (folder / "terms").mkdir()
    (folder / "terms" / "codes.xml").write_text(VALUES, encoding="utf-8")
    (folder / "vs.xml").write_text(VALUES, encoding="utf-8")
    path = folder / "rules.sch"
    path.write_text(
        f"""<schema {SCH} queryBinding="xslt2"><ns prefix="t" uri="urn:test"/>
      <let name="folder" value="'terms/'"/>
      <let name="vs" value="'vs.xml'"/>
      <pattern id="p"><rule context="t:item">
        <assert id="literal" test="@code = doc('vs.xml')//code">literal</assert>
        <assert id="let" test="@code = document($vs)//code">let</assert>
        <assert id="built" test="not(doc-available(concat($folder, 'codes.xml')))
          or @code = doc(concat($folder, 'codes', '.xml'))//code">built</assert>
        <assert id="odd-name" test="not(doc-available(concat($folder, 'a b|', @code)))">odd name</assert>
      </rule></pattern>
    </schema>""",
        encoding="utf-8",
    )
    return path


def failed(schematron: SaxonSchematron) -> list[tuple[str | None, str]]:
    return [(r.id, r.location.rsplit("/", 1)[-1]) for r in schematron.run(DOC)]


def test_the_rules_read_documents_from_the_pool_and_not_the_disk(tmp_path):
    compiled = compile_schematron(kit_like(tmp_path))
    assert compiled.documents == sorted([(tmp_path / "terms" / "codes.xml"), (tmp_path / "vs.xml")])
    pooled = SaxonSchematron(compiled, DocumentPool())
    unpooled = SaxonSchematron(compiled)
    expected = [(rule, "Q{urn:test}item[2]") for rule in ("literal", "let", "built")]
    assert failed(pooled) == failed(unpooled) == expected  # code 9 is in no value file: the check can fail
    for name in ("vs.xml", "terms/codes.xml"):
        (tmp_path / name).write_text("<values/>", encoding="utf-8")
    assert failed(pooled) == expected, "parsed once: later runs do not read the files again"
    assert len(failed(SaxonSchematron(compiled))) == 6, "without the pool the rules read the files as they are now"


def test_an_empty_pool_falls_back_to_the_real_functions(tmp_path):
    path = kit_like(tmp_path)
    compiled = compile_schematron(path)
    compiled.documents = []
    assert failed(SaxonSchematron(compiled, DocumentPool())) == [
        (rule, "Q{urn:test}item[2]") for rule in ("literal", "let", "built")
    ]


def test_only_calls_of_the_builtin_functions_are_rewritten():
    assert rewrite_calls("doc('a.xml')//x and doc-available($p) and document($v)") == (
        "segurdoc:doc('a.xml')//x and segurdoc:doc-available($p) and segurdoc:document($v)"
    )
    unchanged = "my-doc(1) or fn:doc('x') or $doc(1) or 'doc(' = string(@a) or segurdoc:doc('y')"
    assert rewrite_calls(unchanged) == unchanged


def test_an_unparsable_pooled_file_is_left_to_the_rules_own_call(tmp_path):
    (tmp_path / "bad.xml").write_text("<not-closed>", encoding="utf-8")
    pool = DocumentPool()
    assert pool.node(tmp_path / "bad.xml") is None and tmp_path / "bad.xml" in pool.unreadable


def test_one_parse_of_the_document_serves_several_schematrons(tmp_path):
    schematron = SaxonSchematron(compile_schematron(kit_like(tmp_path)), DocumentPool())
    parsed = ParsedDocument(DOC)
    assert schematron.run(parsed) == schematron.run(parsed) == schematron.run(DOC)
    with pytest.raises(SchematronError, match="cannot read this document"):
        ParsedDocument(b"<not-closed>")
