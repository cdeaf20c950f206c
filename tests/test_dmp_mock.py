"""The DMP mock on loopback TLS: rights matrix, test patients, VIHF refusals, bad input, durability."""

from __future__ import annotations

import uuid

import httpx
import pytest
from lxml import etree
from starlette.testclient import TestClient

from harness.core import pki
from harness.core.recorder import REJECTED, ExchangeStore
from harness.protocols import mtom, soap, vihf, xds
from harness.protocols.mockserver import serve_app
from harness.protocols.xades import DocumentSigner
from harness.run.sut.reference_dmp import TD02_ACTION, ReferenceDmpClient
from harness.run.verify import dmp as verify_dmp
from mock_services.dmp import DmpRegistry, DmpSettings, PatientBase, create_app

PATIENTS = PatientBase.load()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("dmp-mock")
    layout = pki.init_pki(folder / "pki")
    registry = DmpRegistry(folder / "dmp.sqlite3")
    store = ExchangeStore(folder / "exchanges.sqlite3")
    settings = DmpSettings(trusted_signers=tuple(pki.trusted_ca_certificates(layout)), max_body_bytes=2 * 1024 * 1024)
    app = create_app(store, settings=settings, registry=registry)
    with serve_app(app, name="dmp-test", ssl_context=pki.server_ssl_context(layout)) as served:
        yield {"layout": layout, "served": served, "registry": registry, "store": store, "folder": folder}
    registry.close()
    store.close()


def client(env, *, signer: str = "cps-signature", realm: str | None = None, **kwargs) -> ReferenceDmpClient:
    """The reference client in a DMP realm of its own (a fresh copy of the test patients' DMPs)."""
    layout = env["layout"]
    signing = layout.client(signer)
    realm = realm or uuid.uuid4().hex[:10]
    return ReferenceDmpClient(
        url=f"{env['served'].url}/s/{realm}/si-dmp-server/v2/services",
        ssl_context=pki.client_ssl_context(layout, "dmp-org"),
        signer=vihf.VihfSigner.from_files(signing.key_pem, signing.cert_pem),
        document_signer=DocumentSigner.from_files(signing.key_pem, signing.cert_pem),
        **kwargs,
    )


def patient(key: str) -> dict:
    return PATIENTS[key].identity()


# -- test patients and the rights matrix ------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "outcome", "authorisation"),
    [
        ("OUVERT", "exists", "VALIDE"),
        ("VIDE", "exists", "NON_EXISTE"),
        ("BLOQUE", "exists", "INTERDIT"),
        ("EXPIRE", "exists", "EXPIRE"),
        ("FERME", "closed", None),
        ("NON-CREE", "not_found", None),
    ],
)
def test_existence_test_reports_each_situation(env, key, outcome, authorisation):
    answer = client(env).check_dmp(patient(key))
    assert answer["outcome"] == outcome
    if authorisation:
        assert answer["authorisation"] == authorisation


def test_feeding_needs_an_open_dmp(env):
    reference = client(env)
    assert reference.feed_document(patient("VIDE"), "CR")["outcome"] == "stored"
    closed = reference.feed_document(patient("FERME"), "CR")
    missing = reference.feed_document(patient("NON-CREE"), "CR")
    assert closed == {"outcome": "refused", "message": "DMPClosed"}
    assert missing == {"outcome": "refused", "message": "XDSUnknownPatientId"}


def test_a_blocked_professional_can_neither_feed_nor_consult(env):
    reference = client(env)
    assert reference.feed_document(patient("BLOQUE"), "CR")["message"] == "DMPAccessDeniedByRightsService"
    with pytest.raises(Exception, match="DMPAccessDeniedByRightsService"):
        reference.find_documents(patient("BLOQUE"))


