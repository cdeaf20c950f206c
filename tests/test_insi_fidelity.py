"""The INSi mock answers as the real service does where public sources say how (issue 16).

Sources: padoa/tlsi-ins (``insi-client.service.ts`` reads a SOAP fault only from an HTTP 500;
``pierre-alain.fixture.ts`` keeps a live qualification answer with the INSHISTO dates after
OID), the CNAM WSDL ``DESIR_ICIR_EXP_1.5.0`` in the shared reference corpus, WS-Addressing 1.0
SOAP Binding §6.4.4. ``profiles/insi/README.md`` gives the commits and the inferred points.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from harness.core.recorder import FAULT, OK, REJECTED, ExchangeStore
from harness.protocols import soap
from harness.run.environment import INSI_SETTINGS_ENV, HarnessEnvironment, UnknownServiceError
from harness.run.sut.reference_insi import ReferenceInsiClient
from mock_services.common import Scenario, ScenarioStore
from mock_services.insi import InsiSettings, messages
from mock_services.insi.settings import SCENARIO_OPTIONS, check_scenario
from tests.test_insi_service import (
    CONTENT_TYPE,
    RESULTAT_NS,
    code_cr,
    erreur_code,
    make_client,
    post,
    reference_request,
)

ROOT = Path(__file__).resolve().parents[1]
WSDL = "{http://schemas.xmlsoap.org/wsdl/}"
SOAP12_WSDL = "{http://schemas.xmlsoap.org/wsdl/soap12/}"
WSAW = "{http://www.w3.org/2006/02/addressing/wsdl}"
WSA = f"{{{soap.WSA_NS}}}"


@pytest.fixture
def store():
    store = ExchangeStore()
    yield store
    store.close()


def idam_of(request: bytes) -> str:
    found = etree.fromstring(request).find(".//{urn:siram:lps:ctxlps}IDAM")
    assert found is not None and found.text
    return found.text


ECETINSI = {"nom": "ECETINSI", "prenoms": ["PIERRE-ALAIN"], "sexe": "M", "date": "2009-07-14"}


# 1. HTTP status of the SOAP faults


def test_unknown_software_is_desir_550_with_http_500_by_default(store, layout):
    with make_client(store, layout, settings=InsiSettings(known_idams=frozenset({"KNOWN"}))) as client:
        response = post(client, reference_request())
    # padoa/tlsi-ins reads the siram:Erreur only when `err.response.status === 500`
    assert response.status_code == 500
    assert erreur_code(response) == "desir_550"
    assert store.exchanges()[0].http_status == 500 and store.exchanges()[0].outcome == FAULT


def test_wrong_certificate_cn_is_desir_560_with_http_500_by_default(store, layout):
    with make_client(store, layout, client="wrong-cn") as client:
        response = post(client, reference_request())
    assert (response.status_code, erreur_code(response)) == (500, "desir_560")


@pytest.mark.parametrize(
    ("client_name", "settings", "code"),
    [
        ("insi-auto", InsiSettings(known_idams=frozenset({"KNOWN"}), fault_http_status=400), "desir_550"),
        ("wrong-cn", InsiSettings(fault_http_status=400), "desir_560"),
    ],
)
def test_fault_http_status_400_brings_the_soap_binding_status_back(store, layout, client_name, settings, code):
    with make_client(store, layout, client=client_name, settings=settings) as client:
        response = post(client, reference_request())
    assert (response.status_code, erreur_code(response)) == (400, code)


def test_fault_http_status_is_a_session_option_too(store, layout):
    scenarios = ScenarioStore()
    settings = InsiSettings(known_idams=frozenset({"KNOWN"}))
    with make_client(store, layout, settings=settings, scenarios=scenarios) as client:
        assert client.put("/_segur/scenario/old", json={"options": {"fault_http_status": 400}}).status_code == 200
        old = post(client, reference_request(), path="/s/old/lps")
        new = post(client, reference_request(), path="/s/new/lps")
    assert (old.status_code, new.status_code) == (400, 500)


def test_http_level_refusals_keep_their_http_status(store, layout):
    with make_client(store, layout, settings=InsiSettings(max_body_bytes=10_000)) as client:
        assert post(client, reference_request(), content_type="application/json").status_code == 415
        assert post(client, b"<x/>" + b" " * 20_000).status_code == 413


# 2. INSHISTO dates


def inshisto_children(response_body: bytes) -> list[list[str]]:
    root = etree.fromstring(response_body)
    return [[etree.QName(c).localname for c in h] for h in root.iter(f"{RESULTAT_NS}INSHISTO")]


def test_inshisto_dates_are_sent_by_default_in_xsd_order(store, layout):
    with make_client(store, layout) as client:
        response = post(client, reference_request(**ECETINSI))
    assert code_cr(response) == "00"
    # the live answer padoa/tlsi-ins recorded (getPierreAlainLiveXmlResponse): dates after OID
    assert inshisto_children(response.content) == [
        ["IdIndividu", "OID", "DateDeb", "DateFin"],
        ["IdIndividu", "OID"],
    ]
    dates = [e.text for e in etree.fromstring(response.content).iter(f"{RESULTAT_NS}DateDeb", f"{RESULTAT_NS}DateFin")]
    assert dates == ["2019-03-01", "2019-02-28"]


def test_inshisto_answer_with_dates_validates_against_the_official_xsd(store, layout, reference):
    schema = etree.XMLSchema(
        etree.parse(str(reference / "insi" / "xsd" / "ServiceIdentiteCertifiee" / "INSi_RESULTAT_INS.xsd"))
    )
    with make_client(store, layout) as client:
        response = post(client, reference_request(**ECETINSI))
    body = etree.fromstring(response.content).find(f".//{RESULTAT_NS}RESULTAT")
    assert body is not None and body.find(f".//{RESULTAT_NS}DateDeb") is not None
    assert schema.validate(body), schema.error_log


def test_inshisto_dates_can_be_turned_off_by_setting_or_per_session(store, layout):
    with make_client(store, layout, settings=InsiSettings(history_dates="off")) as client:
        off = post(client, reference_request(**ECETINSI))
    assert inshisto_children(off.content) == [["IdIndividu", "OID"], ["IdIndividu", "OID"]]
    scenarios = ScenarioStore()
    with make_client(store, layout, scenarios=scenarios) as client:
        assert client.put("/_segur/scenario/k", json={"options": {"history_dates": "cnda"}}).status_code == 200
        cnda = post(client, reference_request(**ECETINSI), path="/s/k/lps")
    assert inshisto_children(cnda.content)[0] == ["DateDeb", "DateFin", "IdIndividu", "OID"]


# 3. Software authorisation numbers (IDAM)


def test_known_idams_accept_the_listed_software_only(store, layout):
    request = reference_request()
    known = InsiSettings(known_idams=frozenset({idam_of(request)}))
    with make_client(store, layout, settings=known) as client:
        assert code_cr(post(client, request)) == "00"
    with make_client(store, layout, settings=InsiSettings(known_idams=frozenset({"OTHER"}))) as client:
        refused = post(client, request)
    assert erreur_code(refused) == "desir_550"
    assert store.exchanges()[-1].summary["fault"]["idam_refusal"] == "unknown"


def test_refused_idams_are_desir_550_even_when_known(store, layout):
    request = reference_request()
    idam = idam_of(request)
    settings = InsiSettings(known_idams=frozenset({idam}), refused_idams=frozenset({idam}))
    with make_client(store, layout, settings=settings) as client:
        response = post(client, request)
    assert erreur_code(response) == "desir_550"
    fault = store.exchanges()[0].summary["fault"]
    assert (fault["idam"], fault["idam_refusal"]) == (idam, "refused")


def test_idams_per_session_through_the_scenario_endpoint(store, layout):
    request = reference_request()
    scenarios = ScenarioStore()
    with make_client(store, layout, scenarios=scenarios) as client:
        put = client.put("/_segur/scenario/strict", json={"options": {"known_idams": ["SOMETHING-ELSE"]}})
        assert put.status_code == 200, put.text
        refused = client.put("/_segur/scenario/banned", json={"options": {"refused_idams": [idam_of(request)]}})
        assert refused.status_code == 200, refused.text
        strict = post(client, request, path="/s/strict/lps")
        banned = post(client, request, path="/s/banned/lps")
        other = post(client, request, path="/s/other/lps")
    assert (erreur_code(strict), erreur_code(banned), code_cr(other)) == ("desir_550", "desir_550", "00")
    assert [e.outcome for e in store.exchanges()] == [FAULT, FAULT, OK]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"known_idams": "ONE"}, "known_idams must be a list of strings"),
        ({"refused_idams": [1]}, "refused_idams must hold non-empty strings"),
        ({"refused_idams": [""]}, "refused_idams must hold non-empty strings"),
        ({"fault_http_status": 418}, "fault_http_status must be 500 or 400"),
        ({"fault_http_status": True}, "fault_http_status must be int"),
        ({"history_dates": "sideways"}, "history_dates must be one of off, xsd, cnda"),
        ({"known_idam": ["X"]}, "did you mean 'known_idams'"),
        ({"auth_modes": ["mtls"]}, "INSi setting 'auth_modes' is not a session option"),
    ],
)
def test_bad_scenario_options_are_refused_at_put_with_a_clear_400(store, layout, options, message):
    scenarios = ScenarioStore()
    with make_client(store, layout, scenarios=scenarios) as client:
        response = client.put("/_segur/scenario/k", json={"options": options})
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert scenarios.get("k") == Scenario()  # nothing half-applied
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("?", r"\?")):
        check_scenario(Scenario(options=options))


def test_other_mocks_options_in_the_shared_scenario_leave_insi_alone(store, layout):
    # one scenario per session key, read by every mock: a PSC option must not break INSi
    scenarios = ScenarioStore()
    options = {"id_token_defect": "expired", "history_dates": "off"}
    with make_client(store, layout, scenarios=scenarios) as client:
        assert client.put("/_segur/scenario/k", json={"options": options}).status_code == 200
        response = post(client, reference_request(**ECETINSI), path="/s/k/lps")
    assert response.status_code == 200 and code_cr(response) == "00"
    assert inshisto_children(response.content)[0] == ["IdIndividu", "OID"]


def test_scenario_options_are_the_documented_ones():
    readme = (ROOT / "profiles" / "insi" / "README.md").read_text(encoding="utf-8")
    for name in SCENARIO_OPTIONS:
        assert f"`{name}`" in readme


def test_the_example_settings_file_holds_the_defaults():
    assert InsiSettings.load(ROOT / "profiles" / "insi" / "settings.example.toml") == InsiSettings()


SETTINGS_TOML = """
known_idams = ["{idam}"]
refused_idams = ["BANNI-0001"]
fault_http_status = 400
history_dates = "off"
"""


def test_settings_file_is_read_and_checked(tmp_path):
    path = tmp_path / "insi.toml"
    path.write_text(SETTINGS_TOML.format(idam="ABC"), encoding="utf-8")
    settings = InsiSettings.load(path)
    assert settings.known_idams == {"ABC"} and settings.refused_idams == {"BANNI-0001"}
    assert (settings.fault_http_status, settings.history_dates) == (400, "off")
    assert settings.auth_modes == {"mtls", "cpx"}  # untouched keys keep their defaults
    for text, message in [
        ("fault_http_status = 200", "fault_http_status must be 500 or 400"),
        ("known_idam = []", "did you mean 'known_idams'"),
        ("auth_modes = []", "auth_modes must be a non-empty subset"),
        ("auth_modes = ['smartcard']", "auth_modes must be a non-empty subset"),
        ("max_body_bytes = 'big'", "max_body_bytes must be int"),
        ("known_idams = [", "not valid TOML"),
    ]:
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ValueError, match=message):
            InsiSettings.load(path)


def test_environment_reads_the_settings_file_named_by_the_variable(tmp_path, monkeypatch, layout):
    path = tmp_path / "insi.toml"
    path.write_text(SETTINGS_TOML.format(idam="ONLY-THIS-ONE"), encoding="utf-8")
    monkeypatch.setenv(INSI_SETTINGS_ENV, str(path))
    with HarnessEnvironment(tmp_path / "env") as env:
        client = ReferenceInsiClient(env.endpoint("insi"), _client_context(env, "insi-auto"))
        answer = client.search_by_traits(nom_naissance="ADRUN", prenoms=["ZOE"], sexe="F", date_naissance="1975-12-31")
        assert answer["outcome"] != "found"
        exchange = env.store.exchanges()[-1]
        assert (exchange.http_status, exchange.summary["fault"]["erreur_code"]) == (400, "desir_550")
        assert exchange.summary["fault"]["idam"] == client.idam


def test_environment_refuses_a_bad_settings_file(tmp_path, monkeypatch):
    path = tmp_path / "insi.toml"
    path.write_text("fault_http_status = 302", encoding="utf-8")
    monkeypatch.setenv(INSI_SETTINGS_ENV, str(path))
    with HarnessEnvironment(tmp_path / "env") as env, pytest.raises(UnknownServiceError, match="INSi settings"):
        env.start("insi")


def test_segur_serve_takes_insi_settings_and_refuses_a_bad_file(tmp_path):
    bad = tmp_path / "insi.toml"
    bad.write_text("history_dates = 'later'", encoding="utf-8")
    environ = {k: v for k, v in os.environ.items() if k != INSI_SETTINGS_ENV}
    environ["PYTHONPATH"] = str(ROOT)  # this tree's harness, whatever the environment has installed
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "serve",
            "--services",
            "insi",
            "--no-console",
            "--insi-settings",
            str(bad),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=environ,
    )
    assert completed.returncode == 2, completed.stderr
    assert "INSi settings" in completed.stderr and "history_dates must be one of" in completed.stderr
    assert "Traceback" not in completed.stderr


def _client_context(env: HarnessEnvironment, name: str | None):
    from harness.core import pki

    return pki.client_ssl_context(env.pki, name)


# 5. Operations: the official WSDL's, and no verification operation


def wsdl_operations(wsdl: Path) -> dict[str, tuple[str, str, str]]:
    """operation -> (wsaw:Action of the input, soap12 soapAction, {namespace}element of the body part)."""
    root = etree.parse(str(wsdl)).getroot()
    namespaces = {prefix: uri for prefix, uri in root.nsmap.items() if prefix}
    parts = {}
    for message in root.iter(f"{WSDL}message"):
        for part in message.iter(f"{WSDL}part"):
            if part.get("name") == message.get("name"):
                prefix, local = part.get("element").split(":")
                parts[message.get("name")] = f"{{{namespaces[prefix]}}}{local}"
    actions = {}
    for op in root.find(f"{WSDL}portType").iter(f"{WSDL}operation"):
        actions[op.get("name")] = op.find(f"{WSDL}input").get(f"{WSAW}Action")
    soap_actions = {
        op.get("name"): op.find(f"{SOAP12_WSDL}operation").get("soapAction")
        for op in root.find(f"{WSDL}binding").iter(f"{WSDL}operation")
    }
    return {name: (actions[name], soap_actions[name], parts[name]) for name in actions}


def test_the_mock_serves_exactly_the_official_wsdl_operations(reference):
    wsdls = sorted((reference / "insi").glob("*.wsdl"))
    assert wsdls, "no INSi WSDL in the reference corpus"
    for wsdl in wsdls:
        official = wsdl_operations(wsdl)
        ours = {
            name: (messages.ACTION_PREFIX + name, messages.ACTION_PREFIX + name, f"{{{ns}}}{element}")
            for name, (ns, element) in messages.OPERATIONS.items()
        }
        assert ours == official, wsdl.name
        # no unitary "verification" operation: verification is a traits search (facts §1.4)
        assert not [name for name in official if "verif" in name.lower()]


def test_wsdl_comparison_catches_an_operation_the_mock_does_not_have(reference, tmp_path):
    text = (reference / "insi" / "DESIR_ICIR_EXP_1.5.0.wsdl").read_text(encoding="utf-8")
    altered = tmp_path / "altered.wsdl"
    altered.write_text(text.replace("rechercherInsAvecCarteVitale", "verifierInsAvecCarteVitale"), encoding="utf-8")
    official = wsdl_operations(altered)
    assert "verifierInsAvecCarteVitale" in official and "rechercherInsAvecCarteVitale" not in official
    assert set(official) != set(messages.OPERATIONS)


# 6. Unknown SOAP action


@pytest.mark.parametrize(
    "action",
    [
        "urn:ServiceIdentiteCertifiee:1.0.0:verifierIns",
        "urn:Autre:1.0.0:rechercherInsAvecTraitsIdentite",  # right operation name, wrong service
    ],
)
def test_unknown_action_is_wsa_action_not_supported_with_http_500(store, layout, action):
    request = reference_request().replace(
        b"urn:ServiceIdentiteCertifiee:1.0.0:rechercherInsAvecTraitsIdentite<", action.encode() + b"<"
    )
    with make_client(store, layout) as client:
        response = post(client, request, content_type="application/soap+xml; charset=utf-8")
    assert response.status_code == 500
    root = etree.fromstring(response.content)
    subcode = root.find(".//{*}Subcode/{*}Value")
    prefix, local = subcode.text.split(":")
    assert (subcode.nsmap[prefix], local) == (soap.WSA_NS, "ActionNotSupported")
    assert root.findtext(".//{*}Code/{*}Value") == "soap:Sender"
    assert root.findtext(f".//{WSA}ProblemAction/{WSA}Action") == action
    assert root.findtext(f".//{{*}}Header/{WSA}Action") == "http://www.w3.org/2005/08/addressing/fault"
    message_id = etree.fromstring(request).findtext(f".//{WSA}MessageID")
    assert root.findtext(f".//{{*}}Header/{WSA}RelatesTo") == message_id
    exchange = store.exchanges()[0]
    assert exchange.outcome == REJECTED and exchange.summary["fault"]["subcode"] == "wsa:ActionNotSupported"


def test_known_action_still_answers(store, layout):
    with make_client(store, layout) as client:
        response = post(client, reference_request(), content_type=CONTENT_TYPE)
    assert response.status_code == 200 and code_cr(response) == "00"
