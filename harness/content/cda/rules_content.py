"""CDA header rules on identifiers, the patient's INS, nullFlavor, dates, codes and the body."""

from __future__ import annotations

import re
from collections.abc import Iterator

from harness.content.cda.rules import Context, _in, finding, rule
from harness.core import ins
from harness.core.results import Finding, Severity
from harness.protocols.cda_document import NS, CdaDocument


# -- identifiers ---------------------------------------------------------------------------------
@rule("cda.document-id", "CDA-02", "ClinicalDocument/id is an OID, root-only for the DMP")
def document_id(doc: CdaDocument, ctx: Context) -> Iterator[Finding]:
    element = doc.find("c:id")
    if element is None or element.get("nullFlavor"):
        return
    root = element.get("root") or ""
    if not re.match(ctx.profile["identifiers"]["oid_pattern"], root):
        yield finding(
            "cda.document-id",
            "id/@root is not an OID",
            element,
            message_fr="id/@root n'est pas un OID",
            expected="an OID",
            expected_fr="un OID",
            received=root,
        )
    if ctx.target == "dmp" and element.get("extension"):
        yield finding(
            "cda.document-id",
            "the DMP accepts only a root-only document id",
            element,
            message_fr="le DMP n'accepte qu'un identifiant de document réduit à sa racine",
            expected="id with @root only",
            expected_fr="id avec @root seul",
            received=f"extension {element.get('extension')!r}",
        )


@rule("cda.identifier-roots", "CDA-02", "professional and structure identifier roots (PS_IdNat, Struct_IdNat)")
def identifier_roots(doc: CdaDocument, ctx: Context) -> Iterator[Finding]:
    ids = ctx.profile["identifiers"]
    checks = [
        (
            "c:author/c:assignedAuthor/c:assignedPerson/../c:id",
            ids["professional_root"],
            "author (person)",
            "de l'auteur (personne)",
        ),
        (
            "c:author/c:assignedAuthor/c:representedOrganization/c:id",
            ids["structure_root"],
            "author organisation",
            "de la structure de l'auteur",
        ),
        (
            "c:informationRecipient/c:intendedRecipient/c:id",
            ids["professional_root"],
            "intended recipient",
            "du destinataire",
        ),
    ]
    for path, expected, what, what_fr in checks:
        for element in doc.findall(path):
            if not element.get("nullFlavor") and element.get("root") != expected:
                yield finding(
                    "cda.identifier-roots",
                    f"the {what} identifier has the wrong root",
                    element,
                    message_fr=f"l'identifiant {what_fr} n'a pas la racine attendue",
                    expected=expected,
                    received=element.get("root"),
                )
    for element in doc.findall("c:custodian/c:assignedCustodian/c:representedCustodianOrganization/c:id"):
        if element.get("root") not in ids["custodian_roots"]:
            yield finding(
                "cda.identifier-roots",
                "the custodian identifier has the wrong root",
                element,
                message_fr="l'identifiant du gardien (custodian) n'a pas la racine attendue",
                expected=" or ".join(ids["custodian_roots"]),
                expected_fr=" ou ".join(ids["custodian_roots"]),
                received=element.get("root"),
            )


