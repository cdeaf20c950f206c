"""The DMP mock called by a SOAP client generated from the DMP kit's own WSDLs (zeep).

Such a client sends what the WSDL binding declares, not what the kit's example messages show:
Habilitations.wsdl gives TD0.3 the soapAction ``urn:hl7-org:v3:setAuthorization`` and
PatientsSpecific.wsdl gives TD0.4 an empty one, and without a WS-Addressing plugin there is no
``wsa:Action`` at all. The mock must still find the operation (``harness.protocols.dmpi``); the
verifier, not the mock, judges the missing kit action (DMP-01).

Only the WSDLs that carry their schemas inline load from the reference folder (Habilitations,
PatientsSpecific, patientCertif); the others import schema files the kit copy does not include.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from lxml import etree
from requests.structures import CaseInsensitiveDict
from starlette.testclient import TestClient

from harness.core import pki
from harness.core.recorder import ExchangeStore
from harness.protocols import vihf
from harness.protocols.vihf.names import WSSE
from harness.run.sut.reference_dmp import ReferenceDmpClient
from harness.run.verify.dmp.requests import read_request
from harness.run.verify.dmp.transport import check_transport
from mock_services.dmp import DmpRegistry, DmpSettings, PatientBase, create_app

try:
    import zeep
    import zeep.exceptions
    import zeep.transports
    import zeep.wsa
except ImportError:  # pragma: no cover - depends on the environment
    if os.environ.get("CI") == "true":
        raise  # CI installs the test extras: a missing zeep is a broken environment, not a skip
    pytest.skip("zeep is not installed (pip install -e '.[test]')", allow_module_level=True)

PATIENTS = PatientBase.load()
SERVICES = "/si-dmp-server/v2/services"


class InProcessTransport(zeep.transports.Transport):
    """zeep's transport, posting to the mock's ASGI app in process instead of over the network."""

    def __init__(self, http: TestClient):
        super().__init__()
        self.http = http
        self.sent: list[dict[str, Any]] = []

    def post(self, address: str, message: bytes | str, headers: dict[str, str]) -> requests.Response:
        content = message.encode("utf-8") if isinstance(message, str) else message
        self.sent.append({"address": address, "headers": dict(headers), "body": content})
        answer = self.http.post(address, content=content, headers=headers)
        response = requests.Response()
        response.status_code = answer.status_code
        response.headers = CaseInsensitiveDict(answer.headers)
        response._content = answer.content
        response.encoding = "utf-8"
        response.url = address
        return response


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, reference: Path):
    folder = tmp_path_factory.mktemp("dmp-wsdl")
    layout = pki.init_pki(folder / "pki")
    store = ExchangeStore(folder / "exchanges.sqlite3")
    registry = DmpRegistry(folder / "dmp.sqlite3")
    settings = DmpSettings(trusted_signers=tuple(pki.trusted_ca_certificates(layout)))
    app = create_app(store, settings=settings, registry=registry)
    signing = layout.client("cps-signature")
    signer = ReferenceDmpClient(
        url="unused", ssl_context=None, signer=vihf.VihfSigner.from_files(signing.key_pem, signing.cert_pem)
    )
    with TestClient(app, base_url="https://dmp.test") as http:
        yield {"http": http, "store": store, "signer": signer, "wsdl": reference / "dmp" / "wsdl"}
    registry.close()
    store.close()


def security(env, patient: dict[str, Any] | None) -> etree._Element:
    """The wsse:Security header with a signed VIHF, as the product adds it to the generated client."""
    header = etree.Element(f"{{{WSSE}}}Security", nsmap={"wsse": WSSE})
    header.append(env["signer"]._vihf(patient))
    return header


def service(env, wsdl: str, binding: str, path: str, *, addressing: bool = False):
    """A generated client of ``wsdl`` bound to the mock's ``path`` in a DMP realm of its own."""
    transport = InProcessTransport(env["http"])
    plugins = [zeep.wsa.WsAddressingPlugin()] if addressing else []
    client = zeep.Client(str(env["wsdl"] / wsdl), transport=transport, plugins=plugins)
    realm = uuid.uuid4().hex[:10]
    proxy = client.create_service(binding, f"https://dmp.test/s/{realm}{SERVICES}/{path}")
    return proxy, transport, realm