def test_consultation_needs_an_authorisation_which_td03_gives(env):
    reference = client(env)
    for key in ("VIDE", "EXPIRE"):
        with pytest.raises(Exception, match="DMPAccessDeniedByRightsService"):
            reference.find_documents(patient(key))
    assert reference.declare_authorisation(patient("VIDE"))["outcome"] == "done"
    assert reference.find_documents(patient("VIDE"))["outcome"] == "ok"
    assert reference.declare_authorisation(patient("REFUSE"))["outcome"] == "refused"
    assert reference.declare_authorisation(patient("VIDE"), "SUPPRESSION")["outcome"] == "done"
    with pytest.raises(Exception, match="DMPAccessDeniedByRightsService"):
        reference.find_documents(patient("VIDE"))


def test_documents_masked_from_professionals_are_seen_by_their_author_only(env):
    reference = client(env)
    seeded = reference.find_documents(patient("OUVERT"))["documents"]
    assert len(seeded) == 1, "the seed's masked document is hidden from another professional"
    stored = reference.feed_document(patient("OUVERT"), "CR masqué", masking=["MASQUE_PS"])
    visible = {d["unique_id"] for d in reference.find_documents(patient("OUVERT"))["documents"]}
    assert stored["unique_id"] in visible, "its author sees it"


def test_only_the_author_may_delete_a_document(env):
    reference = client(env)
    seeded = reference.find_documents(patient("OUVERT"))["documents"][0]
    answer = reference.set_availability(patient("OUVERT"), seeded["unique_id"], xds.DELETED)
    assert answer == {"outcome": "refused", "message": "DMPAccessDeniedByRightsService"}


def test_masking_replacement_and_status_changes_keep_one_current_version(env):
    reference = client(env)
    who = patient("OUVERT")
    first = reference.feed_document(who, "CR v1")["unique_id"]
    assert reference.mask_document(who, first, True) == {"outcome": "done"}
    versions = env["registry"].entries_by_unique_id(reference.url.split("/s/")[1].split("/")[0], first)
    assert [v.version for v in versions] == [1, 2] and versions[0].status == xds.DEPRECATED
    assert "MASQUE_PS" in versions[1].confidentiality
    second = reference.feed_document(who, "CR v2", replaces=first)["unique_id"]
    listed = {d["unique_id"] for d in reference.find_documents(who)["documents"]}
    assert second in listed and first not in listed, "the replaced document is deprecated"
    assert reference.set_availability(who, second, xds.ARCHIVED) == {"outcome": "done"}
    assert reference.set_availability(who, second, xds.DELETED) == {"outcome": "done"}
    assert reference.read_document(who, second)["outcome"] == "not_found"


def test_emergency_access_respects_the_patients_opposition(env):
    # The emergency purpose codes are inferred (facts §2.4, L): the mock takes them from its settings.
    emergency = client(env, purpose_of_use="bris_de_glace")
    assert emergency.find_documents(patient("VIDE"))["outcome"] == "ok", "no authorisation needed in bris de glace"
    with pytest.raises(Exception, match="DMPAccessDeniedByRightsService"):
        emergency.find_documents(patient("OPPOSE-BDG"))
    assert emergency.declare_authorisation(patient("VIDE"))["outcome"] == "refused", "TD0.3 is for normal mode"


def test_masked_documents_stay_hidden_in_emergency_unless_the_patient_allowed_it(env):
    # Facts §2.3 (FI PDT-INF-526): documents hidden from professionals are readable by their author, or in
    # bris de glace / centre 15 when the patient allowed it; the patient setting masked_visible_in_emergency.
    normal = client(env)
    for purpose in ("bris_de_glace", "urgence"):
        emergency = client(env, purpose_of_use=purpose)
        allowed = emergency.find_documents(patient("URGENCE-MASQUE"))["documents"]
        assert len(allowed) == 2, f"{purpose}: the patient allowed masked documents in emergency access"
        for document in allowed:
            assert emergency.read_document(patient("URGENCE-MASQUE"), document["unique_id"])["outcome"] == "ok"
    assert len(client(env, purpose_of_use="bris_de_glace").find_documents(patient("OUVERT"))["documents"]) == 1, (
        "by default (OUVERT) a masked document stays hidden in emergency access"
    )
    with pytest.raises(Exception, match="DMPAccessDeniedByRightsService"):  # normal mode needs an authorisation
        normal.find_documents(patient("URGENCE-MASQUE"))