# -- patient and INS -----------------------------------------------------------------------------
@rule("cda.ins", "CDA-03", "INS in recordTarget: first id, valid matricule, mandatory traits, forbidden elements")
def patient_ins(doc: CdaDocument, ctx: Context) -> Iterator[Finding]:
    role = doc.find("c:recordTarget/c:patientRole")
    if role is None:
        return
    patient = role.find("c:patient", NS)
    for name in ctx.profile["ins"]["forbidden_patient_elements"]:
        element = patient.find(f"c:{name}", NS) if patient is not None else None
        if element is not None:
            yield finding(
                "cda.ins",
                f"{name} is forbidden on the patient",
                element,
                message_fr=f"{name} est interdit sur le patient",
                expected="absent",
                received=name,
            )
    ids = role.findall("c:id", NS)
    ins_ids = [i for i in ids if i.get("root") in ctx.profile["ins"]["oids"]]
    if not ins_ids:
        return
    if ids[0] is not ins_ids[0]:
        yield finding(
            "cda.ins",
            "the INS must be the first patientRole/id",
            ins_ids[0],
            message_fr="l'INS doit être le premier patientRole/id",
            expected="first id",
            expected_fr="premier id",
            received=f"position {ids.index(ins_ids[0]) + 1}",
        )
    for element in ins_ids:
        problems = ins.matricule_problems(element.get("extension") or "")
        # A wrong key is a warning: the ANS kit does not check it (one of its own examples has one),
        # but INSi never returns such a matricule, so it points at a typing or storage error.
        only_key = len(problems) == 1 and problems[0].startswith("key ")
        if problems:
            yield finding(
                "cda.ins",
                "the matricule INS is not valid",
                element,
                message_fr="le matricule INS n'est pas valide",
                expected="a valid matricule INS",
                expected_fr="un matricule INS valide",
                received=f"{element.get('extension')!r}: {'; '.join(problems)}",
                severity=Severity.WARNING if only_key else Severity.ERROR,
            )
    if patient is None:
        yield finding(
            "cda.ins",
            "an INS requires the patient element and its traits",
            role,
            message_fr="une INS exige l'élément patient et ses traits",
            expected="patient",
        )
        return
    required = {
        "c:name/c:family[@qualifier='BR']": (
            "birth name (family qualifier BR)",
            "nom de naissance (family qualifier BR)",
        ),
        "c:name/c:given[not(@qualifier)]": (
            "the list of birth given names (given without qualifier)",
            "liste des prénoms de naissance (given sans qualifier)",
        ),
        "c:name/c:given[@qualifier='BR']": (
            "the first birth given name (given qualifier BR)",
            "premier prénom de naissance (given qualifier BR)",
        ),
        "c:administrativeGenderCode": ("administrativeGenderCode", "administrativeGenderCode"),
        "c:birthTime": ("birthTime", "birthTime"),
        "c:birthplace/c:place/c:addr/c:county": (
            "birthplace/place/addr/county (COG code)",
            "birthplace/place/addr/county (code COG)",
        ),
    }
    for path, (what, what_fr) in required.items():
        found = patient.xpath(path, namespaces=NS)
        if not found or (
            not (found[0].text or "").strip()
            and not found[0].get("code")
            and not found[0].get("value")
            and not found[0].get("nullFlavor")
        ):
            yield finding(
                "cda.ins",
                f"with an INS, {what} is mandatory",
                patient,
                message_fr=f"avec une INS, l'élément {what_fr} est obligatoire",
                expected=what,
                expected_fr=what_fr,
                received="absent",
            )
    county = patient.find("c:birthplace/c:place/c:addr/c:county", NS)
    if county is not None and county.text and not ins.is_valid_cog(county.text.strip()):
        yield finding(
            "cda.ins",
            "the birthplace county is not a COG code",
            county,
            message_fr="le county du lieu de naissance n'est pas un code COG",
            expected="a 5-character COG code",
            expected_fr="un code COG sur 5 caractères",
            received=county.text.strip(),
        )


@rule("cda.gender", "CDA-03", "administrativeGenderCode from JDV_J143")
def gender(doc: CdaDocument, ctx: Context) -> Iterator[Finding]:
    element = doc.find("c:recordTarget/c:patientRole/c:patient/c:administrativeGenderCode")
    if element is None or element.get("nullFlavor"):
        return
    if not _in(ctx.value_sets, "J143_administrative_gender", element.get("code"), element.get("codeSystem")):
        yield finding(
            "cda.gender",
            "administrativeGenderCode is not in JDV_J143",
            element,
            message_fr="administrativeGenderCode n'appartient pas au JDV_J143",
            expected="F, M or UN in 2.16.840.1.113883.5.1",
            received=f"{element.get('code')} in {element.get('codeSystem')}",
            expected_fr="F, M ou UN dans 2.16.840.1.113883.5.1",
            received_fr=f"{element.get('code')} dans {element.get('codeSystem')}",
        )


