"""The ISO Schematron compiler on small schematrons written here, run with Saxon."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.content.schematron import SchematronError, compile_schematron
from harness.content.schematron.compiler import resolve_href
from harness.content.schematron.saxon import SaxonSchematron

SCH = 'xmlns="http://purl.oclc.org/dsdl/schematron"'
DOC = b"""<?xml version="1.0"?>
<doc xmlns="urn:test"><item kind="a" code="1"/><item kind="b" code="2"/><item kind="b"/></doc>"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def run(path: Path, phase: str | None = None, document: bytes = DOC):
    return SaxonSchematron(compile_schematron(path, phase)).run(document)


def test_asserts_reports_lets_and_messages(tmp_path):
    path = write(
        tmp_path,
        "s.sch",
        f"""<schema {SCH} queryBinding="xslt2">
      <ns prefix="t" uri="urn:test"/>
      <let name="wanted" value="'b'"/>
      <pattern id="p">
        <rule context="t:item">
          <let name="kind" value="@kind"/>
          <assert id="has-code" role="error" test="@code"
            >item <value-of select="$kind"/> has no code in <name/></assert>
          <report id="is-b" role="warning" test="$kind = $wanted">kind is b</report>
        </rule>
      </pattern>
    </schema>""",
    )
    results = run(path)
    assert [(r.kind, r.id, r.role) for r in results] == [
        ("successful-report", "is-b", "warning"),
        ("failed-assert", "has-code", "error"),
        ("successful-report", "is-b", "warning"),
    ]
    assert results[1].text == "item b has no code in item"
    assert results[1].location.endswith("item[3]") and results[1].pattern == "p"


def test_a_node_fires_only_the_first_matching_rule_of_a_pattern(tmp_path):
    path = write(
        tmp_path,
        "s.sch",
        f"""<schema {SCH} queryBinding="xslt2"><ns prefix="t" uri="urn:test"/>
      <pattern id="p">
        <rule context="t:item[@kind='b']"><report test="true()">specific</report></rule>
        <rule context="t:item"><report test="true()">general</report></rule>
      </pattern>
      <pattern id="q"><rule context="t:item"><report test="true()">other pattern</report></rule></pattern>
    </schema>""",
    )
    texts = [r.text for r in run(path)]
    assert texts.count("specific") == 2 and texts.count("general") == 1 and texts.count("other pattern") == 3


def test_abstract_patterns_with_parameters_and_abstract_rules(tmp_path):
    path = write(
        tmp_path,
        "s.sch",
        f"""<schema {SCH} queryBinding="xslt2"><ns prefix="t" uri="urn:test"/>
      <pattern id="required" abstract="true">
        <rule context="$element"><assert test="$attribute">$attribute missing on <name/></assert></rule>
      </pattern>
      <pattern id="code-required" is-a="required">
        <param name="element" value="t:item"/><param name="attribute" value="@code"/>
      </pattern>
      <pattern id="with-base">
        <rule abstract="true" id="base"><assert test="@kind" id="kind">no kind</assert></rule>
        <rule context="t:doc/t:item"><extends rule="base"/><assert test="true()">never</assert></rule>
      </pattern>
    </schema>""",
    )
    results = run(path)
    assert [(r.pattern, r.text) for r in results] == [("code-required", "@code missing on item")]


def test_phases_select_patterns(tmp_path):
    path = write(
        tmp_path,
        "s.sch",
        f"""<schema {SCH} queryBinding="xslt2" defaultPhase="only-a">
      <ns prefix="t" uri="urn:test"/>
      <phase id="only-a"><active pattern="a"/></phase>
      <pattern id="a"><rule context="t:doc"><report test="true()">a</report></rule></pattern>
      <pattern id="b"><rule context="t:doc"><report test="true()">b</report></rule></pattern>
    </schema>""",
    )
    assert [r.text for r in run(path)] == ["a"]
    assert [r.text for r in run(path, "#ALL")] == ["a", "b"]
    with pytest.raises(SchematronError, match="no phase"):
        compile_schematron(path, "missing")


def test_includes_resolve_relative_and_case_insensitively_with_a_warning(tmp_path):
    write(
        tmp_path,
        "inc/Rules.sch",
        f"""<pattern {SCH} id="p">
        <rule context="t:item"><assert test="@code">no code</assert></rule></pattern>""",
    )
    path = write(
        tmp_path,
        "s.sch",
        f"""<schema {SCH} queryBinding="xslt2"><ns prefix="t" uri="urn:test"/>
      <include href="inc/rules.sch"/><include href="inc/absent.sch"/></schema>""",
    )
    compiled = compile_schematron(path)
    messages = [(d.severity, d.message) for d in compiled.diagnostics]
    assert ("warning", "include 'inc/rules.sch' resolved case-insensitively to Rules.sch") in messages
    assert ("error", "include 'inc/absent.sch' not found (from s.sch)") in messages
    assert [r.text for r in SaxonSchematron(compiled).run(DOC)] == ["no code"]


