"""Consulting and managing documents in the DMP: TD0.2, TD3.1/TD3.2, TD3.3a/c/d, replacement."""

from __future__ import annotations

import base64

import pytest

from harness.content.cda import read_cda
from harness.core.results import Finding, SkipKind
from harness.core.skips import NotEvaluated
from harness.protocols import xds
from harness.protocols.xds_cda import read_header
from harness.run.sut.base import SutFailure
from harness.run.verify import dmp as verify
from harness.run.verify import expect
from harness.run.verify.recorded import recorded_answer
from suites.dmp.blame import blamed_on_requests
from suites.dmp.patients import identity, patient

pytestmark = pytest.mark.segur_service("dmp")

PATIENT = "OUVERT"


def share(sut, title: str, key: str = PATIENT) -> tuple[str, dict[str, str]]:
    """Share a document; returns its uniqueId and the CDA values a replacement must follow.

    Each test names its document by what it will do with it, so that ``segur judge`` finds, in a
    session where the product was used by hand, the document that was later masked, replaced...
    """
    answer = sut.perform(
        "dmp.feed_document",
        patient=identity(key),
        title=title,
        masking=[],
        document_type=sut.flow.document_type(),
    ).data
    if recorded_answer(answer):
        raise NotEvaluated(
            SkipKind.NOT_PERFORMED,
            f"managing a shared document needs the live product: {answer.get('file')} is a recorded feed",
            f"gérer un document partagé demande le produit en direct : {answer.get('file')} est une alimentation "
            "enregistrée",
        )
    if answer["outcome"] != "stored":
        raise SutFailure(f"the product could not share the document to manage: {answer.get('message')}")
    cda = {}
    if answer.get("document"):
        header = read_header(read_cda(base64.b64decode(answer["document"])))
        cda = {
            "document_id": header.document_id_root or "",
            "set_id": header.set_id or "",
            "version": header.version or "1",
        }
    return answer["unique_id"], cda


@pytest.mark.requirement("DMP-09")
def test_consultation_finds_then_reads_what_the_registry_returned(sut, dmp, segur_env):
    """FindDocuments par INS et statut Approved, puis lecture avec repositoryUniqueId et uniqueId renvoyés."""
    with blamed_on_requests(dmp, segur_env, "DMP-09", PATIENT):
        found = sut.perform("dmp.find_documents", patient=identity(PATIENT)).data
        documents = found.get("documents") or []
        if not documents:
            raise SutFailure("the product listed no document for a patient whose DMP holds some")
        read = sut.perform("dmp.read_document", patient=identity(PATIENT), unique_id=documents[0]["unique_id"]).data
        findings = verify.check_consultation(dmp.exchanges(), identity(PATIENT))
        if read["outcome"] != "ok":
            findings.append(
                Finding(
                    "dmp.read",
                    "the product could not read a document the registry listed",
                    message_fr="le produit n'a pas pu lire un document que le registre listait",
                    requirement="DMP-09",
                    received=read.get("message"),
                )
            )
        expect(findings)


@pytest.mark.requirement("DMP-10")
def test_masking_publishes_a_new_version_with_masque_ps(sut, dmp, segur_env):
    """Masquage : nouvelle version des métadonnées (lid, PreviousVersion) avec MASQUE_PS du JDV_J08."""
    with blamed_on_requests(dmp, segur_env, "DMP-10", PATIENT):
        unique_id, _ = share(sut, "Compte rendu à masquer")
        sut.perform("dmp.find_documents", patient=identity(PATIENT))
        sut.perform("dmp.mask_document", patient=identity(PATIENT), unique_id=unique_id, masked=True)
        expect(verify.check_masking(dmp.exchanges(), unique_id, masked=True))