# -- nullFlavor and dates ------------------------------------------------------------------------
@rule("cda.null-flavor", "CDA-04", "nullFlavor restricted to UNK/NASK/ASKU/NAV/MSK and forbidden where required")
def null_flavor(doc: CdaDocument, ctx: Context) -> Iterator[Finding]:
    allowed, hl7 = ctx.profile["null_flavor"]["allowed"], ctx.profile["null_flavor"]["hl7"]
    header = [e for e in doc.root if isinstance(e.tag, str) and not e.tag.endswith("}component")]
    for top in header:
        for element in top.iter():
            value = element.get("nullFlavor") if isinstance(element.tag, str) else None
            if value and value not in allowed:
                severity = Severity.WARNING if value in hl7 else Severity.ERROR
                yield finding(
                    "cda.null-flavor",
                    "nullFlavor value outside the CI-SIS list",
                    element,
                    message_fr="valeur de nullFlavor hors de la liste CI-SIS",
                    expected=", ".join(allowed),
                    received=value,
                    severity=severity,
                )
    for path in ctx.profile["null_flavor"]["forbidden"]:
        steps = "/".join(f"c:{step}" for step in path.split("/"))
        for element in doc.findall(steps):
            if element.get("nullFlavor"):
                yield finding(
                    "cda.null-flavor",
                    f"nullFlavor is forbidden on {path}",
                    element,
                    message_fr=f"nullFlavor est interdit sur {path}",
                    expected="a value",
                    expected_fr="une valeur",
                    received=f"nullFlavor {element.get('nullFlavor')}",
                )


@rule("cda.dates", "CDA-05", "timestamps: to the minute or second with a ±ZZzz offset; effectiveTime to the second")
def dates(doc: CdaDocument, ctx: Context) -> Iterator[Finding]:
    d = ctx.profile["dates"]
    effective = doc.find("c:effectiveTime")
    if effective is not None and effective.get("value") and not re.match(d["effective_time"], effective.get("value")):
        yield finding(
            "cda.dates",
            "effectiveTime must be to the second with a UTC offset",
            effective,
            message_fr="effectiveTime doit être à la seconde avec un décalage UTC",
            expected="YYYYMMDDhhmmss±ZZzz",
            expected_fr="AAAAMMJJhhmmss±ZZzz",
            received=effective.get("value"),
        )
    header = [e for e in doc.root if isinstance(e.tag, str) and not e.tag.endswith("}component")]
    names = {"time", "effectiveTime", "birthTime", "low", "high", "center"}
    for top in header:
        for element in top.iter():
            if element is effective or not isinstance(element.tag, str) or element.tag.split("}")[-1] not in names:
                continue
            value = element.get("value")
            if value and not (re.match(d["with_time"], value) or re.match(d["date_only"], value)):
                # Warning below the document level: the ANS kit accepts examples with offsets like +100.
                yield finding(
                    "cda.dates",
                    "timestamp with a time part needs minutes and a ±ZZzz offset",
                    element,
                    message_fr="un horodatage portant une heure doit avoir les minutes et un décalage ±ZZzz",
                    expected="YYYYMMDD or YYYYMMDDhhmm[ss]±ZZzz",
                    expected_fr="AAAAMMJJ ou AAAAMMJJhhmm[ss]±ZZzz",
                    received=value,
                    severity=Severity.WARNING,
                )


