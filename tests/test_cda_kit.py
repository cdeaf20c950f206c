"""The official ANS CDA kit run in-process (``segur validate cda --kit``), read from ../shared."""

from __future__ import annotations

import json
import pickle
import threading
from pathlib import Path

import pytest
from lxml import etree

from harness.cli import main
from harness.content.cda import kit as kit_module
from harness.content.cda import read_cda, validate_cda
from harness.content.cda.kit import KitError, OfficialKit
from harness.core.results import Severity
from harness.protocols.cda_document import NS
from harness.run.sut.reference_cda import build_n1_document
from tests.test_cda_rules import PATIENT, kit_examples

pytestmark = pytest.mark.skipif(
    not kit_examples(), reason="ANS CDA kit not found (../shared/reference or SEGUR_REFERENCE_DIR)"
)
# Examples the kit itself rejects: value sets have moved on since they were written (author
# specialties G15_10/SCH10 and SCH16 left JDV_J01; a name qualifier StrucMin now refuses), and
# the generic content-model showcase that belongs to no volet.
KIT_REJECTS = {
    "01_Modèles_contenus_CDA.xml",
    "CANCER-FRCP_2022.01_Appareil.xml",
    "CANCER-FRCP_2022.01_Transversale.xml",
    "TLM-DA_2022.01_TCG.xml",
    "TLM-DA_2022.01_TCG_anamnèse-non-structurée.xml",
    "TLM-DA_2022.01_TE1_anamnèse-non-structurée.xml",
    "eDISP-MED_2024.01.xml",
}


# Session scope: compiling the kit costs seconds, and under pytest-xdist a worker may come back to
# this module after running others (worksteal), which would compile it again with module scope.
@pytest.fixture(scope="session")
def kit_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("kit-cache")


@pytest.fixture(scope="session")
def kit(kit_cache) -> OfficialKit:
    return OfficialKit(kit_examples()[0].parent.parent, cache_dir=kit_cache)


def kit_errors(kit: OfficialKit, raw: bytes, volet: str | None = None) -> list[str]:
    report = kit.validate(read_cda(raw), raw, volet)
    return [f.rule for f in report.findings if f.severity is Severity.ERROR]


def test_every_example_the_kit_is_expected_to_reject_exists():
    assert KIT_REJECTS - {path.name for path in kit_examples()} == set()


# One test per example, so that pytest-xdist spreads the kit's runs over the cores.
@pytest.mark.slow
@pytest.mark.parametrize("path", kit_examples(), ids=lambda path: path.name)
def test_kit_verdict_on_the_example_and_own_rules_agree_where_the_kit_accepts(kit, path):
    raw = path.read_bytes()
    if path.name in KIT_REJECTS:
        assert kit_errors(kit, raw), "the kit accepts an example listed in KIT_REJECTS"
    else:
        assert kit_errors(kit, raw) == []
        own = validate_cda(raw)
        assert [f.rule for f in own.findings if f.severity is Severity.ERROR] == [], (
            "the own rules must not reject what the kit accepts"
        )


def test_the_reference_products_document_passes_the_kit(kit):
    assert kit_errors(kit, build_n1_document(PATIENT)) == []


def example(name: str) -> etree._Element:
    return etree.fromstring((kit_examples()[0].parent / name).read_bytes())


