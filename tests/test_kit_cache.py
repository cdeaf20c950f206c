"""The kit's generated XSLT kept across processes: keyed by the kit's files, never trusted blindly."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness.content.cda import kit as kit_module
from harness.content.cda.kit import KitError, OfficialKit
from harness.content.cda.kit_cache import kit_digest

IHE = "schematrons/profils/IHE.sch"


def tiny_kit(folder: Path, wanted: str = "urn:hl7-org:v3") -> Path:
    """The two files OfficialKit requires; the IHE schematron checks the root's namespace."""
    (folder / "infrastructure/cda").mkdir(parents=True)
    (folder / "infrastructure/cda/CDA_extended.xsd").write_text(
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"/>', encoding="utf-8"
    )
    (folder / "schematrons/profils").mkdir(parents=True)
    write_rule(folder, wanted)
    return folder


def write_rule(folder: Path, wanted: str) -> None:
    (folder / IHE).write_text(
        f"""<schema xmlns="http://purl.oclc.org/dsdl/schematron" queryBinding="xslt2">
      <pattern id="p"><rule context="/*">
        <assert id="ns" test="namespace-uri() = '{wanted}'">wrong namespace</assert>
      </rule></pattern></schema>""",
        encoding="utf-8",
    )


def fired(kit: OfficialKit) -> list[str | None]:
    return [r.id for r in kit.schematron("profils/IHE.sch").run(b'<ClinicalDocument xmlns="urn:hl7-org:v3"/>')]


def refuse_to_compile(monkeypatch):
    def compile_not_expected(*args, **kwargs):
        raise AssertionError("compiled although the cache holds it")

    monkeypatch.setattr(kit_module, "compile_schematron", compile_not_expected)


def test_a_second_kit_object_reads_the_xslt_from_the_cache(tmp_path, monkeypatch):
    root, cache = tiny_kit(tmp_path / "kit"), tmp_path / "cache"
    first = OfficialKit(root, cache_dir=cache)
    assert fired(first) == []
    entries = list(cache.rglob("*.json"))
    assert len(entries) == 1 and not [p for p in cache.rglob(".*") if p.is_file()], "no temporary file left"
    refuse_to_compile(monkeypatch)
    second = OfficialKit(root, cache_dir=cache)
    assert fired(second) == [] and second.cache is not None and second.cache.rebuilt == []


def test_the_key_changes_when_a_kit_file_changes(tmp_path, monkeypatch):
    root, cache = tiny_kit(tmp_path / "kit"), tmp_path / "cache"
    before = kit_digest(root)
    assert fired(OfficialKit(root, cache_dir=cache)) == []
    write_rule(root, "urn:other")
    assert kit_digest(root) != before
    assert fired(OfficialKit(root, cache_dir=cache)) == ["ns"], "the changed rule is compiled, not the old entry"
    (root / "jeuxDeValeurs").mkdir()
    (root / "jeuxDeValeurs/JDV_X.xml").write_text("<x/>", encoding="utf-8")
    assert kit_digest(root) not in {before}
    assert len({p.parent.parent for p in cache.rglob("*.json")}) == 2


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: b"{not json",
        lambda data: data[: len(data) // 2],
        lambda data: json.dumps({**json.loads(data), "xslt": "<xsl:stylesheet/>"}).encode(),
        lambda data: json.dumps({**json.loads(data), "documents": ["/nonexistent/vs.xml"]}).encode(),
        lambda data: json.dumps({**json.loads(data), "format": 0}).encode(),
    ],
    ids=["not-json", "truncated", "checksum", "document-gone", "other-format"],
)
def test_an_unusable_cache_entry_is_rebuilt_not_trusted(tmp_path, damage):
    root, cache = tiny_kit(tmp_path / "kit", "urn:other"), tmp_path / "cache"
    assert fired(OfficialKit(root, cache_dir=cache)) == ["ns"]
    (entry,) = cache.rglob("*.json")
    entry.write_bytes(damage(entry.read_bytes()))
    again = OfficialKit(root, cache_dir=cache)
    assert fired(again) == ["ns"]
    assert again.cache is not None and again.cache.rebuilt == ["schematrons/profils/IHE.sch"]
    assert json.loads(entry.read_bytes())["xslt"].startswith("<xsl:stylesheet"), "the entry is written again"


def test_no_cache_and_never_inside_the_kit(tmp_path, monkeypatch):
    root = tiny_kit(tmp_path / "kit")
    assert OfficialKit(root, cache_dir=False).cache is None
    monkeypatch.setenv("SEGUR_KIT_CACHE", "off")
    assert OfficialKit(root).cache is None
    monkeypatch.setenv("SEGUR_KIT_CACHE", str(tmp_path / "env-cache"))
    assert fired(OfficialKit(root)) == [] and list((tmp_path / "env-cache").rglob("*.json"))
    with pytest.raises(KitError, match="must not be inside the kit folder"):
        OfficialKit(root, cache_dir=root / "cache")


def test_concurrent_writers_leave_one_whole_entry(tmp_path):
    root, cache = tiny_kit(tmp_path / "kit"), tmp_path / "cache"
    kits = [OfficialKit(root, cache_dir=cache) for _ in range(2)]
    compiled = kits[0].schematron("profils/IHE.sch").compiled
    store = kits[1].cache.store if kits[1].cache else None
    assert store is not None
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: store("schematrons/profils/IHE.sch", compiled), range(40)))
    assert [p.name for p in cache.rglob("*") if p.is_file() and p.name.startswith(".")] == []
    reread = OfficialKit(root, cache_dir=cache)
    assert reread.cache is not None and reread.cache.load("schematrons/profils/IHE.sch") == compiled