def test_the_emergency_visibility_of_masked_documents_is_a_checked_patient_setting(tmp_path):
    extra = tmp_path / "patients.toml"
    extra.write_text(
        '[[patient]]\nkey = "X"\nins = "290032123100861"\noid = "1.2.250.1.213.1.4.10"\nnom_naissance = "X"\n'
        'prenoms = ["X"]\nsexe = "F"\ndate_naissance = "1990-03-01"\nmasked_visible_in_emergency = "yes"\n',
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="masked_visible_in_emergency"):
        PatientBase.load(extra)
    assert PATIENTS["OUVERT"].masked_visible_in_emergency is False
    assert PATIENTS["URGENCE-MASQUE"].masked_visible_in_emergency is True


# -- VIHF refusals ----------------------------------------------------------------------------


def raw_call(env, envelope: bytes, service: str = "patient", content_type: str | None = None) -> httpx.Response:
    layout = env["layout"]
    with httpx.Client(verify=pki.client_ssl_context(layout, "dmp-org"), timeout=30) as http:
        return http.post(
            f"{env['served'].url}/s/raw-{uuid.uuid4().hex[:8]}/si-dmp-server/v2/services/{service}",
            content=envelope,
            headers={"content-type": content_type or "application/soap+xml; charset=utf-8"},
        )


def td02_envelope(env, assertion_transform=None, **client_options) -> bytes:
    """A TD0.2 request of the reference client, with its envelope changed by ``assertion_transform``."""
    reference = client(env, **client_options)
    who = patient("OUVERT")
    call = reference.prepare("patient", TD02_ACTION, reference.td02_body(who), who)
    root = etree.fromstring(call.content)
    if assertion_transform:
        assertion_transform(root)
    return etree.tostring(root)


def fault_subcode(response: httpx.Response) -> str | None:
    message = soap.parse_envelope(response.content)
    return message.body.findtext(f".//{{{soap.SOAP12_NS}}}Subcode/{{{soap.SOAP12_NS}}}Value")


def test_an_untampered_request_is_answered(env):
    assert raw_call(env, td02_envelope(env)).status_code == 200


def test_a_request_without_any_action_is_dispatched_on_its_body(env):
    # A client generated from PatientsSpecific.wsdl sends soapAction="" and no wsa:Action (harness.protocols.dmpi).
    def drop_action(root):
        action = root.find(f".//{{{soap.WSA_NS}}}Action")
        action.getparent().remove(action)

    response = raw_call(env, td02_envelope(env, drop_action), content_type='application/soap+xml; action=""')
    assert response.status_code == 200, response.text[:300]


def test_a_body_no_operation_declares_is_refused_when_no_action_names_one(env):
    def unknown(root):
        drop = root.find(f".//{{{soap.WSA_NS}}}Action")
        drop.getparent().remove(drop)
        body = root.find(f"{{{soap.SOAP12_NS}}}Body")
        body[0].tag = "{urn:example}unknownOperation"

    response = raw_call(env, td02_envelope(env, unknown))
    assert response.status_code == 400 and "opération inconnue" in response.text


def test_unsigned_vihf_is_refused(env):
    response = raw_call(env, td02_envelope(env, defects=frozenset({"vihf_unsigned"})))
    assert response.status_code == 400 and fault_subcode(response) == "wsse:FailedAuthentication"


def test_vihf_signed_with_an_authentication_key_is_refused_as_the_dmp_does(env):
    response = raw_call(env, td02_envelope(env, signer="dmp-org"))
    assert response.status_code == 400 and fault_subcode(response) == "DMPInvalidCertificate"


