"""Own CDA rules against the kit's StrucMin schematron on one-defect variants (bounded).

The full differential over the 94 ANS examples is benchmarks/cda_strucmin_differential.py; this
test runs a deterministic sample of it (the smallest example, every fourth variant of the
benchmark's sample) and fails on any disagreement not listed in profiles/cda/strucmin_differences.csv.
"""

from __future__ import annotations

import csv
import json
import tomllib
from collections import Counter

import pytest
from lxml import etree

from benchmarks.cda_strucmin_differential import SAMPLE, sampled
from harness.content.cda import read_cda
from harness.content.cda import strucmin_variants as sv
from harness.content.cda.kit import OfficialKit
from harness.content.cda.rules import RULES
from harness.content.cda.rules_strucmin import DATATYPE_RULE_ID, RULE_ID, _prefix_table, structure
from harness.content.cda.strucmin_extract import classify, extract
from harness.content.cda.strucmin_paths import select, xpath
from harness.core.paths import data_dir
from harness.run.sut.reference_cda import build_n1_document
from tests.test_cda_rules import PATIENT, kit_examples

# The smallest example (the kit's run time grows with the document): 10 variants, a few seconds warm,
# plus about 18 s to compile StrucMin once.
EXAMPLES = ["VAC-NOTE_2023.01.xml"]
needs_kit = pytest.mark.skipif(
    not kit_examples(), reason="ANS CDA kit not found (../shared/reference or SEGUR_REFERENCE_DIR)"
)


def listed_differences() -> dict[tuple[str, str], tuple[str, str]]:
    path = data_dir("profiles") / "cda" / "strucmin_differences.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        return {(r["example"], r["variant"]): (r["outcome"], r["reason"]) for r in csv.DictReader(handle)}


def reasons() -> dict[str, dict]:
    with (data_dir("profiles") / "cda" / "strucmin_reasons.toml").open("rb") as handle:
        return tomllib.load(handle)


def test_every_listed_difference_has_a_known_reason_and_no_unexplained_one():
    known = reasons()
    listed = listed_differences()
    assert listed, "the differences file is empty: regenerate it with the benchmark"
    for key, (outcome, reason) in listed.items():
        assert outcome in ("kit-only", "own-only"), key
        assert reason in known and reason != "unexplained", (key, reason)


def test_assertion_shapes_are_classified():
    assert classify("count(hl7:title) <= 1") == {"kind": "max", "child": "hl7:title", "count": 1}
    assert classify("@code") == {"kind": "attribute-required", "attribute": "code"}
    assert classify("string(@classCode) = ('DOCCLIN') or not(@classCode)")["optional"] is True
    typed = classify("empty(@xsi:type) or resolve-QName(@xsi:type, .) = QName('urn:hl7-org:v3', 'CE')")
    assert typed["kind"] == "xsi-type" and typed["type"] == "CE"
    assert classify("//hl7:author[not($p1) or (every $p in $p1 satisfies $p = $t1)]")["kind"] == "other"


@needs_kit
def test_the_data_file_is_the_extraction_of_the_kit_schematron():
    committed = json.loads((data_dir("profiles") / "cda" / "strucmin_structure.json").read_text(encoding="utf-8"))
    assert committed == json.loads(json.dumps(extract(kit_examples()[0].parent.parent), ensure_ascii=False))


@pytest.fixture(scope="module")
def strucmin():
    return OfficialKit(kit_examples()[0].parent.parent).schematron(sv.STRUCMIN)


def run_sample(
    strucmin, name: str, rule_ids: set[str] | None = None, stop_at: str | None = None
) -> dict[str, sv.Comparison]:
    path = next(p for p in kit_examples() if p.name == name)
    doc = read_cda(path.read_bytes())
    base = etree.tostring(doc.root, encoding="UTF-8", xml_declaration=True)
    base_kit: Counter[str] = sv.kit_errors(strucmin, base)
    base_own = sv.own_errors(base, rule_ids)
    results = {}
    for variant in sampled(list(sv.variants(doc)), SAMPLE)[::4]:
        results[variant.key] = sv.compare_detailed(strucmin, variant, base_kit, base_own, rule_ids)
        if results[variant.key].outcome == stop_at:
            break
    return results


@needs_kit
@pytest.mark.parametrize("name", EXAMPLES)
def test_no_new_disagreement_with_strucmin(strucmin, name):
    listed = listed_differences()
    results = run_sample(strucmin, name)
    assert len(results) >= 10
    unlisted = {
        key: (result.outcome, sv.reason(result), result.kit_new[:2], result.own_new[:2])
        for key, result in results.items()
        if result.outcome in ("kit-only", "own-only") and listed.get((name, key)) != (result.outcome, sv.reason(result))
    }
    assert unlisted == {}, "new disagreements: fix the own rules or list them with their reason"
    assert any(r.outcome == "agree-reject" for r in results.values())


@needs_kit
def test_the_differential_sees_a_disagreement_without_the_strucmin_rules(strucmin):
    """Negative case: the own rules as they were before these rules miss defects StrucMin rejects."""
    before = set(RULES) - {RULE_ID, DATATYPE_RULE_ID}
    results = run_sample(strucmin, EXAMPLES[0], before, stop_at="kit-only")
    assert any(r.outcome == "kit-only" for r in results.values())


def test_python_paths_select_what_lxml_xpath_selects():
    """The Python-compiled StrucMin steps against lxml on the same nodes of the reference document
    (and of a kit example when the kit is there), every context prefix of the data file."""
    namespaces, _ = structure()
    ns = tuple(sorted(namespaces.items()))
    roots = [etree.fromstring(build_n1_document(PATIENT))]
    roots += [read_cda(p.read_bytes()).root for p in kit_examples() if p.name in ("AVC-SUNV_2022.01.xml",)]
    table, _ = _prefix_table()
    compared = 0
    for root in roots:
        found: list[list] = [[root]]
        for parent, path in table[1:]:
            parents = found[parent]
            if path is None or path.members is None:  # lxml evaluates these steps in the rule too
                compiled = path.compiled if path is not None else None
                found.append([n for p in parents for n in compiled(p)] if compiled is not None else [])
                continue
            ours = [n for p in parents for n in select(p, path, {})]
            theirs = [n for p in parents for n in xpath(path.expression, ns)(p)]
            assert ours == theirs, path.expression
            compared += bool(parents)
            found.append(ours)
    assert compared > 100


@needs_kit
def test_variants_of_a_document_with_other_namespaces_and_a_wrapper():
    """Elements of the lab: and sdtc: namespaces are located in the copy by position, not by path."""
    path = next(p for p in kit_examples() if p.name == "BIO-CR-BIO_2021.01_Microbiologie_V1.xml")
    produced = list(sv.variants(read_cda(path.read_bytes())))
    assert len(produced) > 100 and len({v.key for v in produced}) == len(produced)
