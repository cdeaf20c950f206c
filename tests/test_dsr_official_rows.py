"""`segur requirements --dsr` on an export rebuilt from official rows, against the real catalog.

The rows are those of ANS's Squash import workbook (ansforge/segur-squash-plugins@e1f08d1,
macros/import_gsheet/import_gsheet_sans_modele.xlsx; sheet and row in each comment), written in
the column layout of the Convergence export (template-export-convergence.xlsx: the number
without its SC. prefix in "ID", the statement in "Exigence", the criticité in French). The
statements are shortened; the numbers are the official ones.
"""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl

from harness import cli
from tests.test_dsr_import import SQUASH_HEADER


def official(ref: str, statement: str, scenario: str = "", criticite: str = "Majeure") -> list[object]:
    number = f"{ref}.01" if scenario else ""
    return ["Vague 2", ref, ref.split("/")[0].split(".")[0], "", statement, "", "Général", number, scenario,
            f"{number}.01" if scenario else "", "", "", criticite, 1]  # fmt: skip


ROWS = [
    # prepub_avec_scenarios row 66
    official("INS/va1.28", "Le système NE DOIT PAS rapatrier une INS retournée par INSi si elle contient une date "
             "de naissance comportant des « 00 » en guise de jour et/ou de mois de naissance", "vérifier", "Critique"),
    # prepub_avec_scenarios rows 67-69
    official("INS/va1.31", "Le système NE DOIT PAS rapatrier une INS retournée par INSi si elle contient un champ "
             "nom de naissance et/ou prénom(s) de naissance et/ou sexe vide", "vérifier", "Critique"),
    # prepub_avec_scenarios row 106
    official("INS/va1.08", "Si cet appel se traduit par un retour KO, le système DOIT rétrograder le statut de "
             "l'identité et supprimer/invalider le matricule INS et son OID", "vérifier", "Critique"),
    # db_ghseet_socle row 95
    official("DMP/CONF.05", "Le système ne DOIT pas demander d'autorisation d'accès au DMP (TD0.3) pour "
             "l'alimentation et/ou la suppression de documents."),
    # db_ghseet_socle rows 106 and 107
    official("DMP/ALI/PROG.06", "Lorsque la connexion au DMP n'est techniquement pas possible, le système DOIT "
             "systématiquement placer en attente l'ordre d'envoi des documents DMP concernés"),
    official("DMP/ALI/PROG.07", "À partir du moment où la connexion au DMP est à nouveau techniquement possible, le "
             "système DOIT automatiquement exécuter les ordres d'envois au DMP placés en attente"),
    # db_ghseet_socle rows 158, 166 and 170
    official("MSS/CONF.03", "Le système DOIT uniquement utiliser l'une des suites de chiffrement suivantes"),
    official("MSS/CONF.21", "Le système DOIT pouvoir positionner un entête SMTP \"X-MSS-MES\" [...] avec la valeur "
             "\"FIN\""),
    official("MSS/CONF.27", "Le système DOIT accepter uniquement un certificat issu de l'IGC Santé gamme Elementaire "
             "Organisation lorsqu'il se connecte à une interface API LPS d'un système de messagerie MSSanté", "",
             "Critique"),
    # db_ghseet_socle row 61 (DMP consultation with the PSC identity, through the PSC -> VIHF proxy)
    official("DMP/PSC.01", "Si le moyen d'identification électronique de l'utilisateur sur le système est Pro Santé "
             "Connect, le système DOIT permettre son utilisation pour l'appel sécurisé des API DMP"),
    # db_ghseet_socle row 126: in the catalog as an attestation (INS-15)
    official("DMP/UX.11", "Le système DOIT afficher le statut de l'identité"),
    # db_ghseet_socle row 169 is MSS-12; row 233 is not in the catalog
    # (PSC.10 also asks for INSi: DMP-30 covers DMP/PSC.01 only)
    official("MSS/CONF.22", "Le système DOIT s'assurer de conserver la dernière CRL non expirée"),
    official("PSC.10", "Le système DOIT permettre son utilisation pour l'appel sécurisé des API des fournisseurs de "
             "données en santé (INSi, DMP, Ordonnance Numérique)"),
]  # fmt: skip

EXPECTED = {
    "INS/va1.28": ("automated", ["INS-17"]),
    "INS/va1.31": ("automated", ["INS-18"]),
    "INS/va1.08": ("automated", ["INS-19"]),
    "DMP/CONF.05": ("automated", ["DMP-14"]),
    "DMP/ALI/PROG.06": ("automated", ["DMP-15"]),
    "DMP/ALI/PROG.07": ("automated", ["DMP-15"]),
    "MSS/CONF.03": ("automated", ["MSS-09"]),
    "MSS/CONF.21": ("automated", ["MSS-10"]),
    "MSS/CONF.27": ("automated", ["MSS-11"]),
    "DMP/PSC.01": ("automated", ["DMP-30"]),
    "DMP/UX.11": ("attested", ["INS-15"]),
    "MSS/CONF.22": ("automated", ["MSS-12"]),
    "PSC.10": ("not covered", []),
}


def write_export(path: Path) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Exigences"
    sheet.append(SQUASH_HEADER)
    for row in ROWS:
        sheet.append(row)
    workbook.save(path)
    return path


def test_export_of_official_rows_reports_automated_attested_and_not_covered(tmp_path, capsys):
    export = write_export(tmp_path / "dsr.xlsx")
    assert cli.main(["requirements", "--dsr", str(export), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    found = {
        item["official_ref"]: (item["status"], [link["id"] for link in item["catalog"]])
        for item in document["official"]
    }
    assert found == EXPECTED
    assert document["counts"] == {"automated": 11, "attested": 1, "not covered": 1}
    assert all(link["via"] == "official_ref without prefix" for i in document["official"] for link in i["catalog"])


def test_text_report_names_each_official_requirement_with_its_status(tmp_path, capsys):
    export = write_export(tmp_path / "dsr.xlsx")
    assert cli.main(["requirements", "--dsr", str(export)]) == 0
    out = capsys.readouterr().out
    assert "13 official requirements" in out and "11 automated, 1 attested, 1 not covered" in out
    assert "PSC.10" in out and "MSS-12" in out and "INS-17" in out
