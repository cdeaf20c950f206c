"""The INSi mock in process: business answers, official XSD validity, faults, bad input."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from lxml import etree

from harness.core.recorder import FAULT, OK, REJECTED, ExchangeStore
from harness.run.sut.reference_insi import ReferenceInsiClient
from mock_services.common import ScenarioStore
from mock_services.insi import IdentityBase, InsiSettings, create_app
from mock_services.insi.messages import resultat

ACTION = "urn:ServiceIdentiteCertifiee:1.0.0:rechercherInsAvecTraitsIdentite"
CONTENT_TYPE = f'application/soap+xml; charset=utf-8; action="{ACTION}"'
RESULTAT_NS = "{http://www.cnamts.fr/INSiResultat}"


class AsgiClient:
    """A synchronous client for an ASGI app, in process (no socket, no TLS)."""

    def __init__(self, app, base_url: str = "https://insi.test"):
        self.app, self.base_url = app, base_url

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url=self.base_url) as client:
                return await client.request(method, path, **kwargs)

        return asyncio.run(send())

    def post(self, path: str, **kwargs) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs) -> httpx.Response:
        return self.request("PUT", path, **kwargs)

    def __enter__(self) -> AsgiClient:
        return self

    def __exit__(self, *exc) -> None:
        pass


class FakeTLS:
    """ASGI middleware standing in for the TLS layer: presents a client certificate."""

    def __init__(self, app, pem: str | None):
        self.app, self.pem = app, pem

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and self.pem:
            scope.setdefault("extensions", {})["tls"] = {"client_cert_chain": [self.pem]}
        await self.app(scope, receive, send)


def first_cert_pem(path: Path) -> str:
    text = path.read_text()
    return text[: text.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")] + "\n"


@pytest.fixture
def store():
    store = ExchangeStore()
    yield store
    store.close()


def make_client(
    store,
    layout,
    *,
    client: str = "insi-auto",
    settings: InsiSettings | None = None,
    scenarios: ScenarioStore | None = None,
) -> AsgiClient:
    app = create_app(store, scenarios or ScenarioStore(), settings)
    pem = first_cert_pem(layout.client(client).cert_pem) if client else None
    return AsgiClient(FakeTLS(app, pem))


def reference_request(operation: str = "rechercherInsAvecTraitsIdentite", **traits) -> bytes:
    builder = ReferenceInsiClient("https://insi.test/lps", None)
    body = builder._traits_body(
        traits.get("nom", "ADRUN"),
        traits.get("prenoms", ["ZOE"]),
        traits.get("sexe", "F"),
        traits.get("date", "1975-12-31"),
        traits.get("lieu", ""),
    )
    return builder._envelope(operation, body)


def post(client: AsgiClient, payload: bytes, content_type: str = CONTENT_TYPE, path: str = "/lps") -> httpx.Response:
    return client.post(path, content=payload, headers={"Content-Type": content_type})


def code_cr(response: httpx.Response) -> str | None:
    return etree.fromstring(response.content).findtext(f".//{RESULTAT_NS}CodeCR")


def erreur_code(response: httpx.Response) -> str | None:
    found = etree.fromstring(response.content).find(".//{urn:siram}Erreur")
    return found.get("code") if found is not None else None


@pytest.mark.parametrize(
    ("traits", "expected"),
    [
        ({}, "00"),
        ({"nom": "TCHITCHI", "prenoms": ["OLA"], "date": "1936-06-21"}, "01"),
        ({"nom": "TCHITCHI", "prenoms": ["CATARINA"], "date": "1936-06-21"}, "00"),
        ({"nom": "HOUILLES", "prenoms": ["PIERRE"], "sexe": "M", "date": "1993-01-27"}, "01"),
        ({"nom": "DE VINCI", "prenoms": ["LEONARDO"], "sexe": "M", "date": "2014-02-01"}, "02"),
        ({"lieu": "75056"}, "01"),
    ],
)
def test_traits_search_answers_like_the_cnda_cases(store, layout, traits, expected):
    with make_client(store, layout) as client:
        response = post(client, reference_request(**traits))
    assert response.status_code == 200
    assert code_cr(response) == expected
    assert [e.outcome for e in store.exchanges()] == [OK]


def test_every_answer_validates_against_the_official_xsd(reference):
    schema = etree.XMLSchema(
        etree.parse(str(reference / "insi" / "xsd" / "ServiceIdentiteCertifiee" / "INSi_RESULTAT_INS.xsd"))
    )
    base = IdentityBase.load()
    answers = [resultat("01"), resultat("02")]
    answers += [resultat("00", i, mode) for i in base.identities for mode in ("off", "xsd")]
    for answer in answers:
        assert schema.validate(answer), schema.error_log
    # The CNDA response order (dates before IdIndividu) is not what this XSD version declares.
    historic = next(i for i in base.identities if any(h.date_deb for h in i.history))
    assert not schema.validate(resultat("00", historic, "cnda"))


def test_response_over_the_wire_validates_against_the_official_xsd(store, layout, reference):
    schema = etree.XMLSchema(
        etree.parse(str(reference / "insi" / "xsd" / "ServiceIdentiteCertifiee" / "INSi_RESULTAT_INS.xsd"))
    )
    with make_client(store, layout) as client:
        response = post(
            client, reference_request(nom="ECETINSI", prenoms=["PIERRE-ALAIN"], sexe="M", date="2009-07-14")
        )
    body = etree.fromstring(response.content).find(f".//{RESULTAT_NS}RESULTAT")
    assert schema.validate(body), schema.error_log
    assert len(body.findall(f".//{RESULTAT_NS}INSHISTO")) == 2


def test_official_cpx_request_example_is_accepted(store, reference):
    example = (reference / "insi" / "request_rechercherInsAvecTraitsIdentite_with_CPx_assertion.xml").read_bytes()
    app = create_app(store, ScenarioStore())
    with AsgiClient(app) as client:
        response = post(client, example, content_type="application/soap+xml; charset=utf-8")
    assert response.status_code == 200, response.text
    assert code_cr(response) in {"00", "01", "02"}
    auth = store.exchanges()[0].summary["auth"]
    assert auth["mode"] == "cpx"
    assert auth["cpx"]["name_id"] == "00B6087510"
    assert auth["cpx"]["trusted"] is False  # an expired IGC-Santé TEST card, not in our trust list


def test_reference_fault_shape_for_unknown_software(store, layout, reference):
    settings = InsiSettings(known_idams=frozenset({"KNOWN"}))
    with make_client(store, layout, settings=settings) as client:
        response = post(client, reference_request())
    ours = etree.fromstring(response.content)
    official = etree.parse(str(reference / "insi" / "responses" / "fault_siram_100_desir_550.xml")).getroot()
    for root in (ours, official):
        assert root.findtext(".//{*}Code/{*}Value") == "soap:Sender"
        assert root.findtext(".//{*}Subcode/{*}Value") == "soap:siram_100"
        assert root.find(".//{urn:siram}Erreur").get("code") == "desir_550"
        assert root.find(".//{urn:siram}Erreur").get("severite") == "erreur"
    assert ours.find(".//{urn:siram}Erreur").text == official.find(".//{urn:siram}Erreur").text
    assert store.exchanges()[0].outcome == FAULT


def test_wrong_certificate_cn_is_desir_560(store, layout):
    with make_client(store, layout, client="wrong-cn") as client:
        response = post(client, reference_request())
    assert erreur_code(response) == "desir_560"
    exchange = store.exchanges()[0]
    assert "SERVEUR-APPLICATIF" in exchange.client_subject and exchange.outcome == FAULT


def test_no_authentication_at_all_is_refused(store, layout):
    with make_client(store, layout, client=None) as client:
        response = post(client, reference_request())
    assert response.status_code == 500 and erreur_code(response) == "desir_560"


def test_missing_lps_context_is_desir_550(store, layout):
    payload = ReferenceInsiClient("x", None, defects=frozenset({"no_contexte_lps"}))
    request = payload._envelope(
        "rechercherInsAvecTraitsIdentite", payload._traits_body("ADRUN", ["ZOE"], "F", "1975-12-31", "")
    )
    with make_client(store, layout) as client:
        assert erreur_code(post(client, request)) == "desir_550"


def test_scenarios_inject_faults_and_latency_per_session(store, layout):
    scenarios = ScenarioStore()
    with make_client(store, layout, scenarios=scenarios) as client:
        assert client.put("/_segur/scenario/a", json={"fault": "technical"}).status_code == 200
        assert client.put("/_segur/scenario/b", json={"fault": "unavailable"}).status_code == 200
        assert client.put("/_segur/scenario/c", json={"latency_ms": 150}).status_code == 200
        assert client.put("/_segur/scenario/d", json={"fault": "explode"}).status_code == 400
        assert client.put("/_segur/scenario/d", content=b"not json").status_code == 400
        technical = post(client, reference_request(), path="/s/a/lps")
        unavailable = post(client, reference_request(), path="/s/b/lps")
        started = time.perf_counter()
        slow = post(client, reference_request(), path="/s/c/lps")
        elapsed = time.perf_counter() - started
        normal = post(client, reference_request(), path="/s/d/lps")
    assert technical.status_code == 500 and erreur_code(technical) == "insi_102"
    assert unavailable.status_code == 503
    assert code_cr(slow) == "00" and elapsed >= 0.15
    assert code_cr(normal) == "00"
    assert [e.session_key for e in store.exchanges()] == ["a", "b", "c", "d"]


def test_carte_vitale_search(store, layout):
    builder = ReferenceInsiClient("https://insi.test/lps", None)
    from lxml.etree import Element, SubElement

    ns = "http://www.cnamts.fr/INSiRecVit"
    body = Element(f"{{{ns}}}RECVITALE", nsmap={None: ns})
    matricule = SubElement(body, f"{{{ns}}}MatriculeIndividu")
    SubElement(matricule, f"{{{ns}}}NumIdentifiant").text = "2751263220749"
    SubElement(matricule, f"{{{ns}}}Cle").text = "74"
    SubElement(body, f"{{{ns}}}DateNaissance").text = "1975-12-31"
    payload = builder._envelope("rechercherInsAvecCarteVitale", body)
    content_type = 'application/soap+xml; action="urn:ServiceIdentiteCertifiee:1.0.0:rechercherInsAvecCarteVitale"'
    with make_client(store, layout) as client:
        response = post(client, payload, content_type)
    assert code_cr(response) == "00"
    assert store.exchanges()[0].summary["response"]["identity_key"] == "ADRUN-ZOE"


XXE = b"""<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body>&x;</soap:Body></soap:Envelope>"""
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
    + b"".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode() for i in range(9))
    + b']><soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body>&j;</soap:Body></soap:Envelope>'
)


@pytest.mark.parametrize(
    ("payload", "content_type", "status", "reason"),
    [
        (b"<soap:Envelope", CONTENT_TYPE, 500, "malformed XML"),
        (XXE, CONTENT_TYPE, 500, "document type"),
        (LAUGHS, CONTENT_TYPE, 500, "document type"),
        (reference_request(), "application/json", 415, "application/soap+xml"),
        (b"<a/>", CONTENT_TYPE, 500, "not a SOAP envelope"),
        (b'<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"/>', CONTENT_TYPE, 500, "no Body"),
        (
            reference_request().replace(b"rechercherInsAvecTraitsIdentite<", b"supprimerTout<"),
            "application/soap+xml",
            500,
            "ActionNotSupported",
        ),
        (
            reference_request().replace(b"<NomNaissance>ADRUN</NomNaissance>", b""),
            CONTENT_TYPE,
            500,
            "traits obligatoires",
        ),
        (
            reference_request("rechercherInsAvecCarteVitale"),
            CONTENT_TYPE.replace("TraitsIdentite", "CarteVitale"),
            500,
            "ne correspond pas",
        ),
    ],
)
def test_bad_input_gets_a_sender_fault_and_is_recorded_as_rejected(
    store, layout, payload, content_type, status, reason
):
    with make_client(store, layout) as client:
        started = time.perf_counter()
        response = post(client, payload, content_type)
    assert time.perf_counter() - started < 2
    assert response.status_code == status, response.text
    assert reason in response.text
    assert etree.fromstring(response.content).findtext(".//{*}Code/{*}Value") == "soap:Sender"
    assert b"root:" not in response.content  # nothing from /etc/passwd
    assert [e.outcome for e in store.exchanges()] == [REJECTED]


def test_oversized_body_is_413_and_never_read_whole(store, layout):
    settings = InsiSettings(max_body_bytes=10_000)
    with make_client(store, layout, settings=settings) as client:
        response = post(client, b"<x>" + b"a" * 50_000 + b"</x>")
    assert response.status_code == 413
    assert store.exchanges()[0].outcome == REJECTED and store.exchanges()[0].request_body == b""


def signed_cpx_request(layout, tamper: bool = False) -> bytes:
    """A traits request carrying a SAML assertion signed with the harness's CPS-like certificate."""
    from signxml import XMLSigner
    from signxml.algorithms import CanonicalizationMethod

    saml = "urn:oasis:names:tc:SAML:2.0:assertion"
    assertion = etree.Element(
        f"{{{saml}}}Assertion", nsmap={None: saml}, ID="_a1", Version="2.0", IssueInstant="2026-11-22T10:00:00Z"
    )
    etree.SubElement(assertion, f"{{{saml}}}Issuer").text = "CN=899900000001"
    subject = etree.SubElement(assertion, f"{{{saml}}}Subject")
    etree.SubElement(subject, f"{{{saml}}}NameID", NameQualifier="CPS").text = "899900000001"
    credential = layout.client("cps-signature")
    signed = XMLSigner(c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0).sign(
        assertion, key=credential.key_pem.read_bytes(), cert=first_cert_pem(credential.cert_pem), reference_uri="_a1"
    )
    if tamper:
        signed.find(f".//{{{saml}}}NameID").text = "899900000002"
    envelope = etree.fromstring(reference_request())
    header = envelope.find("{http://www.w3.org/2003/05/soap-envelope}Header")
    wsse = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
    etree.SubElement(header, f"{{{wsse}}}Security").append(signed)
    return etree.tostring(envelope)


