"""DMP-09 to DMP-12: consultation (TD3.1/TD3.2), masking, status changes and replacement, judged
against what the registry returned."""

from __future__ import annotations

from lxml import etree

from harness.content.cda import NotACda, read_cda
from harness.core.recorder import Exchange
from harness.core.results import Finding
from harness.protocols import xds
from harness.protocols.xds_cda import read_header
from harness.run.verify.dmp.requests import DmpRequest, none_recorded, registry_entries, requests, succeeded


def check_consultation(exchanges: list[Exchange], patient: dict[str, str]) -> list[Finding]:
    found = requests(exchanges)
    queries = [r for r in found if r.transaction == "TD3.1"]
    retrievals = [r for r in found if r.transaction == "TD3.2"]
    if not queries or not retrievals:
        return none_recorded(
            "DMP-09",
            "stored query (TD3.1) and retrieval (TD3.2)",
            "recherche (TD3.1) et récupération de document (TD3.2)",
        )
    findings = []
    expected_patient = xds.format_cx(patient["ins"], patient["oid"])
    for request in queries:
        query = request.payload.find(f"{{{xds.RIM}}}AdhocQuery") if request.payload is not None else None
        query_id = query.get("id") if query is not None else None
        if query_id not in xds.STORED_QUERIES:
            findings.append(
                Finding(
                    "dmp.query",
                    "the stored query id is not one of the DMP's",
                    message_fr="l'identifiant de la requête stockée n'est pas l'un de ceux du DMP",
                    requirement="DMP-09",
                    location=request.where,
                    received=query_id,
                )
            )
            continue
        if query_id == xds.FIND_DOCUMENTS:
            _check_find_documents(query, expected_patient, request.where, findings)
    returned = registry_entries(exchanges)
    known = {
        (xds.registry_object(e).slot("repositoryUniqueId"), xds.registry_object(e).unique_id) for e in returned.values()
    }
    for request in retrievals:
        for document in (
            request.payload.findall(f"{{{xds.XDSB}}}DocumentRequest") if request.payload is not None else []
        ):
            repository = (document.findtext(f"{{{xds.XDSB}}}RepositoryUniqueId") or "").strip()
            unique_id = (document.findtext(f"{{{xds.XDSB}}}DocumentUniqueId") or "").strip()
            if (repository, unique_id) not in known:
                findings.append(
                    Finding(
                        "dmp.retrieve",
                        "TD3.2 must ask for a document with the repositoryUniqueId and uniqueId the registry returned",
                        message_fr="TD3.2 doit demander un document avec le repositoryUniqueId et l'uniqueId "
                        "renvoyés par le registre",
                        expected_fr=", ".join(sorted(f"{r}/{u}" for r, u in known)) or "aucun renvoyé",
                        requirement="DMP-09",
                        location=request.where,
                        expected=", ".join(sorted(f"{r}/{u}" for r, u in known)) or "none returned",
                        received=f"{repository}/{unique_id}",
                    )
                )
    return findings


def _check_find_documents(query: etree._Element, patient_cx: str, where: str, findings: list[Finding]) -> None:
    slots = {s.get("name"): "".join(s.itertext()).strip() for s in query.findall(f"{{{xds.RIM}}}Slot")}
    sent = slots.get("$XDSDocumentEntryPatientId", "")
    if sent != f"'{patient_cx}'":
        findings.append(
            Finding(
                "dmp.query-patient",
                "FindDocuments must name the patient by the INS CX, quoted",
                message_fr="FindDocuments doit désigner le patient par l'INS au format CX, entre apostrophes",
                requirement="DMP-09",
                location=where,
                expected=f"'{patient_cx}'",
                received=sent or "absent",
            )
        )
    if xds.APPROVED not in slots.get("$XDSDocumentEntryStatus", ""):
        findings.append(
            Finding(
                "dmp.query-status",
                "FindDocuments must ask for Approved documents",
                message_fr="FindDocuments doit demander les documents au statut Approved",
                requirement="DMP-09",
                location=where,
                received=slots.get("$XDSDocumentEntryStatus"),
            )
        )