def test_vihf_from_an_unknown_authority_is_refused(env):
    response = raw_call(env, td02_envelope(env, signer="unknown-ca"))
    assert response.status_code == 400 and fault_subcode(response) == "wsse:FailedAuthentication"


def test_tampered_vihf_is_refused(env):
    def tamper(root):
        value = root.find(f".//{{{vihf.SAML2}}}NameID")
        value.text = "899900099999"

    response = raw_call(env, td02_envelope(env, tamper))
    assert response.status_code == 400 and fault_subcode(response) == "wsse:FailedAuthentication"


def test_signature_wrapping_is_refused(env):
    def wrap(root):
        security = root.find(f".//{{{vihf.WSSE}}}Security")
        signed = security.find(f"{{{vihf.SAML2}}}Assertion")
        evil = etree.fromstring(etree.tostring(signed))
        evil.find(f"{{{vihf.SAML2}}}Subject/{{{vihf.SAML2}}}NameID").text = "899900099999"
        evil.find(f"{{{vihf.DS}}}Signature").getparent().remove(evil.find(f"{{{vihf.DS}}}Signature"))
        evil.set("ID", "_evil")
        wrapper = etree.SubElement(evil, f"{{{vihf.SAML2}}}Advice")
        security.remove(signed)
        wrapper.append(signed)
        security.append(evil)

    response = raw_call(env, td02_envelope(env, wrap))
    assert response.status_code == 400


def test_missing_specialty_for_a_doctor_is_refused_with_the_dmp_message(env):
    def drop_specialty(root):
        for attribute in root.iter(f"{{{vihf.SAML2}}}Attribute"):
            if attribute.get("Name") == vihf.ATTR_ROLE:
                attribute.remove(attribute.findall(f"{{{vihf.SAML2}}}AttributeValue")[1])

    reference = client(env)
    original = reference._vihf

    def without_specialty(who):
        assertion = original(who)
        signature = assertion.find(f"{{{vihf.DS}}}Signature")
        assertion.remove(signature)
        drop_specialty(assertion)
        return reference.signer.sign(assertion)

    reference._vihf = without_specialty  # type: ignore[method-assign]
    with pytest.raises(Exception, match="Aucune spécialité dans le vihf"):
        reference.check_dmp(patient("OUVERT"))


# -- bad input --------------------------------------------------------------------------------


def feed_request(env) -> tuple[bytes, str, str]:
    """A valid MTOM TD2.1 request of the reference client, its content type and realm."""
    realm = uuid.uuid4().hex[:10]
    call = client(env, realm=realm).prepare_feed(patient("VIDE"), "CR")
    return call.content, call.content_type, realm


def post_feed(env, data: bytes, media: str, realm: str) -> httpx.Response:
    with httpx.Client(verify=pki.client_ssl_context(env["layout"], "dmp-org"), timeout=30) as http:
        url = f"{env['served'].url}/s/{realm}/si-dmp-server/v2/services/DocumentRepository_Service"
        return http.post(url, content=data, headers={"content-type": media})


def stored_for(env, realm: str) -> list:
    return env["registry"].entries(realm, PATIENTS["VIDE"].ins)


def test_a_valid_feed_is_stored(env):
    data, media, realm = feed_request(env)
    response = post_feed(env, data, media, realm)
    assert response.status_code == 200 and len(stored_for(env, realm)) == 2  # the document and its signature