@pytest.mark.parametrize(("tamper", "valid"), [(False, True), (True, False)])
def test_cpx_assertion_signature_is_checked_against_the_trust_list(store, layout, tamper, valid):
    trust = (layout.intermediate_ca_pems["personnes"].read_bytes(),)
    with make_client(store, layout, client=None, settings=InsiSettings(cpx_trust_pems=trust)) as client:
        response = post(client, signed_cpx_request(layout, tamper))
    assert code_cr(response) == "00"  # lenient mock: the verdict is the verifiers' business
    cpx = store.exchanges()[0].summary["auth"]["cpx"]
    assert cpx["signature_valid"] is valid and cpx["trusted"] is valid, cpx["problems"]


@pytest.mark.parametrize(("tamper", "findings"), [(False, 0), (True, 1)])
def test_ins04_verifier_judges_cpx_assertions(store, layout, tamper, findings):
    from harness.run.verify.insi import check_authentication

    trust = (layout.intermediate_ca_pems["personnes"].read_bytes(),)
    with make_client(store, layout, client=None) as client:
        post(client, signed_cpx_request(layout, tamper))
    assert len(check_authentication(store.exchanges(), trust)) == findings
    assert len(check_authentication(store.exchanges(), ())) == 1, "an untrusted card never passes"