def _current(returned: dict[str, etree._Element], unique_id: str) -> xds.RegistryObject | None:
    versions = [xds.registry_object(e) for e in returned.values()]
    versions = [v for v in versions if v.unique_id == unique_id and v.attributes.get("status") != xds.DEPRECATED]
    return versions[-1] if versions else None


def _update_kind(request: DmpRequest) -> str | None:
    """TD3.3a/b publish a new metadata version; TD3.3c/d change the availability status."""
    submission = request.submission()
    if submission is None:
        return None
    if submission.associations_of(xds.UPDATE_AVAILABILITY):
        return "availability"
    return "metadata" if submission.documents else None


def check_masking(exchanges: list[Exchange], unique_id: str, masked: bool) -> list[Finding]:
    updates = [r for r in requests(exchanges, "TD3.3") if _update_kind(r) == "metadata"]
    if not updates:
        return none_recorded("DMP-10", "metadata update (TD3.3a)", "mise à jour des métadonnées (TD3.3a)")
    findings = []
    current = _current(registry_entries(exchanges[: exchanges.index(updates[-1].exchange)]), unique_id)
    request = updates[-1]
    submission = request.submission()
    assert submission is not None
    for entry in submission.documents:
        association = next((a for a in submission.associations_of(xds.HAS_MEMBER) if a.target == entry.id), None)
        if current is not None:
            if entry.attributes.get("lid") != current.attributes.get("lid"):
                findings.append(
                    Finding(
                        "dmp.update-lid",
                        "the new version must carry the document's logical id (lid)",
                        message_fr="la nouvelle version doit porter l'identifiant logique (lid) du document",
                        requirement="DMP-10",
                        location=request.where,
                        expected=current.attributes.get("lid"),
                        received=entry.attributes.get("lid"),
                    )
                )
            version = current.element.xpath("string(rim:VersionInfo/@versionName)", namespaces={"rim": xds.RIM})
            previous = association.slot("PreviousVersion") if association else None
            if previous != (version or "1"):
                findings.append(
                    Finding(
                        "dmp.update-version",
                        "HasMember must give PreviousVersion = the current version",
                        message_fr="HasMember doit donner PreviousVersion = la version courante",
                        requirement="DMP-10",
                        location=request.where,
                        expected=version or "1",
                        received=previous,
                    )
                )
        if entry.unique_id != unique_id:
            findings.append(
                Finding(
                    "dmp.update-unique-id",
                    "the new version must keep the document's uniqueId",
                    message_fr="la nouvelle version doit garder l'uniqueId du document",
                    requirement="DMP-10",
                    location=request.where,
                    expected=unique_id,
                    received=entry.unique_id,
                )
            )
        codes = entry.codes(xds.DE_CONFIDENTIALITY)
        has_mask = ("MASQUE_PS", xds.CS_DMP_MASKING) in codes
        if has_mask != masked:
            findings.append(
                Finding(
                    "dmp.masking-code",
                    "masking is MASQUE_PS in code system 1.2.250.1.213.1.1.4.13 "
                    "(JDV_J08), added to hide and removed to show",
                    message_fr="le masquage est le code MASQUE_PS du système 1.2.250.1.213.1.1.4.13 "
                    "(JDV_J08), ajouté pour masquer et retiré pour démasquer",
                    requirement="DMP-10",
                    location=request.where,
                    received=", ".join(f"{c}@{s}" for c, s in codes),
                )
            )
    if not succeeded(request.exchange):
        findings.append(
            Finding(
                "dmp.update-accepted",
                "the DMP refused the update",
                requirement="DMP-10",
                location=request.where,
                message_fr="le DMP a refusé la mise à jour",
            )
        )
    return findings


