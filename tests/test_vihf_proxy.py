"""The PSC -> VIHF proxy mock (GENVIHF) on loopback, its claims, and the DMP-30 verifier's negative cases."""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest

from harness.core import pki
from harness.core.recorder import Exchange
from harness.protocols import vihf, xds
from harness.run import useragent
from harness.run.environment import HarnessEnvironment
from harness.run.sut.reference_dmp import PscCall, ReferenceDmpClient
from harness.run.sut.reference_dmp.messages import envelope
from harness.run.sut.reference_dmp.metadata import stored_query
from harness.run.sut.reference_psc import ReferencePscClient
from harness.run.verify import dmp as verify
from mock_services.dmp.patients import PatientBase
from mock_services.psc.registry import Registry
from mock_services.vihf_proxy import MOBILE_TWO_FACTOR, ProxyIdentity, proxy_claims
from mock_services.vihf_proxy.claims import WrongWorkSituation, chosen_practice

MEDECIN = "899900000011"
QUERY = "urn:ihe:iti:2007:RegistryStoredQuery"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    with HarnessEnvironment(tmp_path_factory.mktemp("vihf-proxy")) as environment:
        environment.start("vihf_proxy")
        yield environment


@pytest.fixture
def key(env: HarnessEnvironment, request: pytest.FixtureRequest) -> str:
    return env.new_session_key(request.node.name)


def patient() -> dict:
    return PatientBase.load()["OUVERT"].identity()


def log_in(env: HarnessEnvironment, key: str) -> dict:
    """A PSC login of the médecin through the reference relying party; its tokens and userinfo."""
    tls = pki.client_ssl_context(env.pki, None)
    client = ReferencePscClient(env.endpoint("psc", key), tls)
    callback = useragent.psc_login(client.authorization_url()["url"], MEDECIN, tls)
    assert client.callback(callback)["outcome"] == "logged_in"
    assert client.session is not None
    return client.session.tokens


def post_query(env: HarnessEnvironment, key: str, headers: dict[str, str], content_type: str | None = None):
    params = {"$XDSDocumentEntryPatientId": [f"'{xds.format_cx(patient()['ins'], patient()['oid'])}'"]}
    body = envelope(QUERY, stored_query(xds.FIND_DOCUMENTS, params), None, frozenset())
    kind = content_type or f'application/soap+xml; charset=utf-8; action="{QUERY}"'
    with httpx.Client(verify=pki.client_ssl_context(env.pki, "dmp-org"), timeout=20) as http:
        url = env.endpoint("vihf_proxy", key) + "/DocumentRegistry_Service"
        return http.post(url, content=body, headers={"content-type": kind, **headers})


def test_the_proxy_is_in_the_endpoints_file_and_in_session_documents(env):
    from harness.run.sessions import session_document

    assert env.endpoints_document()["vihf_proxy"]["url"].endswith("/si-dmp-server/v2/services")
    assert "/s/abc/si-dmp-server/v2/services" in session_document(env, "abc")["vihf_proxy"]["url"]


def test_claims_follow_genvihf_from_the_psc_userinfo():
    userinfo = Registry.load().professionals[MEDECIN].userinfo()
    claims = proxy_claims(userinfo, "10C", "280057505600117", ProxyIdentity())
    assert claims.name_id == MEDECIN
    assert claims.auth_mode == "INDIRECTE" and claims.authn_context == MOBILE_TWO_FACTOR
    assert [(r.code, r.code_system) for r in claims.roles] == [("10", vihf.CS_G15), ("SM54", vihf.CS_R01)]
    assert claims.patient_id == "280057505600117^^^&1.2.250.1.213.1.4.10&ISO^NH"
    assert claims.structure_id == ProxyIdentity().structure_id  # the proxy's, not the product's
    assert vihf.ATTR_LPS_ID in claims.omit  # GENVIHF sets no LPS_ID
    assert claims.secteur_activite == "SA07^1.2.250.1.71.4.2.4"


def test_several_practices_need_the_work_situation_key():
    practices = [{"codeProfession": "10", "codeCategorieProfessionnelle": "C"}, {"codeProfession": "21"}]
    assert chosen_practice(practices, "10C") is practices[0]
    with pytest.raises(WrongWorkSituation, match="60C"):
        chosen_practice(practices, "60C")
    assert chosen_practice(practices[:1], None) is practices[0]  # one practice: no key needed


def test_a_valid_token_reaches_the_dmp_with_the_proxy_signed_vihf(env, key):
    tokens = log_in(env, key)
    headers = {"Authorization": f"Bearer {tokens['access_token']}", "X-Worksituation": "10C"}
    answer = post_query(env, key, {**headers, "X-insHeader": patient()["ins"]})
    assert answer.status_code == 200, answer.text
    [forwarded] = env.store.exchanges(session_key=key, service="dmp")
    [relayed] = env.store.exchanges(session_key=key, service="vihf_proxy")
    proxy = env.pki.client("vihf-proxy").certificate().subject.rfc4514_string()
    assert relayed.summary["upstream_trace"] == forwarded.id and forwarded.client_subject == proxy
    [request] = verify.requests([forwarded])
    assertion, _ = vihf.find_assertion(request.message.header if request.message else None)
    check = vihf.verify_assertion(assertion, trusted=env.trusted_cas())
    assert check.signature == "valid" and check.trusted and check.signer_subject == proxy
    assert check.authn_context == MOBILE_TWO_FACTOR and check.name_id == MEDECIN
    assert check.attributes["Authentification_mode"] == ["INDIRECTE"] and "LPS_ID" not in check.attributes
    assert check.attributes[vihf.ATTR_RESOURCE_ID] == [xds.format_cx(patient()["ins"], "1.2.250.1.213.1.4.10")]
    userinfo_calls = [e for e in env.store.exchanges(session_key=key, service="psc") if e.operation == "userinfo"]
    assert [e.client_subject for e in userinfo_calls][-1] == proxy  # the proxy asked PSC who the token is
    assert (
        verify.check_proxy_calls([relayed], env.store.exchanges(session_key=key, service="psc"), patient()["ins"]) == []
    )
    assert (
        verify.check_dmp_calls([forwarded], [env.pki.client("vihf-proxy").certificate()], env.trusted_cas(), MEDECIN)
        == []
    )


