"""The DMP mock against the official DMP kit messages (shared/reference/dmp/messages).

The kit's request messages carry unsigned VIHFs from 2019 to 2021, so the mock is configured as
a reviewer would replay them: signature not required, clock set to the messages' date, and the
kit's test patient added as an extra patient (its INS is read from the message, not copied here).
Responses are compared with the official response messages by their element structure.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from pathlib import Path

import httpx
import pytest
from lxml import etree

from harness.core import pki
from harness.core.recorder import ExchangeStore
from harness.protocols import mtom, soap, xds
from harness.protocols.mockserver import serve_app
from mock_services.dmp import DmpRegistry, DmpSettings, PatientBase, create_app
from mock_services.dmp.registry import StoredEntry

SERVICES = {
    "TD0.2": "patient",
    "TD0.3": "Habilitation",
    "TD0.4": "PatientSpecific",
    "TD2.1": "DocumentRepository_Service",
    "TD3.1": "DocumentRegistry_Service",
    "TD3.2": "DocumentRepository_Service",
    "TD3.3c": "DocumentRegistry_Service",
    "TD3.3d": "DocumentRegistry_Service",
}
# Elements of the official responses the mock does not produce, and why.
NOT_PRODUCED = {
    "TD0.2": {
        "prefix",  # the patient's civility: not in the test-patient base
        "telecom",  # the patient's contact details: not in the test-patient base
    },
    "TD0.4": {"lastAccessDate", "lastUpdateDate", "lastAddDate"},  # access history is not kept
}


def message(folder: Path, transaction: str, kind: str = "requete") -> Path:
    found = sorted(folder.glob(f"{transaction}_-_*_{kind}.xml"))
    assert len(found) == 1, f"one official {kind} for {transaction}, found {found}"
    return found[0]


def content_type(data: bytes) -> str:
    if data.startswith(b"--"):
        boundary = data.split(b"\n", 1)[0].strip()[2:].decode("ascii")
        return (
            f'multipart/related; type="application/xop+xml"; boundary="{boundary}"; start-info="application/soap+xml"'
        )
    return "application/soap+xml; charset=utf-8"


def body_shape(data: bytes, media: str) -> set[str]:
    """Local-name paths of every element under soap:Body."""
    if mtom.is_multipart(media):
        data = mtom.parse_multipart(data, media).root.body
    body = soap.parse_envelope(data).body
    shape = set()
    for element in body.iter():
        if isinstance(element.tag, str):
            path = [etree.QName(e).localname for e in [*reversed(list(element.iterancestors())), element]]
            shape.add("/".join(path[path.index("Body") + 1 :]))
    return shape - {""}


@pytest.fixture(scope="module")
def kit(reference: Path) -> Path:
    return reference / "dmp" / "messages"


@pytest.fixture(scope="module")
def official_patient(kit: Path) -> str:
    text = message(kit, "TD0.2").read_text(encoding="utf-8", errors="replace")
    found = re.search(r'root="1\.2\.250\.1\.213\.1\.4\.10" extension="(\d{15})"', text)
    assert found, "the official TD0.2 names its patient with the INS-NIR TEST OID"
    return found.group(1)


@pytest.fixture(scope="module")
def mock(tmp_path_factory: pytest.TempPathFactory, official_patient: str):
    folder = tmp_path_factory.mktemp("dmp-official")
    layout = pki.init_pki(folder / "pki")
    extra = folder / "patients.toml"
    extra.write_text(
        "[[patient]]\n"
        'key = "KIT"\n'
        f'ins = "{official_patient}"\n'
        'oid = "1.2.250.1.213.1.4.10"\n'
        'nom_naissance = "PATIENT DU KIT"\n'
        'prenoms = ["KIT"]\n'
        'sexe = "F"\n'
        'date_naissance = "1907-05-25"\n'
        'authorisation = "VALIDE"\n',
        encoding="utf-8",
    )
    registry = DmpRegistry(folder / "dmp.sqlite3")
    settings = DmpSettings(
        require_signature=False, vihf_max_age=None, clock=lambda: dt.datetime(2021, 6, 4, 12, tzinfo=dt.UTC)
    )
    store = ExchangeStore(folder / "exchanges.sqlite3")
    app = create_app(store, settings=settings, patients=PatientBase.load(extra), registry=registry)
    with (
        serve_app(app, name="dmp-official", ssl_context=pki.server_ssl_context(layout)) as served,
        httpx.Client(verify=pki.client_ssl_context(layout, "dmp-org"), timeout=30) as client,
    ):
        yield served, client, registry, store
    registry.close()
    store.close()


def post(mock, transaction: str, data: bytes, realm: str | None = None) -> httpx.Response:
    """POST as the kit would; ``realm`` routes it to a session of its own (a fresh DMP)."""
    served, client, _, _ = mock
    prefix = f"/s/{realm}" if realm else ""
    url = f"{served.url}{prefix}/si-dmp-server/v2/services/{SERVICES[transaction]}"
    return client.post(url, content=data, headers={"content-type": content_type(data)})


def seed(registry: DmpRegistry, realm: str, patient: str, unique_id: str, entry_uuid: str, status: str) -> None:
    """A document the kit's messages refer to, as if an earlier feed had stored it."""
    element = xds.rim("ExtrinsicObject", None, id=entry_uuid, mimeType="text/xml", objectType=xds.DE_OBJECT_TYPE)
    xds.add_external_id(element, xds.DE_UNIQUE_ID, unique_id, entry_uuid)
    xds.add_external_id(element, xds.DE_PATIENT_ID, xds.format_cx(patient, "1.2.250.1.213.1.4.10"), entry_uuid)
    entry = StoredEntry(
        entry_uuid=entry_uuid,
        lid=entry_uuid,
        version=1,
        unique_id=unique_id,
        patient_ins=patient,
        status=status,
        author="899900063480",  # the kit's professional (its VIHF NameID): the author may change the status
        author_structure="499900063480001",
        confidentiality=("N",),
        type_code="11488-4",
        mime_type="text/xml",
        hash="00",
        size=19,
        submission_set="seed",
        metadata=etree.tostring(element),
    )
    registry.store(realm, None, [entry], {unique_id: b"<ClinicalDocument/>"})