def check_status_change(exchanges: list[Exchange], unique_id: str, new_status: str) -> list[Finding]:
    updates = [r for r in requests(exchanges, "TD3.3") if _update_kind(r) == "availability"]
    if not updates:
        return none_recorded("DMP-12", "status update (TD3.3c/d)", "changement de statut (TD3.3c/d)")
    request = updates[-1]
    current = _current(registry_entries(exchanges[: exchanges.index(request.exchange)]), unique_id)
    submission = request.submission()
    assert submission is not None
    findings = []
    for association in submission.associations_of(xds.UPDATE_AVAILABILITY):
        ss_id = submission.submission_set.id if submission.submission_set else None
        if association.source != ss_id:
            findings.append(
                Finding(
                    "dmp.status-source",
                    "the association must start from the submission set",
                    message_fr="l'association doit partir du lot de soumission",
                    requirement="DMP-12",
                    location=request.where,
                )
            )
        if current is not None:
            if association.target != current.id:
                findings.append(
                    Finding(
                        "dmp.status-target",
                        "the association must target the current entryUUID",
                        message_fr="l'association doit viser l'entryUUID courant",
                        requirement="DMP-12",
                        location=request.where,
                        expected=current.id,
                        received=association.target,
                    )
                )
            if association.slot("OriginalStatus") != current.attributes.get("status"):
                findings.append(
                    Finding(
                        "dmp.status-original",
                        "OriginalStatus must be the document's current status",
                        message_fr="OriginalStatus doit être le statut courant du document",
                        requirement="DMP-12",
                        location=request.where,
                        expected=current.attributes.get("status"),
                        received=association.slot("OriginalStatus"),
                    )
                )
        if association.slot("NewStatus") != new_status:
            findings.append(
                Finding(
                    "dmp.status-new",
                    "NewStatus is not the requested status",
                    message_fr="NewStatus n'est pas le statut demandé",
                    requirement="DMP-12",
                    location=request.where,
                    expected=new_status,
                    received=association.slot("NewStatus"),
                )
            )
    if not succeeded(request.exchange):
        findings.append(
            Finding(
                "dmp.update-accepted",
                "the DMP refused the status change",
                requirement="DMP-12",
                location=request.where,
                message_fr="le DMP a refusé le changement de statut",
            )
        )
    return findings


def check_replacement(exchanges: list[Exchange], old_unique_id: str, old_cda: dict[str, str]) -> list[Finding]:
    feeds = requests(exchanges, "TD2.1")
    if not feeds:
        return none_recorded("DMP-11", "replacement feed (TD2.1)", "alimentation de remplacement (TD2.1)")
    request = feeds[-1]
    submission = request.submission()
    findings = []
    current = _current(registry_entries(exchanges[: exchanges.index(request.exchange)]), old_unique_id)
    replacements = submission.associations_of(xds.RPLC) if submission else []
    if not replacements:
        return [
            Finding(
                "dmp.rplc",
                "a replacement needs an RPLC association to the replaced entry",
                message_fr="un remplacement exige une association RPLC vers la fiche remplacée",
                requirement="DMP-11",
                location=request.where,
            )
        ]
    if current is not None and replacements[0].target != current.id:
        findings.append(
            Finding(
                "dmp.rplc",
                "RPLC must target the current entryUUID of the replaced document",
                message_fr="RPLC doit viser l'entryUUID courant du document remplacé",
                requirement="DMP-11",
                location=request.where,
                expected=current.id,
                received=replacements[0].target,
            )
        )
    documents = request.documents()
    source = replacements[0].source
    if submission is not None and source in documents:
        try:
            header = read_header(read_cda(documents[source]))
        except NotACda as exc:
            return [
                *findings,
                Finding(
                    "dmp.rplc-cda",
                    f"the new document is not a readable CDA: {exc}",
                    message_fr=f"le nouveau document n'est pas un CDA lisible : {exc}",
                    requirement="DMP-11",
                    location=request.where,
                ),
            ]
        expected = {
            "setId": old_cda["set_id"],
            "versionNumber": str(int(old_cda["version"]) + 1),
            "relatedDocument/@typeCode": "RPLC",
            "parentDocument/id": old_cda["document_id"],
        }
        received = {
            "setId": header.set_id,
            "versionNumber": header.version,
            "relatedDocument/@typeCode": header.related_type,
            "parentDocument/id": header.related_parent_id,
        }
        for name, value in expected.items():
            if received[name] != value:
                findings.append(
                    Finding(
                        "dmp.rplc-cda",
                        f"the new CDA's {name} does not follow the replaced one",
                        message_fr=f"{name} du nouveau CDA ne fait pas suite à celui du document remplacé",
                        requirement="DMP-11",
                        location=request.where,
                        expected=value,
                        received=received[name],
                    )
                )
    return findings