@pytest.mark.parametrize(
    ("name", "mangle", "status"),
    [
        ("truncated MTOM", lambda d, m: (d[: len(d) // 2], m), 400),
        ("no boundary", lambda d, m: (d, 'multipart/related; type="application/xop+xml"'), 400),
        ("wrong content id", lambda d, m: (d.replace(b"<document01@segur-harness>", b"<other@x>"), m), 400),
        ("missing part", lambda d, m: (_drop_part(d, m, "document01@segur-harness"), m), 400),
        ("XXE", lambda d, m: (d.replace(b"<?xml version='1.0' encoding='UTF-8'?>", _XXE, 1), m), 400),
        ("oversized", lambda d, m: (d + b"\0" * (3 * 1024 * 1024), m), 413),
    ],
)
def test_bad_input_gets_a_fault_and_nothing_is_stored(env, name, mangle, status):
    data, media, realm = feed_request(env)
    bad_data, bad_media = mangle(data, media)
    response = post_feed(env, bad_data, bad_media, realm)
    assert response.status_code == status, f"{name}: {response.text[:300]}"
    assert soap.parse_envelope(response.content).body.find(f"{{{soap.SOAP12_NS}}}Fault") is not None
    assert stored_for(env, realm) == [], f"{name}: nothing may be stored"


_XXE = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'


def _drop_part(data: bytes, media: str, content_id: str) -> bytes:
    parts = mtom.parse_multipart(data, media)
    kept = [(cid, p.content_type, p.body) for cid, p in parts.attachments.items() if cid != content_id]
    body, _ = mtom.build_multipart(parts.root.body, kept)
    boundary = body.split(b"\r\n", 1)[0][2:]
    return body.replace(boundary, media.split("boundary=")[1].strip('"').encode())


def inline_feed_request(env) -> tuple[bytes, str, str]:
    """A TD2.1 of the reference client with its documents as inline base64 (defect dmp_inline_documents)."""
    realm = uuid.uuid4().hex[:10]
    call = client(env, realm=realm, defects=frozenset({"dmp_inline_documents"})).prepare_feed(patient("VIDE"), "CR")
    return call.content, call.content_type, realm


def test_inline_documents_are_accepted_by_default_with_the_advice_recorded(env):
    data, media, realm = inline_feed_request(env)
    assert b"xop:Include" not in data and mtom.is_multipart(media)
    response = post_feed(env, data, media, realm)
    assert response.status_code == 200 and len(stored_for(env, realm)) == 2
    recorded = env["store"].exchanges(session_key=realm, service="dmp")[-1]
    assert recorded.summary["inline_documents"] == ["Document01", "Signature01"]
    assert any("dmp.mtom-inline" in advice for advice in recorded.summary["findings"])
    request = verify_dmp.read_request(recorded)
    rules = [f.rule for f in verify_dmp.check_transport([request])]
    assert rules.count("dmp.mtom-inline") == 2, rules


def test_mtom_documents_raise_no_inline_finding(env):
    data, media, realm = feed_request(env)
    post_feed(env, data, media, realm)
    recorded = env["store"].exchanges(session_key=realm, service="dmp")[-1]
    assert "inline_documents" not in recorded.summary
    assert "dmp.mtom-inline" not in {f.rule for f in verify_dmp.check_transport([verify_dmp.read_request(recorded)])}


def test_a_mock_set_to_refuse_inline_documents_answers_a_fault_and_stores_nothing(env, tmp_path):
    registry = DmpRegistry(tmp_path / "dmp.sqlite3")
    store = ExchangeStore(tmp_path / "exchanges.sqlite3")
    settings = DmpSettings(trusted_signers=tuple(pki.trusted_ca_certificates(env["layout"])), inline_documents="refuse")
    data, media, realm = inline_feed_request(env)
    try:
        with TestClient(create_app(store, settings=settings, registry=registry)) as http:
            url = f"/s/{realm}/si-dmp-server/v2/services/DocumentRepository_Service"
            response = http.post(url, content=data, headers={"content-type": media})
            assert response.status_code == 400 and "MTOM/XOP attendue" in response.text
            assert registry.entries(realm, PATIENTS["VIDE"].ins) == []
            mtom_data, mtom_media, mtom_realm = feed_request(env)
            url = f"/s/{mtom_realm}/si-dmp-server/v2/services/DocumentRepository_Service"
            assert http.post(url, content=mtom_data, headers={"content-type": mtom_media}).status_code == 200
    finally:
        registry.close()
        store.close()


def test_the_inline_documents_setting_is_checked():
    with pytest.raises(ValueError, match="inline_documents"):
        DmpSettings(inline_documents="sometimes")


def test_metadata_without_a_document_is_an_xds_failure_and_nothing_is_stored(env):
    data, media, realm = feed_request(env)
    parts = mtom.parse_multipart(data, media)
    root = etree.fromstring(parts.root.body)
    for document in root.iter(f"{{{xds.XDSB}}}Document"):
        if document.get("id") == "Document01":
            document.getparent().remove(document)
    kept = [(cid, p.content_type, p.body) for cid, p in parts.attachments.items() if "document01" not in cid]
    body, body_type = mtom.build_multipart(etree.tostring(root), kept)
    response = post_feed(env, body, body_type, realm)
    payload = soap.parse_envelope(
        mtom.parse_multipart(response.content, response.headers["content-type"]).root.body
        if mtom.is_multipart(response.headers["content-type"])
        else response.content
    )
    error = payload.body.find(f".//{{{xds.RS}}}RegistryError")
    assert error is not None and error.get("errorCode") == "XDSMissingDocument"
    assert stored_for(env, realm) == []


def test_refused_input_is_recorded_as_rejected(env):
    data, media, realm = feed_request(env)
    post_feed(env, data[:100], media, realm)
    recorded = env["store"].exchanges(session_key=realm, service="dmp")
    assert recorded and recorded[-1].outcome == REJECTED and recorded[-1].request_body == data[:100]


def test_what_was_acknowledged_survives_a_restart(env):
    data, media, realm = feed_request(env)
    assert post_feed(env, data, media, realm).status_code == 200
    reopened = DmpRegistry(env["folder"] / "dmp.sqlite3")
    try:
        assert len(reopened.entries(realm, PATIENTS["VIDE"].ins)) == 2
    finally:
        reopened.close()


# -- scenarios --------------------------------------------------------------------------------


def set_scenario(env, realm: str, scenario: dict) -> None:
    with httpx.Client(verify=pki.client_ssl_context(env["layout"], None), timeout=30) as http:
        assert http.put(f"{env['served'].url}/_segur/scenario/{realm}", json=scenario).status_code == 200


def test_technical_fault_on_retrieval_is_still_an_mtom_answer(env):
    realm = uuid.uuid4().hex[:10]
    reference = client(env, realm=realm)
    listed = reference.find_documents(patient("OUVERT"))["documents"]
    set_scenario(env, realm, {"fault": "technical"})
    request = etree.Element(f"{{{xds.XDSB}}}RetrieveDocumentSetRequest", nsmap={"xdsb": xds.XDSB})
    document = etree.SubElement(request, f"{{{xds.XDSB}}}DocumentRequest")
    etree.SubElement(document, f"{{{xds.XDSB}}}RepositoryUniqueId").text = xds.DMP_REPOSITORY_ID
    etree.SubElement(document, f"{{{xds.XDSB}}}DocumentUniqueId").text = listed[0]["unique_id"]
    call = reference.prepare("DocumentRepository_Service", "urn:ihe:iti:2007:RetrieveDocumentSet", request, None)
    with httpx.Client(verify=pki.client_ssl_context(env["layout"], "dmp-org"), timeout=30) as http:
        response = http.post(call.url, content=call.content, headers={"content-type": call.content_type})
    assert response.status_code == 500 and mtom.is_multipart(response.headers["content-type"])
    root = mtom.parse_multipart(response.content, response.headers["content-type"]).root.body
    assert soap.parse_envelope(root).body.find(f"{{{soap.SOAP12_NS}}}Fault") is not None


def test_unavailable_service_answers_503(env):
    realm = uuid.uuid4().hex[:10]
    set_scenario(env, realm, {"fault": "unavailable"})
    with pytest.raises(Exception, match="Service DMP indisponible"):
        client(env, realm=realm).check_dmp(patient("OUVERT"))