@pytest.mark.parametrize("transaction", ["TD0.2", "TD0.3", "TD0.4", "TD2.1", "TD3.1"])
def test_official_request_is_accepted_and_answered_like_the_official_response(mock, kit, transaction):
    response = post(mock, transaction, message(kit, transaction).read_bytes())
    assert response.status_code == 200, response.text[:500]
    official = message(kit, transaction, "reponse").read_bytes()
    expected = body_shape(official, "application/soap+xml")
    received = body_shape(response.content, response.headers["content-type"])
    missing = {p for p in expected - received if p.rsplit("/", 1)[-1] not in NOT_PRODUCED.get(transaction, set())}
    assert not missing, f"{transaction}: elements of the official response the mock did not write: {sorted(missing)}"
    assert "Fault" not in {p.rsplit("/", 1)[-1] for p in received}


def test_official_feed_is_stored_and_found(mock, kit, official_patient):
    _, _, registry, _ = mock
    assert post(mock, "TD2.1", message(kit, "TD2.1").read_bytes()).status_code == 200
    unique_ids = {e.unique_id for e in registry.entries("default", official_patient)}
    assert "1.2.250.1.999.1.1.7898.3.1622814651504" in unique_ids  # the kit's document entry
    assert "1.2.250.1.999.1.1.7898.4.1622814651504" in unique_ids  # the kit's signature document


def test_official_retrieval_returns_the_document_as_mtom(mock, kit, official_patient):
    _, _, registry, _ = mock
    request = message(kit, "TD3.2").read_text(encoding="utf-8", errors="replace")
    unique_id = re.search(r"<DocumentUniqueId>([^<]+)</DocumentUniqueId>", request).group(1)
    realm = f"retrieve-{uuid.uuid4().hex[:8]}"
    registry.claim_realm(realm)
    seed(registry, realm, official_patient, unique_id, f"urn:uuid:{uuid.uuid4()}", xds.APPROVED)
    response = post(mock, "TD3.2", message(kit, "TD3.2").read_bytes(), realm)
    assert response.status_code == 200 and mtom.is_multipart(response.headers["content-type"])
    official = body_shape(message(kit, "TD3.2", "reponse").read_bytes(), "application/soap+xml")
    assert official <= body_shape(response.content, response.headers["content-type"])
    parts = mtom.parse_multipart(response.content, response.headers["content-type"])
    document = soap.parse_envelope(parts.root.body).body.find(f".//{{{xds.XDSB}}}Document")
    assert mtom.include_content(document, parts) == b"<ClinicalDocument/>"


@pytest.mark.parametrize(("transaction", "status"), [("TD3.3c", xds.ARCHIVED), ("TD3.3d", xds.APPROVED)])
def test_official_status_change_is_applied(mock, kit, official_patient, transaction, status):
    _, _, registry, _ = mock
    request = message(kit, transaction).read_text(encoding="utf-8", errors="replace")
    target = re.search(r'targetObject="(urn:uuid:[^"]+)"', request).group(1)
    realm = f"status-{uuid.uuid4().hex[:8]}"
    registry.claim_realm(realm)
    seed(registry, realm, official_patient, f"2.25.{uuid.uuid4().int}", target, status)
    response = post(mock, transaction, message(kit, transaction).read_bytes(), realm)
    official = body_shape(message(kit, transaction, "reponse").read_bytes(), "application/soap+xml")
    assert official <= body_shape(response.content, response.headers["content-type"])
    payload = soap.parse_envelope(response.content).body_element()
    assert payload is not None and payload.get("status") == xds.SUCCESS, response.text[:800]
    new_status = re.findall(r"<Value>(urn:[^<]+StatusType:[A-Za-z]+)</Value>", request)[-1]
    assert registry.entry(realm, target).status == new_status


@pytest.mark.parametrize("transaction", ["TD0.5", "TD1.3a", "TD1.3b", "TD1.4", "TD1.6"])
def test_official_requests_of_transactions_not_simulated_get_a_clear_fault(mock, kit, transaction):
    served, client, _, _ = mock
    data = message(kit, transaction).read_bytes()
    response = client.post(
        f"{served.url}/si-dmp-server/v2/services/patient", content=data, headers={"content-type": content_type(data)}
    )
    reason = soap.parse_envelope(response.content).body.findtext(f".//{{{soap.SOAP12_NS}}}Text")
    assert response.status_code == 400 and "non prise en charge" in reason
