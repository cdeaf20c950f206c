"""The words every report and the terminal share, in French and English.

One place so that the terminal summary, report.html and the other writers say the same thing:
criticité, verdicts, why a requirement was not evaluated, and the system under test
described in words rather than as the adapter's raw description.
"""

from __future__ import annotations

from typing import Any

from harness.core.results import SkipKind, Verdict

CRITICITE = {
    "fr": {"CRITICAL": "Critique", "MAJOR": "Majeure", "MINOR": "Mineure"},
    "en": {"CRITICAL": "Critical", "MAJOR": "Major", "MINOR": "Minor"},
}

VERDICT = {
    "fr": {
        Verdict.CONFORME: "Conforme",
        Verdict.NON_CONFORME: "Non conforme",
        Verdict.INCOMPLET: "Incomplet",
        Verdict.ERREUR: "Erreur du harnais",
    },
    "en": {
        Verdict.CONFORME: "Conformant",
        Verdict.NON_CONFORME: "Not conformant",
        Verdict.INCOMPLET: "Incomplete",
        Verdict.ERREUR: "Harness error",
    },
}

SKIP_KIND = {
    "fr": {
        SkipKind.NOT_PERFORMED: "action non réalisée",
        SkipKind.BLOCKED: "bloquée par une autre exigence",
        SkipKind.NOT_AUTOMATED: "non automatisée",
        SkipKind.NOT_REJUDGEABLE: "non rejugeable",
        SkipKind.NOT_OBSERVED: "non observée dans la session",
        SkipKind.PROFILE_NOT_HELD: "profil non disponible",
        SkipKind.ATTESTATION: "attestation",
        SkipKind.NOT_CONFIGURED: "non configurée",
    },
    "en": {
        SkipKind.NOT_PERFORMED: "action not performed",
        SkipKind.BLOCKED: "blocked by another requirement",
        SkipKind.NOT_AUTOMATED: "not automated",
        SkipKind.NOT_REJUDGEABLE: "not rejudgeable",
        SkipKind.NOT_OBSERVED: "not observed in the session",
        SkipKind.PROFILE_NOT_HELD: "profile not held",
        SkipKind.ATTESTATION: "attestation",
        SkipKind.NOT_CONFIGURED: "not configured",
    },
}

SUT_KIND = {
    "fr": {
        "reference": "client de référence intégré",
        "command": "produit piloté par commandes",
        "manual": "produit piloté à la main",
        "replay": "enregistrement rejugé",
        "observed": "produit observé dans une session",
    },
    "en": {
        "reference": "built-in reference client",
        "command": "product driven by commands",
        "manual": "product driven by hand",
        "replay": "replayed recording",
        "observed": "product observed in a session",
    },
}

_SUT_WORDS = {
    "fr": {"version": "version", "defects": "défauts injectés", "none": "aucun", "actions": "actions associées"},
    "en": {"version": "version", "defects": "injected defects", "none": "none", "actions": "mapped actions"},
}


def criticite(code: str, lang: str) -> str:
    return CRITICITE[lang].get(code, code)


def describe_sut(sut: dict[str, Any], lang: str) -> str:
    """The system under test in one sentence: its name, what kind of adapter drives it, and options."""
    words = _SUT_WORDS[lang]
    parts = [str(sut.get("name") or "?")]
    if sut.get("version"):
        parts[0] += f" {words['version']} {sut['version']}"
    kind = str(sut.get("kind", ""))
    details = [SUT_KIND[lang].get(kind, kind)] if kind else []
    if kind == "reference":
        defects = sut.get("defects") or []
        details.append(f"{words['defects']} : " if lang == "fr" else f"{words['defects']}: ")
        details[-1] += ", ".join(defects) if defects else words["none"]
    if kind == "command" and "actions" in sut:
        details.append(f"{len(sut['actions'])} {words['actions']}")
    if details:
        return f"{parts[0]} ({(' ; ' if lang == 'fr' else '; ').join(details)})"
    return parts[0]