# -- codes and body ------------------------------------------------------------------------------
@rule("cda.codes", "CDA-06", "document type (JDV_J07), confidentiality (HL7), facility (J02) and practice (J04) codes")
def codes(doc: CdaDocument, ctx: Context) -> Iterator[Finding]:
    checks = [
        ("c:code", "J07_document_type", "document code", "le code du document"),
        ("c:confidentialityCode", "HL7_confidentiality", "confidentialityCode", "confidentialityCode"),
        (
            "c:componentOf/c:encompassingEncounter/c:location/c:healthCareFacility/c:code",
            "J02_healthcare_facility",
            "healthCareFacility code",
            "le code de healthCareFacility",
        ),
        (
            "c:documentationOf/c:serviceEvent/c:performer/c:assignedEntity/c:representedOrganization/"
            "c:standardIndustryClassCode",
            "J04_practice_setting",
            "practice setting (standardIndustryClassCode)",
            "le cadre d'exercice (standardIndustryClassCode)",
        ),
    ]
    for path, key, what, what_fr in checks:
        for element in doc.findall(path):
            if element.get("nullFlavor"):
                continue
            if not _in(ctx.value_sets, key, element.get("code"), element.get("codeSystem")):
                vs = ctx.value_sets[key]
                yield finding(
                    "cda.codes",
                    f"{what} is not in {vs['name']}",
                    element,
                    message_fr=f"{what_fr} n'appartient pas à {vs['name']}",
                    expected=f"a code of {vs['oid']}",
                    received=f"{element.get('code')} in {element.get('codeSystem')}",
                    expected_fr=f"un code de {vs['oid']}",
                    received_fr=f"{element.get('code')} dans {element.get('codeSystem')}",
                )


@rule("cda.volet", "CDA-07", "volet templateId consistent with the document code (formatCode table)")
def volet(doc: CdaDocument, ctx: Context) -> Iterator[Finding]:
    roots = {t.get("root") for t in doc.findall("c:templateId")}
    code = doc.find("c:code")
    for entry in ctx.profile["volet"]:
        if entry["template"] in roots and code is not None:
            got = (code.get("code"), code.get("codeSystem"))
            if got != (entry["code"], entry["code_system"]):
                yield finding(
                    "cda.volet",
                    f"a {entry['name']} document has the wrong code",
                    code,
                    message_fr=f"un document {entry['name']} n'a pas le code attendu",
                    expected=f"{entry['code']} ({entry['code_system']})",
                    received=f"{got[0]} ({got[1]})",
                )


@rule("cda.n1-body", "CDA-08", "non-structured body: XDS-SD template, allowed mediaType, B64 representation")
def n1_body(doc: CdaDocument, ctx: Context) -> Iterator[Finding]:
    text = doc.find("c:component/c:nonXMLBody/c:text")
    if text is None:
        return
    n1 = ctx.profile["n1"]
    if text.get("mediaType") not in n1["media_types"]:
        yield finding(
            "cda.n1-body",
            "nonXMLBody mediaType is not allowed",
            text,
            message_fr="le mediaType de nonXMLBody n'est pas autorisé",
            expected=", ".join(n1["media_types"]),
            received=text.get("mediaType"),
        )
    if text.get("representation") != n1["representation"]:
        yield finding(
            "cda.n1-body",
            "nonXMLBody text must be base64",
            text,
            message_fr="le texte de nonXMLBody doit être en base64",
            expected=n1["representation"],
            received=text.get("representation"),
        )
    if ctx.profile["document"]["xds_sd_template"] not in {t.get("root") for t in doc.findall("c:templateId")}:
        yield finding(
            "cda.n1-body",
            "a non-structured document needs the XDS-SD templateId",
            doc.root,
            message_fr="un document non structuré doit porter le templateId XDS-SD",
            expected=ctx.profile["document"]["xds_sd_template"],
            received="absent",
        )


def format_code(doc: CdaDocument, ctx: Context) -> str | None:
    """The XDS formatCode of the document (ASS_12 for N1, ASS_A11 for the volets in the profile)."""
    text = doc.find("c:component/c:nonXMLBody/c:text")
    if text is not None:
        return ctx.profile["n1"]["format_codes"].get(text.get("mediaType"))
    roots = {t.get("root") for t in doc.findall("c:templateId")}
    return next((v["format_code"] for v in ctx.profile["volet"] if v["template"] in roots), None)
