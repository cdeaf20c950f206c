"""The benchmark's batch mode of the official CDA engine gives the kit's way's verdicts.

``benchmarks/official_cda_engine.check_documents_batch`` runs one JVM per stylesheet for many
documents; ``check_document`` runs the kit's way, one JVM per document and step. On a miniature kit
(a stand-in for the kit's ``XSDValidator`` with the same static error list, an XSD, a stylesheet
writing SVRL) both must agree document by document, including on a document the XSD refuses
before one it accepts (the batch driver must empty the error list in between) and on a document
that is not XML (its error must not spill onto the others).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from benchmarks import official_cda_engine as official
from benchmarks.cda_kit_vs_official import same_verdicts

# The kit's XSDValidator keeps its errors in a private static list, filled by validate() and printed
# by xmlOutput(); this stand-in has the same members (the real one is not in the reference folder).
STAND_IN_VALIDATOR = """\
import java.io.File;
import java.util.ArrayList;
import java.util.List;
import javax.xml.XMLConstants;
import javax.xml.transform.stream.StreamSource;
import javax.xml.validation.SchemaFactory;
import javax.xml.validation.Validator;

public class XSDValidator {
    private static List<Exception> errorList = new ArrayList<Exception>();

    public static String xmlOutput() {
        return "<xsd-validation result=\\"" + (errorList.size() > 0 ? "ERROR" : "OK") + "\\"/>";
    }

    public static void validate(String schemaFilePath, String cdaFilePath) {
        try {
            SchemaFactory factory = SchemaFactory.newInstance(XMLConstants.W3C_XML_SCHEMA_NS_URI);
            Validator validator = factory.newSchema(new StreamSource(new File(schemaFilePath))).newValidator();
            validator.validate(new StreamSource(new File(cdaFilePath)));
        } catch (Exception e) {
            errorList.add(e);
        }
    }

    public static void main(String[] args) {
        validate(args[1], args[0]);
        System.out.print(xmlOutput());
    }
}
"""

SCHEMA = """\
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
  <xs:element name="doc"><xs:complexType><xs:sequence>
    <xs:element name="item" maxOccurs="unbounded"><xs:complexType>
      <xs:attribute name="bad" type="xs:boolean"/></xs:complexType></xs:element>
  </xs:sequence></xs:complexType></xs:element>
</xs:schema>
"""

STYLESHEET = """\
<xsl:stylesheet version="2.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:svrl="http://purl.oclc.org/dsdl/svrl">
  <xsl:template match="/">
    <svrl:schematron-output>
      <xsl:for-each select="//item[@bad = 'true']">
        <svrl:failed-assert test="not(@bad = 'true')" role="error" location="/doc/item[{position()}]">
          <svrl:text>item <xsl:value-of select="count(preceding-sibling::item) + 1"/> is bad</svrl:text>
        </svrl:failed-assert>
      </xsl:for-each>
    </svrl:schematron-output>
  </xsl:template>
</xsl:stylesheet>
"""

DOCUMENTS = {
    "a-refused-by-the-xsd.xml": "<doc><unknown/></doc>",
    "b-two-bad-items.xml": '<doc><item bad="true"/><item/><item bad="true"/></doc>',
    "c-not-xml.xml": "<doc><item>",
    "d-clean.xml": "<doc><item/></doc>",
}


def _saxon_jar() -> Path:
    if shutil.which("java") is None or shutil.which("javac") is None:
        pytest.skip("needs java and javac (the official engine runs on the JVM)")
    if not official.DEBIAN_JAR.is_file():
        pytest.skip(f"needs a Saxon-HE jar at {official.DEBIAN_JAR} (apt-get install libsaxonhe-java)")
    return official.DEBIAN_JAR.resolve()


@pytest.fixture
def miniature_kit(tmp_path: Path) -> tuple[Path, Path, list[Path], dict[str, Path]]:
    jar = _saxon_jar()
    kit = tmp_path / "kit"
    engine = kit / official.ENGINE
    engine.mkdir(parents=True)
    (engine / "XSDValidator.java").write_text(STAND_IN_VALIDATOR, encoding="utf-8")
    subprocess.run(["javac", "-d", str(engine), str(engine / "XSDValidator.java")], check=True, capture_output=True)
    (kit / "infrastructure" / "cda").mkdir(parents=True)
    (kit / "infrastructure" / "cda" / "CDA_extended.xsd").write_text(SCHEMA, encoding="utf-8")
    stylesheet = kit / "schematrons" / "items.xsl"
    stylesheet.write_text(STYLESHEET, encoding="utf-8")
    (kit / "ExemplesCDA").mkdir()
    documents = []
    for name, text in sorted(DOCUMENTS.items()):
        documents.append(kit / "ExemplesCDA" / name)
        documents[-1].write_text(text, encoding="utf-8")
    return jar, kit, documents, {"items": stylesheet}


def test_batch_gives_the_kit_ways_verdicts_document_by_document(miniature_kit, tmp_path: Path) -> None:
    jar, kit, documents, stylesheets = miniature_kit
    batch = official.check_documents_batch(jar, kit, dict.fromkeys(documents, stylesheets), tmp_path / "batch", 2)
    (tmp_path / "kit-way").mkdir()
    for document in documents:
        kit_way = official.check_document(jar, kit, document, stylesheets, tmp_path / "kit-way")
        assert same_verdicts(kit_way, batch.documents[document.name]) == [], document.name

    by_name = batch.documents
    assert [by_name[d.name].xsd_valid for d in documents] == [False, True, False, True]
    assert [r["text"] for r in by_name["b-two-bad-items.xml"].results["items"]] == ["item 1 is bad", "item 3 is bad"]
    assert by_name["d-clean.xml"].results == {"items": []} and not by_name["d-clean.xml"].errors
    assert by_name["c-not-xml.xml"].errors and "items" not in by_name["c-not-xml.xml"].results
    assert set(batch.jvms) == {"XSDValidator", "schematrons/items.xsl"}


def test_same_verdicts_names_every_kind_of_difference() -> None:
    result = {"kind": "failed-assert", "role": "error", "test": "t", "location": "/doc/item[1]", "text": "x"}
    kit_way = official.OfficialDocument(xsd_valid=True, results={"items": [result]})
    assert same_verdicts(kit_way, official.OfficialDocument(xsd_valid=True, results={"items": [dict(result)]})) == []

    moved = official.OfficialDocument(xsd_valid=True, results={"items": [{**result, "location": "/doc/item[2]"}]})
    assert same_verdicts(kit_way, moved) == ["items: 1 vs 1 results"]
    refused = official.OfficialDocument(xsd_valid=False, results={"items": [result]})
    assert same_verdicts(kit_way, refused) == ["XSD verdict True (kit's way) vs False (batch)"]
    missing = official.OfficialDocument(xsd_valid=True, errors=["items: boom"])
    assert same_verdicts(kit_way, missing) == [
        "items: 1 vs 0 results",
        "failed steps: [] (kit's way), ['items'] (batch)",
    ]
