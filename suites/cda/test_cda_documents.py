"""CDA documents the product produces, judged by the project's own CI-SIS header rules."""

from __future__ import annotations

import base64
import binascii
import functools
import os
import time
from pathlib import Path

import pytest

from harness.content.cda import NotACda, read_cda, validate_document
from harness.content.cda.kit import OfficialKit
from harness.content.cda.rules import RULES
from harness.core.recorder import record_artefact
from harness.core.results import SkipKind
from harness.core.skips import NotEvaluated
from harness.protocols.cda_document import CdaDocument
from harness.run.sut.base import SutFailure
from harness.run.verify import expect
from suites.ins.persons import stored_identity

PATIENT = "ADRUN-ZOE"


def produce_bytes(sut, segur_env, *, patient: str = PATIENT) -> bytes:
    """Ask the product for a document and keep it as evidence (no document = non-conformance)."""
    started = time.time()
    answer = sut.perform("cda.produce_document", patient=stored_identity(patient), title="Note de consultation").data
    if answer["outcome"] != "produced":
        raise SutFailure(f"the product produced no document: {answer.get('message', answer['outcome'])}")
    try:
        raw = (
            Path(answer["path"]).read_bytes()
            if "path" in answer
            else base64.b64decode(answer["document"], validate=True)
        )
    except (KeyError, OSError, binascii.Error) as exc:
        raise SutFailure(f"the answer to cda.produce_document carries no readable document: {exc}") from None
    record_artefact(segur_env.store, "cda", sut.context.session_key, "cda.produce_document", raw, started)
    return raw


def parse(raw: bytes) -> CdaDocument:
    try:
        return read_cda(raw)
    except NotACda as exc:
        raise SutFailure(f"the product's document cannot be read as a CDA: {exc}") from None


def produce(sut, segur_env) -> CdaDocument:
    return parse(produce_bytes(sut, segur_env))


def check(document: CdaDocument, requirement: str, target: str | None = None) -> None:
    rule_ids = {rule.id for rule in RULES.values() if rule.requirement == requirement}
    expect(validate_document(document, target, rule_ids).findings)


@pytest.mark.requirement("CDA-01")
def test_header_structure_and_fixed_values(sut, segur_env):
    """Éléments de premier niveau, cardinalités, valeurs fixes, templateIds, titre et langue."""
    check(produce(sut, segur_env), "CDA-01")


@pytest.mark.requirement("CDA-02")
def test_identifiers_for_the_dmp(sut, segur_env):
    """Identifiant du document (racine seule pour le DMP), racines des professionnels et des structures."""
    check(produce(sut, segur_env), "CDA-02", target="dmp")


@pytest.mark.requirement("CDA-03")
def test_patient_ins_and_traits(sut, segur_env):
    """INS en premier identifiant avec son OID et les traits obligatoires."""
    check(produce(sut, segur_env), "CDA-03")


@pytest.mark.requirement("CDA-04")
def test_null_flavors(sut, segur_env):
    """nullFlavor de la liste CI-SIS, absents où ils sont interdits."""
    check(produce(sut, segur_env), "CDA-04")


@pytest.mark.requirement("CDA-05")
def test_timestamps(sut, segur_env):
    """Horodatages avec décalage UTC ; effectiveTime à la seconde."""
    check(produce(sut, segur_env), "CDA-05")


@pytest.mark.requirement("CDA-06")
def test_header_codes_in_their_value_sets(sut, segur_env):
    """Codes de l'en-tête dans leurs jeux de valeurs."""
    check(produce(sut, segur_env), "CDA-06")


@pytest.mark.requirement("CDA-07")
def test_volet_template_matches_document_code(sut, segur_env):
    """templateId de volet cohérent avec le code du document."""
    check(produce(sut, segur_env), "CDA-07")


@pytest.mark.requirement("CDA-08")
def test_non_structured_body(sut, segur_env):
    """Corps N1 : XDS-SD, base64, type de média autorisé."""
    check(produce(sut, segur_env), "CDA-08")


@pytest.mark.requirement("CDA-09")
def test_valid_against_the_official_ans_kit(sut, segur_env):
    """Validité selon le kit officiel ANS (XSD et schématrons), lorsque son dossier est fourni."""
    folder = os.environ.get("SEGUR_CDA_KIT")
    if not folder:
        raise NotEvaluated(
            SkipKind.NOT_CONFIGURED,
            "no ANS CDA kit configured: set SEGUR_CDA_KIT to a TestContenuCDA folder to judge CDA-09",
            "kit CDA de l'ANS non fourni : indiquez un dossier TestContenuCDA dans SEGUR_CDA_KIT pour juger CDA-09",
        )
    raw = produce_bytes(sut, segur_env)
    expect(_kit(folder).validate(parse(raw), raw).findings)


@functools.cache
def _kit(folder: str) -> OfficialKit:
    return OfficialKit(folder)
