"""The INSi identity base: well-formed, valid keys, and faithful to the CNDA reference responses."""

from __future__ import annotations

import re
import tomllib

import pytest
from lxml import etree

from harness.core import ins
from harness.core.paths import data_dir

R = "{http://www.cnamts.fr/INSiResultat}"
REQUIRED = {
    "key": str,
    "cnda_case": str,
    "nom_naissance": str,
    "prenoms": list,
    "sexe": str,
    "date_naissance": str,
    "matricule": str,
    "oid": str,
    "source": str,
    "synthetic": bool,
}


@pytest.fixture(scope="module")
def base() -> dict:
    with (data_dir("fixtures") / "insi" / "identities.toml").open("rb") as handle:
        return tomllib.load(handle)


def test_entries_are_well_formed(base):
    keys = [e["key"] for e in base["identity"] + base["not_found"]]
    assert len(keys) == len(set(keys)), "keys are unique"
    for entry in base["identity"]:
        for name, kind in REQUIRED.items():
            assert isinstance(entry.get(name), kind), f"{entry.get('key')}: {name}"
        assert entry["sexe"] in ins.SEXES
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", entry["date_naissance"])
        assert entry["oid"] in ins.INS_OIDS
        if "lieu_naissance" in entry:
            assert ins.is_valid_cog(entry["lieu_naissance"]), entry["key"]


def test_matricules_are_valid_unless_the_source_is_not(base):
    for entry in base["identity"]:
        problems = ins.matricule_problems(entry["matricule"])
        assert bool(problems) == entry.get("key_inconsistent_in_source", False), (entry["key"], problems)
        card = entry.get("carte_vitale")
        if card:
            assert ins.is_valid_matricule(card["matricule_individu"]) and card["synthetic"] is True


def test_several_found_case_has_identical_traits_and_not_found_case_is_absent(base):
    traits = [(e["nom_naissance"], e["sexe"], e["date_naissance"]) for e in base["identity"]]
    assert traits.count(("DE VINCI", "M", "2014-02-01")) == 2
    assert ("HOUILLES", "M", "1993-01-27") not in traits


def test_reference_responses_agree_with_the_base(base, reference):
    by_matricule = {e["matricule"]: e for e in base["identity"]}
    checked = 0
    for path in sorted((reference / "insi" / "responses").glob("TEST_*.xml")):
        individu = etree.parse(str(path)).find(f".//{R}INDIVIDU")
        active = individu.find(f"{R}INSACTIF/{R}IdIndividu")
        matricule = active.findtext(f"{R}NumIdentifiant") + active.findtext(f"{R}Cle")
        entry = by_matricule[matricule]
        tiq = individu.find(f"{R}TIQ")
        assert tiq.findtext(f"{R}NomNaissance") == entry["nom_naissance"], path.name
        assert tiq.findtext(f"{R}ListePrenom") == " ".join(entry["prenoms"]), path.name
        assert tiq.findtext(f"{R}DateNaissance") == entry["date_naissance"], path.name
        assert tiq.findtext(f"{R}LieuNaissance") == entry["lieu_naissance"], path.name
        assert individu.findtext(f"{R}INSACTIF/{R}OID") == entry["oid"], path.name
        history = [
            h.findtext(f"{R}IdIndividu/{R}NumIdentifiant") + h.findtext(f"{R}IdIndividu/{R}Cle")
            for h in individu.findall(f"{R}INSHISTO")
        ]
        assert history == [h["matricule"] for h in entry.get("history", [])], path.name
        checked += 1
    assert checked == 4
