"""The DMP signature document: signed over an IHE manifest, every alteration found."""

from __future__ import annotations

import pytest
from lxml import etree

from harness.core import pki
from harness.protocols.xades import DS, DocumentSigner, verify_signature_document

DOCUMENTS = {"2.25.1": b"<ClinicalDocument>un</ClinicalDocument>", "2.25.2": b"%PDF-1.4 deux"}


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> DocumentSigner:
    credential = pki.init_pki(tmp_path_factory.mktemp("pki")).client("cps-signature")
    return DocumentSigner.from_files(credential.key_pem, credential.cert_pem)


def test_a_signature_over_the_documents_verifies(signer):
    check = verify_signature_document(signer.sign_manifest(DOCUMENTS), DOCUMENTS)
    assert check.signature_valid and check.problems == []
    assert check.signed_documents == {"urn:oid:2.25.1": "ok", "urn:oid:2.25.2": "ok"}
    assert check.signer is not None and check.signer == signer.certificate


def test_an_altered_document_is_found(signer):
    signature = signer.sign_manifest(DOCUMENTS)
    check = verify_signature_document(signature, {**DOCUMENTS, "2.25.2": b"%PDF-1.4 autre"})
    assert check.signed_documents["urn:oid:2.25.2"] == "digest differs"


def test_an_altered_manifest_breaks_the_signed_reference(signer):
    root = etree.fromstring(signer.sign_manifest(DOCUMENTS))
    reference = root.find(f".//{{{DS}}}Manifest/{{{DS}}}Reference")
    reference.set("URI", "urn:oid:2.25.9")
    check = verify_signature_document(etree.tostring(root), DOCUMENTS)
    assert not check.signature_valid and any("digest differs" in p for p in check.problems)


def test_an_altered_signed_info_does_not_verify(signer):
    root = etree.fromstring(signer.sign_manifest(DOCUMENTS))
    root.find(f".//{{{DS}}}SignedInfo/{{{DS}}}Reference").set("URI", "#elsewhere")
    check = verify_signature_document(etree.tostring(root), DOCUMENTS)
    assert not check.signature_valid and any("does not verify" in p for p in check.problems)


@pytest.mark.parametrize("data", [b"", b"<x/>", b"<ds:Signature xmlns:ds='http://www.w3.org/2000/09/xmldsig#'/>"])
def test_unreadable_signatures_are_problems_not_crashes(data):
    check = verify_signature_document(data, DOCUMENTS)
    assert not check.signature_valid and check.problems