HABILITATIONS = ("Habilitations.wsdl", "{urn:si-dmp-habilitations}HabilitationsEndPointImplServiceSoapBinding")
PATIENT_SPECIFIC = ("PatientsSpecific.wsdl", "{urn:si-dmp-patients}PatientSpecificEndPointImplServiceSoapBinding")


@pytest.mark.parametrize("addressing", [False, True], ids=["no-ws-addressing", "ws-addressing-plugin"])
def test_td03_from_the_habilitations_wsdl_is_answered(env, addressing):
    proxy, transport, realm = service(env, *HABILITATIONS, "Habilitation", addressing=addressing)
    who = PATIENTS["VIDE"].identity()
    answer = proxy.setAuthorization(action="AJOUT", _soapheaders=[security(env, who)])
    assert answer.status == "DMPOk"
    sent = transport.sent[-1]["headers"]["Content-Type"]
    assert 'action="urn:hl7-org:v3:setAuthorization"' in sent, "the WSDL's soapAction, not the kit's wsa:Action"
    recorded = env["store"].exchanges(session_key=realm, service="dmp")[-1]
    assert recorded.operation == "TD0.3" and recorded.outcome == "ok"
    by = "wsa:Action" if addressing else "content-type action"
    assert recorded.summary["dispatch"]["by"] == by


@pytest.mark.parametrize("addressing", [False, True], ids=["no-ws-addressing", "ws-addressing-plugin"])
def test_td04_from_the_patients_specific_wsdl_is_answered(env, addressing):
    proxy, transport, realm = service(env, *PATIENT_SPECIFIC, "PatientSpecific", addressing=addressing)
    answer = proxy.patientList(startDate="20200101", dateType="LASTAUTORIZATION", _soapheaders=[security(env, None)])
    assert answer.status == "DMPOk"
    assert 'action=""' in transport.sent[-1]["headers"]["Content-Type"], "PatientsSpecific.wsdl declares soapAction=''"
    recorded = env["store"].exchanges(session_key=realm, service="dmp")[-1]
    assert recorded.operation == "TD0.4" and recorded.outcome == "ok"
    assert recorded.summary["dispatch"]["by"] == "body element"


def test_the_verifier_reads_the_generated_call_as_its_transaction_and_flags_the_missing_kit_action(env):
    proxy, _, realm = service(env, *HABILITATIONS, "Habilitation")
    proxy.setAuthorization(action="AJOUT", _soapheaders=[security(env, PATIENTS["VIDE"].identity())])
    recorded = env["store"].exchanges(session_key=realm, service="dmp")[-1]
    request = read_request(recorded)
    assert request.transaction == "TD0.3"
    codes = {f.rule for f in check_transport([request])}
    assert "dmp.wsa-action" in codes, "DMP-01 expects the kit's wsa:Action"


def test_operations_the_mock_does_not_implement_get_its_fault_not_a_dispatch_refusal(env):
    proxy, _, realm = service(env, *HABILITATIONS, "Habilitation")
    with pytest.raises(zeep.exceptions.Fault, match="non prise en charge"):
        proxy.listAuthorizationByPatient(mode="TOUTE", _soapheaders=[security(env, PATIENTS["VIDE"].identity())])
    assert env["store"].exchanges(session_key=realm, service="dmp")[-1].operation == "TD1.6"


def test_the_obsolete_patient_certification_reaches_the_unsupported_fault_by_its_body(env):
    proxy, _, realm = service(
        env,
        "patientCertif.wsdl",
        "{urn:si-dmp-patients}PatientCertificationEndPointImplServiceSoapBinding",
        "patientCertif",
    )
    with pytest.raises(zeep.exceptions.Fault, match="non prise en charge"):
        proxy.identityCertification(
            nirOD="1750269123002",
            dateNaissance="19750227",
            rangNaissance=1,
            nirIndividu="1750269123002",
            _soapheaders=[security(env, None)],
        )
    recorded = env["store"].exchanges(session_key=realm, service="dmp")[-1]
    assert recorded.operation.startswith("TD0.0") and recorded.summary["dispatch"]["by"] == "body element"