@pytest.mark.requirement("DMP-11")
def test_replacement_uses_rplc_and_the_cda_version_chain(sut, dmp, segur_env):
    """Remplacement : RPLC vers l'entryUUID courant ; CDA même setId, version + 1, relatedDocument RPLC."""
    with blamed_on_requests(dmp, segur_env, "DMP-11", PATIENT):
        unique_id, cda = share(sut, "Compte rendu à remplacer")
        if not cda:
            raise NotEvaluated(
                SkipKind.NOT_PERFORMED,
                "the product's answer to dmp.feed_document carries no document to compare the CDA chain with",
                "la réponse du produit à dmp.feed_document ne porte pas le document : "
                "la chaîne CDA ne peut être comparée",
            )
        sut.perform(
            "dmp.replace_document",
            patient=identity(PATIENT),
            unique_id=unique_id,
            title="Compte rendu corrigé",
            document_type=sut.flow.document_type(),
        )
        expect(verify.check_replacement(dmp.exchanges(), unique_id, cda))


@pytest.mark.requirement("DMP-12")
def test_deletion_changes_the_availability_status(sut, dmp, segur_env):
    """Suppression : UpdateAvailabilityStatus vers l'entryUUID courant, Approved -> Deleted."""
    with blamed_on_requests(dmp, segur_env, "DMP-12", PATIENT):
        unique_id, _ = share(sut, "Compte rendu à supprimer")
        sut.perform("dmp.delete_document", patient=identity(PATIENT), unique_id=unique_id)
        expect(verify.check_status_change(dmp.exchanges(), unique_id, xds.DELETED))


@pytest.mark.requirement("DMP-12")
def test_archiving_changes_the_availability_status(sut, dmp, segur_env):
    """Archivage : UpdateAvailabilityStatus vers l'entryUUID courant, Approved -> Archived."""
    with blamed_on_requests(dmp, segur_env, "DMP-12", PATIENT):
        unique_id, _ = share(sut, "Compte rendu à archiver")
        sut.perform("dmp.archive_document", patient=identity(PATIENT), unique_id=unique_id, archived=True)
        expect(verify.check_status_change(dmp.exchanges(), unique_id, xds.ARCHIVED))


@pytest.mark.requirement("DMP-13")
@pytest.mark.parametrize(
    ("key", "expected_outcome", "expected_authorisation"),
    [
        ("VIDE", "exists", "NON_EXISTE"),
        ("OUVERT", "exists", "VALIDE"),
        ("BLOQUE", "exists", "INTERDIT"),
        ("EXPIRE", "exists", "EXPIRE"),
        ("FERME", "closed", None),
        ("NON-CREE", "not_found", None),
    ],
)
def test_existence_test_is_read_correctly(sut, dmp, segur_env, key, expected_outcome, expected_authorisation):
    """Réponse TD0.2 lue correctement : existant, fermé ou inexistant, et statut d'autorisation."""
    with blamed_on_requests(dmp, segur_env, "DMP-13", key):
        answer = sut.perform("dmp.check_dmp", patient=identity(key)).data
        findings = []
        if not verify.requests(dmp.exchanges(), "TD0.2"):
            findings += verify.none_recorded("DMP-13", "existence test (TD0.2)", "test d'existence (TD0.2)")
        if answer["outcome"] != expected_outcome:
            findings.append(
                Finding(
                    "dmp.td02-outcome",
                    f"the product misread the DMP state ({patient(key).situation})",
                    message_fr=f"le produit a mal lu l'état du DMP ({patient(key).situation})",
                    requirement="DMP-13",
                    expected=expected_outcome,
                    received=answer["outcome"],
                )
            )
        if expected_authorisation and answer.get("authorisation") != expected_authorisation:
            findings.append(
                Finding(
                    "dmp.td02-authorisation",
                    "the product misread the authorisation status",
                    message_fr="le produit a mal lu le statut d'autorisation",
                    requirement="DMP-13",
                    expected=expected_authorisation,
                    received=answer.get("authorisation"),
                )
            )
        expect(findings)
