"""The own CDA header rules: the ANS examples pass, one-defect mutants fail with the right rule."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from harness.content.cda import CdaDocument, read_cda, validate_cda, validate_document
from harness.content.cda.rules import RULES
from harness.core.results import Severity
from harness.protocols.cda_document import NS
from harness.run.sut.reference_cda import build_n1_document

HL7 = "urn:hl7-org:v3"
PATIENT = {
    "ins": "275126322074974",
    "oid": "1.2.250.1.213.1.4.8",
    "nom_naissance": "ADRUN",
    "prenoms": ["ZOE", "MARIE"],
    "sexe": "F",
    "date_naissance": "1975-12-31",
    "lieu_naissance": "63220",
    "status": "QUAL",
}
# A generic showcase of every content model, not a document of any volet: the ANS pipeline does
# not validate it as one (minute-precision effectiveTime, VSM template on a non-VSM code).
KNOWN_NON_DOCUMENTS = {"01_Modèles_contenus_CDA.xml"}
# Rejected by the kit's StrucMin (a name qualifier it now refuses, tests/test_cda_kit.py), and so by
# the own rule cda.strucmin-structure that carries the same assertion.
KNOWN_STRUCMIN_REJECTS = {"eDISP-MED_2024.01.xml"}


def reference_root() -> Path | None:
    folder = Path(os.environ.get("SEGUR_REFERENCE_DIR", Path(__file__).resolve().parents[2] / "shared" / "reference"))
    return folder if folder.is_dir() else None


def kit_examples() -> list[Path]:
    root = reference_root()
    folder = root / "ans-cda-kit" / "ExemplesCDA" if root else None
    return sorted(folder.glob("*.xml")) if folder and folder.is_dir() else []


def errors(report) -> list[str]:
    return [f.rule for f in report.findings if f.severity is Severity.ERROR]


# -- the reference product's document and the ANS examples ------------------------------------------


def test_reference_n1_document_is_valid_and_has_the_pdf_format_code():
    report = validate_cda(build_n1_document(PATIENT), target="dmp")
    assert report.findings == []
    assert report.format_code == "urn:ihe:iti:xds-sd:pdf:2008"


@pytest.mark.skipif(
    not kit_examples(), reason="ANS CDA kit examples not found (../shared/reference or SEGUR_REFERENCE_DIR)"
)
def test_no_error_on_any_ans_example_document():
    examples = kit_examples()
    assert len(examples) >= 90, "the ANS kit has 94 example documents"
    failures = {}
    for path in examples:
        report = validate_cda(path.read_bytes())
        if path.name in KNOWN_NON_DOCUMENTS:
            assert errors(report), f"{path.name} is expected to be flagged"
        elif path.name in KNOWN_STRUCMIN_REJECTS:
            assert set(errors(report)) == {"cda.strucmin-structure"}, errors(report)
        elif errors(report):
            failures[path.name] = [str(f) for f in report.findings if f.severity is Severity.ERROR]
    assert failures == {}


@pytest.mark.skipif(
    not kit_examples(), reason="ANS CDA kit examples not found (../shared/reference or SEGUR_REFERENCE_DIR)"
)
def test_wrappers_in_the_ans_examples_are_opened():
    wrappers = {p.name: read_cda(p.read_bytes()).wrapper for p in kit_examples()}
    assert "autopresentable" in wrappers.values()


# -- the mutation corpus: one defect each, every rule covered --------------------------------------

Mutation = Callable[[etree._Element], None]


def first(root: etree._Element, path: str) -> etree._Element:
    found = root.xpath(path, namespaces=NS)
    assert found, f"the base document has no {path}"
    return found[0]


def remove(path: str) -> Mutation:
    return lambda root: first(root, path).getparent().remove(first(root, path))


def set_attr(path: str, name: str, value: str) -> Mutation:
    return lambda root: first(root, path).set(name, value)


def set_text(path: str, value: str) -> Mutation:
    def mutate(root: etree._Element) -> None:
        first(root, path).text = value

    return mutate


def remove_attr(path: str, name: str) -> Mutation:
    return lambda root: first(root, path).attrib.pop(name)


def duplicate(path: str) -> Mutation:
    return lambda root: first(root, path).addnext(copy.deepcopy(first(root, path)))


def add_child(path: str, name: str, **attrs: str) -> Mutation:
    return lambda root: etree.SubElement(first(root, path), f"{{{HL7}}}{name}", attrs)


def swap_patient_ids(root: etree._Element) -> None:
    ids = root.xpath("c:recordTarget/c:patientRole/c:id", namespaces=NS)
    ids[0].addprevious(ids[1])


def add_recipient(root: etree._Element) -> None:
    recipient = etree.Element(f"{{{HL7}}}informationRecipient")
    intended = etree.SubElement(recipient, f"{{{HL7}}}intendedRecipient")
    etree.SubElement(intended, f"{{{HL7}}}id", root="1.2.250.1.71.4.2.2", extension="1750803447")
    first(root, "c:author").addnext(recipient)


def volet_template(root: etree._Element) -> None:
    first(root, "c:templateId[3]").addnext(etree.Element(f"{{{HL7}}}templateId", root="1.2.250.1.213.1.1.1.29"))


def nullify(path: str, flavor: str = "UNK") -> Mutation:
    def mutate(root: etree._Element) -> None:
        element = first(root, path)
        for name in list(element.attrib):
            del element.attrib[name]
        for child in list(element):
            element.remove(child)
        element.text = None
        element.set("nullFlavor", flavor)

    return mutate


P = "c:recordTarget/c:patientRole"
STRUCTURE, DATATYPE = "cda.strucmin-structure", "cda.strucmin-datatype"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
PATIENT_EL = f"{P}/c:patient"
# (name, mutation, rule expected among the errors, target)
MUTATIONS: list[tuple[str, Mutation, str, str | None]] = [
    ("no-setId", remove("c:setId"), "cda.cardinality", None),
    ("two-recordTargets", duplicate("c:recordTarget"), "cda.cardinality", None),
    ("no-custodian", remove("c:custodian"), "cda.cardinality", None),
    ("no-componentOf", remove("c:componentOf"), "cda.cardinality", None),
    ("realm-US", set_attr("c:realmCode", "code", "US"), "cda.fixed-values", None),
    ("typeId-wrong", set_attr("c:typeId", "extension", "POCD_HD000041"), "cda.fixed-values", None),
    ("no-ci-sis-template", remove("c:templateId[@root='1.2.250.1.213.1.1.1.1']"), "cda.fixed-values", None),
    ("title-too-long", set_text("c:title", "x" * 129), "cda.title", None),
    ("language-fr", set_attr("c:languageCode", "code", "fr"), "cda.language", None),
    ("id-not-oid", set_attr("c:id", "root", "not-an-oid"), "cda.document-id", None),
    ("id-extension-dmp", set_attr("c:id", "extension", "42"), "cda.document-id", "dmp"),
    ("author-root", set_attr("c:author/c:assignedAuthor/c:id", "root", "1.2.3"), "cda.identifier-roots", None),
    (
        "author-org-root",
        set_attr("c:author/c:assignedAuthor/c:representedOrganization/c:id", "root", "1.2.250.1.71.4.2.1"),
        "cda.identifier-roots",
        None,
    ),
    ("recipient-root", add_recipient, "cda.identifier-roots", None),
    (
        "custodian-root",
        set_attr("c:custodian/c:assignedCustodian/c:representedCustodianOrganization/c:id", "root", "1.2.3"),
        "cda.identifier-roots",
        None,
    ),
    ("ins-not-first", swap_patient_ids, "cda.ins", None),
    ("ins-bad-matricule", set_attr(f"{P}/c:id[1]", "extension", "27512632207A974"), "cda.ins", None),
    ("ins-no-birth-name", remove(f"{PATIENT_EL}/c:name/c:family[@qualifier='BR']"), "cda.ins", None),
    ("ins-no-first-given", remove(f"{PATIENT_EL}/c:name/c:given[@qualifier='BR']"), "cda.ins", None),
    ("ins-no-birth-time", remove(f"{PATIENT_EL}/c:birthTime"), "cda.ins", None),
    ("ins-no-birthplace", remove(f"{PATIENT_EL}/c:birthplace"), "cda.ins", None),
    ("ins-bad-county", set_text(f"{PATIENT_EL}/c:birthplace/c:place/c:addr/c:county", "ABC"), "cda.ins", None),
    (
        "ins-race-code",
        add_child(PATIENT_EL, "raceCode", code="X", codeSystem="2.16.840.1.113883.5.104"),
        "cda.ins",
        None,
    ),
    ("gender-X", set_attr(f"{PATIENT_EL}/c:administrativeGenderCode", "code", "X"), "cda.gender", None),
    ("null-flavor-unknown", set_attr("c:author/c:assignedAuthor/c:code", "nullFlavor", "XYZ"), "cda.null-flavor", None),
    ("null-flavor-title", nullify("c:title"), "cda.null-flavor", None),
    ("null-flavor-patient-id", nullify(f"{P}/c:id[2]"), "cda.null-flavor", None),
    ("effective-no-offset", set_attr("c:effectiveTime", "value", "20240101120000"), "cda.dates", None),
    ("effective-minutes", set_attr("c:effectiveTime", "value", "202401011200+0100"), "cda.dates", None),
    ("document-code", set_attr("c:code", "code", "00000-0"), "cda.codes", None),
    ("confidentiality", set_attr("c:confidentialityCode", "code", "Z"), "cda.codes", None),
    (
        "facility-code",
        set_attr("c:componentOf/c:encompassingEncounter/c:location/c:healthCareFacility/c:code", "code", "SA99"),
        "cda.codes",
        None,
    ),
    (
        "practice-setting",
        set_attr(
            "c:documentationOf/c:serviceEvent/c:performer/c:assignedEntity/c:representedOrganization/"
            "c:standardIndustryClassCode",
            "code",
            "HOPITAL",
        ),
        "cda.codes",
        None,
    ),
    ("volet-code", volet_template, "cda.volet", None),
    (
        "n1-media-type",
        set_attr("c:component/c:nonXMLBody/c:text", "mediaType", "application/msword"),
        "cda.n1-body",
        None,
    ),
    ("n1-representation", set_attr("c:component/c:nonXMLBody/c:text", "representation", "TXT"), "cda.n1-body", None),
    ("n1-no-xds-sd", remove("c:templateId[@root='1.3.6.1.4.1.19376.1.2.20']"), "cda.n1-body", None),
    # StrucMin constraints from profiles/cda/strucmin_structure.json, one per constraint kind.
    ("strucmin-class-code", set_attr(".", "classCode", "XXX"), STRUCTURE, None),
    ("strucmin-two-titles", duplicate("c:title"), STRUCTURE, None),
    ("strucmin-no-code-attribute", remove_attr("c:code", "code"), STRUCTURE, None),
    ("strucmin-title-xsi-type", set_attr("c:title", XSI_TYPE, "CD"), STRUCTURE, None),
    ("strucmin-empty-language", set_attr("c:languageCode", "code", ""), STRUCTURE, None),
    ("strucmin-version-format", set_attr("c:versionNumber", "value", "v1"), STRUCTURE, None),
    ("strucmin-effective-time-child", add_child("c:effectiveTime", "low", value="20240101"), STRUCTURE, None),
    ("strucmin-signature-code", set_attr("c:legalAuthenticator/c:signatureCode", "code", "X"), STRUCTURE, None),
    ("strucmin-no-author-time", remove("c:author/c:time"), STRUCTURE, None),
    # Kind "xpath": the schematron's own XPath 1.0 test.
    ("strucmin-no-main-performer", remove("c:documentationOf/c:serviceEvent/c:performer"), STRUCTURE, None),
    ("strucmin-given-qualifier", set_attr(f"{PATIENT_EL}/c:name/c:given[1]", "qualifier", "SP"), STRUCTURE, None),
    ("strucmin-author-code-null", nullify("c:author/c:assignedAuthor/c:code", "NA"), STRUCTURE, None),
    ("strucmin-setid-root", set_attr("c:setId", "root", "1.2.abc"), DATATYPE, None),
    ("strucmin-empty-title", set_text("c:title", ""), DATATYPE, None),
    ("strucmin-code-no-system", remove_attr("c:confidentialityCode", "codeSystem"), DATATYPE, None),
    ("strucmin-time-null-and-value", set_attr("c:author/c:time", "nullFlavor", "UNK"), DATATYPE, None),
]
WARNING_MUTATIONS: list[tuple[str, Mutation, str]] = [
    (
        "schema-location",
        set_attr(".", "{http://www.w3.org/2001/XMLSchema-instance}schemaLocation", "urn:hl7-org:v3 CDA.xsd"),
        "cda.schema-location",
    ),
    ("language-en", set_attr("c:languageCode", "code", "en-GB"), "cda.language"),
    # Where StrucMin accepts a nullFlavor (checked with the kit): not on assignedAuthor/code, whose
    # @code, @codeSystem and @displayName StrucMin requires (mutant strucmin-author-code-null).
    (
        "null-flavor-hl7-NA",
        nullify("c:author/c:assignedAuthor/c:representedOrganization/c:name", "NA"),
        "cda.null-flavor",
    ),
    ("ins-wrong-key", set_attr(f"{P}/c:id[1]", "extension", "275126322074975"), "cda.ins"),
]


@pytest.fixture(scope="module")
def base_root() -> etree._Element:
    return etree.fromstring(build_n1_document(PATIENT))


def mutant(base_root: etree._Element, mutate: Mutation) -> CdaDocument:
    root = copy.deepcopy(base_root)
    mutate(root)
    return read_cda(etree.tostring(root))


@pytest.mark.parametrize(("mutate", "rule_id", "target"), [m[1:] for m in MUTATIONS], ids=[m[0] for m in MUTATIONS])
def test_each_mutant_is_rejected_by_its_rule(base_root, mutate, rule_id, target):
    report = validate_document(mutant(base_root, mutate), target)
    assert rule_id in errors(report), [str(f) for f in report.findings]
    for f in report.findings:
        assert f.location and f.location.startswith("/ClinicalDocument") and f.line and f.requirement


@pytest.mark.parametrize(
    ("mutate", "rule_id"), [m[1:] for m in WARNING_MUTATIONS], ids=[m[0] for m in WARNING_MUTATIONS]
)
def test_tolerated_departures_are_warnings_not_errors(base_root, mutate, rule_id):
    report = validate_document(mutant(base_root, mutate))
    assert errors(report) == []
    assert rule_id in [f.rule for f in report.findings if f.severity is Severity.WARNING]


def test_the_mutation_corpus_covers_every_rule():
    covered = {m[2] for m in MUTATIONS} | {m[2] for m in WARNING_MUTATIONS}
    assert covered == set(RULES)


def test_the_document_id_with_an_extension_is_fine_outside_the_dmp(base_root):
    report = validate_document(mutant(base_root, set_attr("c:id", "extension", "42")))
    assert errors(report) == []


@pytest.mark.skipif(
    not kit_examples(), reason="ANS CDA kit examples not found (../shared/reference or SEGUR_REFERENCE_DIR)"
)
@pytest.mark.parametrize("example", ["LDL-SES_2022.01.xml", "IMG_CR_IMG_2024.01.xml", "VSM_1.4_2022.01.xml"])
def test_volet_documents_with_another_code_are_rejected(example):
    root = etree.fromstring((kit_examples()[0].parent / example).read_bytes())
    assert errors(validate_document(read_cda(etree.tostring(root)))) == []
    first(root, "c:code").set("code", "11488-4")
    assert "cda.volet" in errors(validate_document(read_cda(etree.tostring(root))))
