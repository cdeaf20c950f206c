"""The project's schematron compiler against the ISO skeleton the ANS kit's own scripts use.

The kit upstream compiles each schematron with iso_dsdl_include.xsl, iso_abstract_expand.xsl and
iso_svrl_for_xslt2.xsl (+ iso_schematron_skeleton_for_saxon.xsl), then runs the result with
Saxon. This test does the same with saxonche when ``SEGUR_ISO_SKELETON_DIR`` names a folder
holding those four files (they are not shipped with the project), and requires the same failed
assertions and reports, at the same locations, on every example of the kit.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from lxml import etree

from harness.content.cda import read_cda
from harness.content.cda.kit import PROFILES, SCHEMATRONS, OfficialKit
from harness.content.schematron.compiler import _check_documents, _load
from harness.content.schematron.saxon import _processor, parse_svrl
from tests.test_cda_rules import kit_examples

SKELETON = Path(os.environ.get("SEGUR_ISO_SKELETON_DIR", "/nonexistent"))
STEPS = ["iso_dsdl_include.xsl", "iso_abstract_expand.xsl", "iso_svrl_for_xslt2.xsl"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not all((SKELETON / s).is_file() for s in STEPS), reason="SEGUR_ISO_SKELETON_DIR (ISO skeleton XSLT) not set"
    ),
    pytest.mark.skipif(not kit_examples(), reason="ANS CDA kit not found (../shared/reference or SEGUR_REFERENCE_DIR)"),
]


class SkeletonSchematron:
    """A schematron compiled the way the kit's scripts do, with the ISO skeleton."""

    def __init__(self, path: Path, kit: OfficialKit):
        # Includes are expanded by the project (the kit's own include step fails on Linux, where
        # letter case matters): what is compared is abstract patterns, rules, phases and lets.
        diagnostics: list = []
        schema = _load(path, diagnostics)
        _check_documents(schema, path, diagnostics, kit._substitute_value_set)
        processor = _processor()
        text = etree.tostring(schema, encoding="unicode")
        for step in STEPS[1:]:
            executable = processor.new_xslt30_processor().compile_stylesheet(stylesheet_file=str(SKELETON / step))
            text = executable.transform_to_string(xdm_node=processor.parse_xml(xml_text=text))
        root = etree.fromstring(text.encode("utf-8"))
        root.set("{http://www.w3.org/XML/1998/namespace}base", path.as_uri())  # the kit writes X.xsl next to X.sch
        self.executable = processor.new_xslt30_processor().compile_stylesheet(
            stylesheet_text=etree.tostring(root, encoding="unicode")
        )

    def run(self, document: bytes) -> set[tuple[str, str, str]]:
        node = _processor().parse_xml(xml_text=document.decode("utf-8-sig"))
        output = self.executable.transform_to_string(xdm_node=node)
        return {(r.kind, steps(r.location), r.text) for r in parse_svrl(output.encode("utf-8"))}


def steps(location: str) -> str:
    """Both location styles (the skeleton's ``*:x[namespace-uri()='…'][n]`` and ``path()``'s
    ``Q{…}x[n]``) as ``/x[n]/y[m]/@a``."""
    out = []
    for step in re.findall(r"/([^/\[]+(?:\[[^\]]*\])*)", location):
        name = re.sub(r"^(\*:|Q\{[^}]*\})", "", step.split("[", 1)[0])
        position = re.findall(r"\[(\d+)\]", step)
        out.append(f"{name}[{position[-1] if position else 1}]" if not name.startswith("@") else name)
    return "/" + "/".join(out)


def test_same_assertions_as_the_iso_skeleton_on_every_kit_example():
    kit = OfficialKit(kit_examples()[0].parent.parent)
    skeletons: dict[Path, SkeletonSchematron] = {}
    differences = {}
    for example in kit_examples():
        raw = example.read_bytes()
        doc = read_cda(raw)
        relatives = [p for _, p, _ in PROFILES]
        volet = kit.volet_for(doc, raw)
        if volet is not None:
            relatives.append(volet.name)
        cda = raw if doc.wrapper is None else etree.tostring(doc.root, encoding="UTF-8")
        for relative in relatives:
            path = kit.root / SCHEMATRONS / relative
            if path not in skeletons:
                skeletons[path] = SkeletonSchematron(path, kit)
            ours = {(r.kind, steps(r.location), r.text) for r in kit.schematron(relative).run(cda)}
            theirs = skeletons[path].run(cda)
            if ours != theirs:
                differences[f"{example.name} / {relative}"] = (sorted(ours - theirs)[:3], sorted(theirs - ours)[:3])
    assert differences == {}
