"""Value sets (JDV) in the IHE SVS format the ANS kit uses, and the project's own value-set file.

``python -m harness.content.cda.jdv KIT_JDV_DIR profiles/cda/valuesets.json`` rebuilds the project's own
file from the JDV files of an ANS TestContenuCDA kit (the source of the facts): only the value
sets the header rules use, as (code, code system) pairs, with the JDV's OID, name and date.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from lxml import etree

SVS = "{urn:ihe:iti:svs:2008}"
# JDV files the header rules use: key -> file name in the kit's jeuxDeValeurs/ folder.
HEADER_VALUE_SETS = {
    "J02_healthcare_facility": "JDV_J02_XdsHealthcareFacilityTypeCode_CISIS.xml",
    "J04_practice_setting": "JDV_J04_XdsPracticeSettingCode_CISIS.xml",
    "J07_document_type": "JDV_J07_XdsTypeCode_CISIS.xml",
    "J143_administrative_gender": "JDV_J143_AdministrativeGender_CISIS.xml",
    "HL7_confidentiality": "JDV_HL7_Confidentiality_CISIS.xml",
}


def read_svs(path: Path) -> dict[str, object]:
    """One SVS value set: its OID, name, date and (code, codeSystem) pairs."""
    root = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True)).getroot()
    value_set = root.find(f"{SVS}ValueSet")
    if value_set is None:
        raise ValueError(f"{path}: no SVS ValueSet element")
    concepts = sorted({(c.get("code"), c.get("codeSystem")) for c in value_set.iter(f"{SVS}Concept")})
    return {
        "oid": value_set.get("id"),
        "name": value_set.get("displayName"),
        "date": value_set.get("dateMaj"),
        "concepts": [list(pair) for pair in concepts],
    }


def build(kit_jdv_dir: Path) -> dict[str, object]:
    return {
        "source": "ANS TestContenuCDA kit jeuxDeValeurs/ (ansforge/TestContenuCDA-3-0@7cd489b), extracted",
        "value_sets": {key: read_svs(kit_jdv_dir / name) for key, name in HEADER_VALUE_SETS.items()},
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m harness.content.cda.jdv KIT_JDV_DIR OUTPUT.json", file=sys.stderr)
        return 2
    data = build(Path(argv[0]))
    Path(argv[1]).write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