def test_value_set_documents_resolve_from_the_schematron_folder_and_missing_ones_are_diagnosed(tmp_path):
    write(tmp_path, "vs/codes.xml", "<codes><code>1</code></codes>")
    path = write(
        tmp_path,
        "s.sch",
        f"""<schema {SCH} queryBinding="xslt2"><ns prefix="t" uri="urn:test"/>
      <let name="codes" value="'vs/codes.xml'"/>
      <pattern><rule context="t:item[@code]">
        <assert test="@code = document($codes)//code">code <value-of select="@code"/> unknown</assert>
      </rule></pattern>
      <pattern><rule context="t:doc"><assert test="doc-available('vs/missing.xml')">no list</assert></rule></pattern>
    </schema>""",
    )
    compiled = compile_schematron(path)
    assert [d.message for d in compiled.diagnostics] == ["document 'vs/missing.xml' read by the rules is missing"]
    assert [r.text for r in SaxonSchematron(compiled).run(DOC)] == ["code 2 unknown", "no list"]
    substituted = compile_schematron(path, substitute_missing=lambda href: tmp_path / "vs" / "codes.xml")
    assert [r.text for r in SaxonSchematron(substituted).run(DOC)] == ["code 2 unknown"]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (f"<schema {SCH}><pattern is-a='nothing' id='x'/></schema>", "unknown abstract pattern"),
        (f"<schema {SCH}><pattern><rule context='*'><extends rule='none'/></rule></pattern></schema>", "unknown"),
        (f"<schema {SCH} queryBinding='exslt'/>", "queryBinding"),
        ("<notschematron/>", "not an ISO Schematron"),
        ("<schema", "cannot read"),
    ],
)
def test_broken_schematrons_are_clear_errors(tmp_path, text, error):
    with pytest.raises(SchematronError, match=error):
        compile_schematron(write(tmp_path, "s.sch", text))


def test_include_cycles_are_detected(tmp_path):
    write(tmp_path, "a.sch", f"<pattern {SCH}><include href='s.sch'/></pattern>")
    path = write(tmp_path, "s.sch", f"<schema {SCH}><include href='a.sch'/></schema>")
    with pytest.raises(SchematronError, match="cycle"):
        compile_schematron(path)


def test_an_invalid_xpath_is_reported_by_saxon_as_a_schematron_error(tmp_path):
    path = write(
        tmp_path,
        "s.sch",
        f"<schema {SCH}><pattern><rule context='*'><assert test='(('>x</assert></rule></pattern></schema>",
    )
    with pytest.raises(SchematronError, match="cannot compile"):
        SaxonSchematron(compile_schematron(path))


def test_resolve_href_refuses_what_does_not_exist(tmp_path):
    assert resolve_href(tmp_path, "no/such/file.sch") == (None, False)


SELECTING = f"""<schema {SCH} queryBinding="xslt2"><ns prefix="t" uri="urn:test"/>
  <pattern id="first">
    <rule context="t:item[1]"><report test="true()">first item <value-of select="@kind"/></report></rule>
  </pattern>
  <pattern id="union">
    <rule context="t:item[@kind='b'] | t:doc"><report test="true()">b or doc: <name/></report></rule>
    <rule context="t:item"><report test="true()">other item</report></rule>
  </pattern>
  <pattern id="attribute">
    <rule context="@code"><assert test=". = '1'">code <value-of select="."/></assert></rule>
  </pattern>
  <pattern id="absolute"><rule context="/t:doc/t:item[last()]"><report test="true()">last</report></rule></pattern>
  <pattern id="root"><rule context="/"><assert test="count(//t:item) = 2">three items</assert></rule></pattern>
  <pattern id="axis"><rule context="child::t:item[@kind='a']"><report test="true()">by axis</report></rule></pattern>
  <pattern id="deep">
    <rule context="t:doc//t:item[@code]"><report test="true()">deep <value-of select="@code"/></report></rule>
  </pattern>
</schema>"""
SELECTING_DOC = b"""<?xml version="1.0"?>
<doc xmlns="urn:test"><item kind="a" code="1"/><group><item kind="b" code="2"/><item kind="b"/></group><item/></doc>"""


def test_a_pattern_of_few_rules_visits_only_what_its_contexts_select(tmp_path):
    from harness.content.schematron.compiler import selected_candidates

    assert selected_candidates(["t:item[1]"]) == "//t:item[1]"
    assert selected_candidates(["a | /b", "@code"]) == "//a | /b | //@code"
    assert selected_candidates(["/"]) == "/"
    # Forms whose meaning as a path from the root is not the pattern's: walk every node.
    for context in ("key('k', 'a')", "child::a", "a[current()/@x]", "element(a)", "a union b", "a[", "ab]"):
        assert selected_candidates([context]) is None, context
    assert selected_candidates(["a"] * 3, limit=2) is None and selected_candidates(["a"] * 2, limit=2) == "//a"
    compiled = compile_schematron(write(tmp_path, "s.sch", SELECTING))
    assert '<xsl:apply-templates select="//t:item[1]" mode="M0"/>' in compiled.xslt


def test_selecting_and_walking_give_the_same_results_in_the_same_order(tmp_path):
    path = write(tmp_path, "s.sch", SELECTING)
    selected = SaxonSchematron(compile_schematron(path)).run(SELECTING_DOC)
    walked = SaxonSchematron(compile_schematron(path, select_rules_limit=0)).run(SELECTING_DOC)
    assert selected == walked
    texts = [(r.pattern, r.text) for r in selected]
    assert ("first", "first item a") in texts and ("first", "first item b") in texts
    assert [t for p, t in texts if p == "union"] == [
        "b or doc: doc",
        "other item",
        "b or doc: item",
        "b or doc: item",
        "other item",
    ]
    assert [t for p, t in texts if p == "attribute"] == ["code 2"]
    assert [t for p, t in texts if p == "absolute"] == ["last"]
    assert [t for p, t in texts if p == "root"] == ["three items"]
    assert [t for p, t in texts if p == "axis"] == ["by axis"]  # walked: an axis step is not rewritten
    assert [t for p, t in texts if p == "deep"] == ["deep 1", "deep 2"]