@pytest.mark.parametrize("bearer", [None, "id_token", "forged"])
def test_a_missing_or_refused_token_is_answered_401_and_nothing_reaches_the_dmp(env, key, bearer):
    tokens = log_in(env, key)
    token = {"id_token": tokens["id_token"], "forged": "eyJhbGciOiJub25lIn0.e30."}.get(bearer or "")
    answer = post_query(env, key, {"Authorization": f"Bearer {token}"} if token else {})
    assert answer.status_code == 401 and answer.json()["http_status_code"] == 401
    assert env.store.exchanges(session_key=key, service="dmp") == []
    [refused] = env.store.exchanges(session_key=key, service="vihf_proxy")
    assert refused.http_status == 401  # recorded before the answer left
    findings = verify.check_proxy_calls(
        [refused], env.store.exchanges(session_key=key, service="psc"), patient()["ins"]
    )
    assert {f.rule for f in findings} >= {"dmp-psc.bearer", "dmp-psc.refused"}


def test_mtom_is_refused_as_genvihf_transforms_one_xml_body(env, key):
    tokens = log_in(env, key)
    answer = post_query(
        env, key, {"Authorization": f"Bearer {tokens['access_token']}"}, 'multipart/related; type="application/xop+xml"'
    )
    assert answer.status_code == 415


def test_an_oversized_or_malformed_request_is_refused_and_recorded(env, key):
    tokens = log_in(env, key)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}", "content-type": "application/soap+xml"}
    with httpx.Client(verify=pki.client_ssl_context(env.pki, "dmp-org"), timeout=20) as http:
        url = env.endpoint("vihf_proxy", key) + "/DocumentRegistry_Service"
        assert http.post(url, content=b"<not-soap", headers=bearer).status_code == 400
        assert http.post(url, content=b"x" * (16 * 1024 * 1024 + 1), headers=bearer).status_code == 413
    assert [e.http_status for e in env.store.exchanges(session_key=key, service="vihf_proxy")] == [400, 413]
    assert env.store.exchanges(session_key=key, service="dmp") == []


def _jwt(exp: float) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256'})}.{part({'exp': exp, 'typ': 'Bearer'})}.c2ln"


def _exchange(service: str, operation: str, **values) -> Exchange:
    now = time.time()
    fields = {"request_body": b"", "response_body": b"", **values}
    return Exchange(
        service=service, session_key="k", operation=operation, outcome="ok", started_at=now, finished_at=now, **fields
    )


def test_proxy_verifier_finds_an_expired_token_a_foreign_token_and_a_missing_ins():
    expired, foreign = _jwt(time.time() - 60), _jwt(time.time() + 600)
    token = _exchange("psc", "token", http_status=200, response_body=json.dumps({"access_token": expired}).encode())
    sent = [
        _exchange("vihf_proxy", "q", http_status=200, request_meta={"headers": {"authorization": f"Bearer {expired}"}}),
        _exchange("vihf_proxy", "q", http_status=200, request_meta={"headers": {"authorization": f"Bearer {foreign}"}}),
    ]
    findings = verify.check_proxy_calls(sent, [token], patient()["ins"])
    rules = [f.rule for f in findings]
    assert rules.count("dmp-psc.expired") == 1 and rules.count("dmp-psc.bearer") == 1
    assert rules.count("dmp-psc.ins") == 2  # neither request named the patient in X-insHeader
    assert verify.check_proxy_calls([], [token], patient()["ins"])[0].rule == "dmp-psc.proxy"
    assert verify.check_proxy_calls(sent, [], patient()["ins"])[0].rule == "dmp-psc.token"


def test_dmp_verifier_refuses_a_vihf_the_product_made_itself(env, key):
    tokens = log_in(env, key)
    layout = env.pki
    signing = layout.client("cps-signature")
    client = ReferenceDmpClient(
        url=env.endpoint("dmp", key),
        ssl_context=pki.client_ssl_context(layout, "dmp-org"),
        signer=vihf.VihfSigner.from_files(signing.key_pem, signing.cert_pem),
        defects=frozenset({"psc_dmp_self_made_vihf"}),
    )
    psc = PscCall(env.endpoint("vihf_proxy", key), tokens["access_token"], tokens["id_token"], MEDECIN, "10C")
    assert client.find_documents(patient(), psc)["outcome"] == "ok"  # the DMP mock lets it through
    assert env.store.exchanges(session_key=key, service="vihf_proxy") == []
    proxy = [layout.client("vihf-proxy").certificate()]
    findings = verify.check_dmp_calls(
        env.store.exchanges(session_key=key, service="dmp"), proxy, env.trusted_cas(), MEDECIN
    )
    assert [f.rule for f in findings] == ["dmp-psc.signer"]
    assert verify.check_dmp_calls([], proxy, env.trusted_cas(), MEDECIN)[0].rule == "dmp-psc.dmp"