def test_a_missing_mandatory_section_fails_the_volet_schematron(kit):
    root = example("LDL-SES_2022.01.xml")
    section = root.xpath("//c:section[c:templateId/@root='1.2.250.1.213.1.1.2.35.1']", namespaces=NS)[0]
    section.getparent().getparent().remove(section.getparent())
    errors = kit_errors(kit, etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    assert any(e.startswith("kit:CI-SIS_LDL-SES_2022.01:") for e in errors), errors


def test_an_element_the_schema_does_not_know_fails_the_xsd(kit):
    root = example("DOC_NON_STRUCTURE_CDA-R2-N1.xml")
    root.find("c:title", NS).addnext(etree.Element("{urn:hl7-org:v3}unknownElement"))
    assert "kit:CDA_extended.xsd" in kit_errors(kit, etree.tostring(root))


def test_a_header_code_without_display_name_fails_structuration_minimale(kit):
    root = etree.fromstring(build_n1_document(PATIENT))
    del root.find("c:author/c:assignedAuthor/c:code", NS).attrib["displayName"]
    errors = kit_errors(kit, etree.tostring(root))
    assert errors and all(e.startswith("kit:ASIP-STRUCT-MIN-StrucMin:") for e in errors)


def test_findings_keep_the_kit_message_and_say_which_kit_produced_them(kit):
    raw = (kit_examples()[0].parent / "eDISP-MED_2024.01.xml").read_bytes()
    finding = next(f for f in kit.validate(read_cda(raw), raw).findings if f.severity is Severity.ERROR)
    assert (
        "qualifiers" in finding.message
        and finding.location == "/ClinicalDocument/recordTarget/patientRole/patient/name"
    )
    assert finding.line and finding.line > 1 and finding.requirement == "CDA-01"
    assert finding.evidence == (f"kit {kit.version}",)


def test_kit_defects_are_diagnosed(kit):
    messages = {(d.severity, d.message) for d in kit.diagnose()}
    assert any(s == "warning" and "resolved case-insensitively" in m for s, m in messages)
    assert any(s == "error" and "BIO-CR-BIO_2023.01" in m and "not found" in m for s, m in messages)
    assert any(s == "warning" and "voc-1.2.250.1.213.1.1.5.471-DYNAMIC.xml' is missing" in m for s, m in messages)


def test_the_volet_comes_from_the_document_when_not_given(kit):
    raw = (kit_examples()[0].parent / "LDL-SES_2022.01.xml").read_bytes()
    without_hint = raw.replace(b"oxygen SCHSchema", b"oxygen-removed x")
    doc = read_cda(without_hint)
    assert kit.volet_for(doc, without_hint).name == "CI-SIS_LDL-SES_2022.01.sch"
    assert kit.volet_for(doc, without_hint, "CI-SIS_LDL-EES_2022.01").name == "CI-SIS_LDL-EES_2022.01.sch"
    with pytest.raises(KitError, match="no volet schematron"):
        kit.volet_for(doc, without_hint, "CI-SIS_NOPE")


def test_schematrons_are_compiled_once_and_reused(kit):
    raw = build_n1_document(PATIENT)
    kit.validate(read_cda(raw), raw)
    compiled = dict(kit._compiled)
    kit.validate(read_cda(raw), raw)
    assert kit._compiled == compiled and all(kit._compiled[k] is compiled[k] for k in compiled)


def test_cli_json_names_the_kit_and_its_diagnostics(tmp_path, capsys):
    path = tmp_path / "n1.xml"
    path.write_bytes(build_n1_document(PATIENT, frozenset({"cda_ins_not_first"})))
    kit_dir = str(kit_examples()[0].parent.parent)
    cache = str(tmp_path / "cache")
    status = main(["validate", "cda", str(path), "--kit", kit_dir, "--kit-cache", cache, "--format", "json"])
    output = json.loads(capsys.readouterr().out)
    assert status == 1
    assert output["kit"]["version"].startswith("ans-cda-kit") and output["kit"]["diagnostics"]
    assert "cda.ins" in {f["rule"] for f in output["results"][0]["findings"]}
    assert output["results"][0]["kit_schematrons"][-1] == "CI-SIS_Modeles_ANS.sch"
    assert list((tmp_path / "cache").rglob("*.json")), "--kit-cache names where the XSLT is kept"


def test_cli_refuses_a_folder_that_is_not_a_kit(tmp_path, capsys):
    path = tmp_path / "n1.xml"
    path.write_bytes(build_n1_document(PATIENT))
    assert main(["validate", "cda", str(path), "--kit", str(tmp_path)]) == 2
    assert "is not an ANS CDA kit folder" in capsys.readouterr().err
    assert main(["validate", "cda", str(path), "--volet", "CI-SIS_LDL-SES_2022.01"]) == 2


# -- --jobs N: the kit in worker processes ------------------------------------------------------
# Examples of different volets and verdicts (one the kit rejects, one level-1 document), so that a
# result out of place or a kit built otherwise in a worker changes the output.
PARALLEL_EXAMPLES = (
    "LDL-SES_2022.01.xml",
    "eDISP-MED_2024.01.xml",
    "DOC_NON_STRUCTURE_CDA-R2-N1.xml",
    "VAC_2023.01.xml",
    "CSE-MDE_2023.01.xml",
)


@pytest.mark.slow
def test_kit_workers_give_the_serial_output_byte_for_byte(tmp_path, capsys, kit_cache):
    folder = kit_examples()[0].parent
    broken, own_defect = tmp_path / "broken.xml", tmp_path / "n1-ins-not-first.xml"
    broken.write_bytes(b"<oops")
    own_defect.write_bytes(build_n1_document(PATIENT, frozenset({"cda_ins_not_first"})))
    files = [str(folder / name) for name in PARALLEL_EXAMPLES[:3]] + [str(broken), str(own_defect)]
    files += [str(folder / name) for name in PARALLEL_EXAMPLES[3:]]
    # The session's XSLT cache: each side still builds its own kit and compiles it with Saxon.
    argv = ["validate", "cda", *files, "--kit", str(folder.parent), "--kit-cache", str(kit_cache)]
    argv += ["--format", "json"]

    serial_status = main([*argv, "--jobs", "1"])
    serial = capsys.readouterr()
    parallel_status = main([*argv, "--jobs", "2"])
    parallel = capsys.readouterr()

    assert parallel.out == serial.out and parallel_status == serial_status == 2
    assert "worker 1 ready" in parallel.err and "ready in" not in serial.err
    assert f"{len(files)}/{len(files)} files judged" in parallel.err
    output = json.loads(serial.out)
    results = output["results"]
    assert [r["file"] for r in results] == files
    verdicts = {Path(r["file"]).name: r.get("error") or r["valid"] for r in results}
    assert verdicts["LDL-SES_2022.01.xml"] is True and verdicts["eDISP-MED_2024.01.xml"] is False
    assert verdicts["broken.xml"].startswith("not well-formed") and verdicts["n1-ins-not-first.xml"] is False
    assert {r["kit_schematrons"][-1] for r in results if "kit_schematrons" in r} >= {
        "CI-SIS_LDL-SES_2022.01.sch",
        "CI-SIS_VAC_2023.01.sch",
    }
    assert output["kit"]["diagnostics"], "the parent gathers the diagnostics of what the workers run"


def test_a_worker_kit_starts_from_the_parents_xslt_without_compiling(kit, monkeypatch):
    relative = "profils/IHE.sch"
    recipe = pickle.loads(pickle.dumps(kit.recipe([relative])))  # what a spawned worker receives
    assert f"schematrons/{relative}" in recipe.prepared

    def compile_refused(*args, **kwargs):
        raise AssertionError("a worker compiled a schematron the parent had prepared")

    monkeypatch.setattr(kit_module, "compile_schematron", compile_refused)
    worker = recipe.build()
    worker.cache = None  # not even the cache: the recipe alone
    raw = (kit_examples()[0].parent / "eDISP-MED_2024.01.xml").read_bytes()
    findings = worker.schematron(relative).run(raw)
    assert findings == kit.schematron(relative).run(raw)
    # The same kit without the recipe's XSLT has to compile: the check above can fail.
    bare = kit_module.OfficialKit(kit.root, cache_dir=False)
    with pytest.raises(AssertionError, match="compiled a schematron"):
        bare.schematron(relative)


def test_preparing_from_a_generator_that_reads_the_kit_does_not_lock_it_up(kit):
    """``segur validate --jobs`` prepares from a generator calling ``volet_for``, which takes the lock."""

    def needed():
        kit.volets()
        yield "profils/IHE.sch"

    prepared: dict = {}
    worker = threading.Thread(target=lambda: prepared.update(kit.prepare(needed())), daemon=True)
    worker.start()
    worker.join(timeout=120)
    assert not worker.is_alive(), "prepare() deadlocked on the kit's own lock"
    assert "schematrons/profils/IHE.sch" in prepared


def test_no_kit_worker_is_started_when_no_file_is_a_cda(tmp_path, capsys):
    files = [tmp_path / "broken.xml", tmp_path / "fhir.xml"]
    files[0].write_bytes(b"<oops")
    files[1].write_bytes(b"<Bundle xmlns='http://hl7.org/fhir'/>")
    kit_dir = str(kit_examples()[0].parent.parent)
    status = main(["validate", "cda", *map(str, files), "--kit", kit_dir, "--kit-cache", "off", "--jobs", "2"])
    captured = capsys.readouterr()
    assert status == 2 and captured.out.count("UNREADABLE") == 2
    assert "ready in" not in captured.err and "2/2 files judged" in captured.err
