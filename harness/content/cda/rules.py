"""The project's own CDA header rules (CI-SIS "Structuration minimale"), one function per rule.

Each rule is registered with a stable id and the catalog requirement it supports; its data
(cardinalities, OIDs, value sets, the volet table) comes from ``profiles/cda/``.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from lxml import etree

from harness.core.paths import data_dir
from harness.core.results import Finding, Severity
from harness.protocols.cda_document import CdaDocument, location

XSI = "http://www.w3.org/2001/XMLSchema-instance"
Check = Callable[[CdaDocument, "Context"], Iterator[Finding]]


@dataclass(frozen=True)
class Context:
    profile: dict[str, Any]
    value_sets: dict[str, Any]
    target: str | None  # "dmp" when the document is meant for the DMP


@dataclass(frozen=True)
class Rule:
    id: str
    requirement: str
    summary: str
    check: Check


RULES: dict[str, Rule] = {}


def rule(rule_id: str, requirement: str, summary: str) -> Callable[[Check], Check]:
    def register(check: Check) -> Check:
        if rule_id in RULES:
            raise ValueError(f"CDA rule id {rule_id} is registered twice")
        RULES[rule_id] = Rule(rule_id, requirement, summary, check)
        return check

    return register


@cache
def load_context_data() -> tuple[dict[str, Any], dict[str, Any]]:
    folder = data_dir("profiles") / "cda"
    with (folder / "header.toml").open("rb") as handle:
        profile = tomllib.load(handle)
    value_sets = json.loads((folder / "valuesets.json").read_text(encoding="utf-8"))["value_sets"]
    return profile, value_sets


def finding(
    rule_id: str,
    message: str,
    element: etree._Element | None,
    *,
    message_fr: str,
    expected: str | None = None,
    received: str | None = None,
    expected_fr: str | None = None,
    received_fr: str | None = None,
    severity: Severity = Severity.ERROR,
) -> Finding:
    """A finding of rule ``rule_id`` on ``element``; ``message_fr`` (and the optional ``*_fr``) are the French."""
    return Finding(
        rule=rule_id,
        message=message,
        message_fr=message_fr,
        expected_fr=expected_fr,
        received_fr=received_fr,
        severity=severity,
        requirement=RULES[rule_id].requirement if rule_id in RULES else None,
        location=location(element) if element is not None else None,
        expected=expected,
        received=received,
        line=element.sourceline if element is not None else None,
    )


def _in(value_sets: dict[str, Any], key: str, code: str | None, system: str | None) -> bool:
    return [code, system] in value_sets[key]["concepts"]


# -- structure -----------------------------------------------------------------------------------
@rule("cda.cardinality", "CDA-01", "level-1 elements of ClinicalDocument with the CI-SIS cardinalities")
def cardinality(doc: CdaDocument, ctx: Context) -> Iterator[Finding]:
    for name, (low, high) in ctx.profile["cardinality"].items():
        count = len(doc.findall(f"c:{name}"))
        if count < low or (high != -1 and count > high):
            expected = f"{low}..{'*' if high == -1 else high}"
            yield finding(
                "cda.cardinality",
                f"{name} occurs {count} time(s)",
                doc.root,
                message_fr=f"{name} apparaît {count} fois",
                expected=expected,
                received=str(count),
            )


@rule("cda.fixed-values", "CDA-01", "realmCode FR, typeId, the two mandatory templateIds, N1 or volet template")
def fixed_values(doc: CdaDocument, ctx: Context) -> Iterator[Finding]:
    d = ctx.profile["document"]
    realm = doc.find("c:realmCode")
    if realm is not None and realm.get("code") != d["realm_code"]:
        yield finding(
            "cda.fixed-values",
            "realmCode must be FR",
            realm,
            message_fr="realmCode doit valoir FR",
            expected="FR",
            received=realm.get("code"),
        )
    type_id = doc.find("c:typeId")
    if type_id is not None and (type_id.get("root"), type_id.get("extension")) != (
        d["type_id_root"],
        d["type_id_extension"],
    ):
        yield finding(
            "cda.fixed-values",
            "typeId is not the CDA R2 one",
            type_id,
            message_fr="typeId n'est pas celui de CDA R2",
            expected=f"{d['type_id_root']} / {d['type_id_extension']}",
            received=f"{type_id.get('root')} / {type_id.get('extension')}",
        )
    roots = [t.get("root") for t in doc.findall("c:templateId")]
    missing = [t for t in d["required_templates"] if t not in roots]
    if missing:
        yield finding(
            "cda.fixed-values",
            "mandatory document templateIds are missing",
            doc.root,
            message_fr="des templateId obligatoires du document sont absents",
            expected=", ".join(d["required_templates"]),
            received=", ".join(map(str, roots)),
        )
    volets = {v["template"] for v in ctx.profile["volet"]}
    if len(roots) >= 3 and d["xds_sd_template"] not in roots and not (set(roots) - set(d["required_templates"])):
        yield finding(
            "cda.fixed-values",
            "a third templateId (XDS-SD or the volet's) is required",
            doc.root,
            message_fr="un troisième templateId (XDS-SD ou celui du volet) est obligatoire",
            expected=f"{d['xds_sd_template']} or a volet templateId such as {sorted(volets)[0]}",
            expected_fr=f"{d['xds_sd_template']} ou un templateId de volet, par exemple {sorted(volets)[0]}",
            received=", ".join(map(str, roots)),
        )


@rule("cda.title", "CDA-01", "title of at most 128 characters")
def title(doc: CdaDocument, ctx: Context) -> Iterator[Finding]:
    element = doc.find("c:title")
    limit = ctx.profile["document"]["title_max_length"]
    if element is not None and len("".join(element.itertext())) > limit:
        yield finding(
            "cda.title",
            "title is too long",
            element,
            message_fr="le titre est trop long",
            expected=f"≤ {limit} characters",
            expected_fr=f"≤ {limit} caractères",
            received=str(len("".join(element.itertext()))),
        )


@rule("cda.language", "CDA-01", "languageCode ll-CC (fr-FR expected)")
def language(doc: CdaDocument, ctx: Context) -> Iterator[Finding]:
    element = doc.find("c:languageCode")
    d = ctx.profile["document"]
    if element is None or element.get("nullFlavor"):
        return
    code = element.get("code") or ""
    if not re.match(d["language_pattern"], code):
        yield finding(
            "cda.language",
            "languageCode is not a language-COUNTRY code",
            element,
            message_fr="languageCode n'est pas un code langue-PAYS",
            expected=d["language_expected"],
            received=code,
        )
    elif code != d["language_expected"]:
        yield finding(
            "cda.language",
            "languageCode is not fr-FR",
            element,
            message_fr="languageCode n'est pas fr-FR",
            expected=d["language_expected"],
            received=code,
            severity=Severity.WARNING,
        )


@rule("cda.schema-location", "CDA-01", "xsi:schemaLocation is not filled in")
def schema_location(doc: CdaDocument, ctx: Context) -> Iterator[Finding]:
    value = doc.root.get(f"{{{XSI}}}schemaLocation")
    if value:
        yield finding(
            "cda.schema-location",
            "xsi:schemaLocation is filled in",
            doc.root,
            message_fr="xsi:schemaLocation est renseigné",
            expected="absent",
            received=value,
            severity=Severity.WARNING,
        )
