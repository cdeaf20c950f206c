"""The mock SAS platform's appointment endpoint, in process."""

from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient

from harness.core.recorder import ExchangeStore
from mock_services.common import ScenarioStore
from mock_services.sas import create_app
from mock_services.sas.app import SasSettings

APPOINTMENT = {"resourceType": "Appointment", "identifier": [{"system": "https://x", "value": "rdv-1"}]}


@pytest.fixture
def mock():
    store = ExchangeStore()
    with TestClient(create_app(store, ScenarioStore()), base_url="https://testserver") as client:
        yield client, store


def test_a_creation_is_recorded_and_answered_201_with_its_location(mock):
    client, store = mock
    answer = client.post("/s/k1/sas/Appointment", content=json.dumps(APPOINTMENT))
    assert answer.status_code == 201
    assert answer.headers["location"].startswith("https://testserver/s/k1/sas/Appointment/")
    (exchange,) = store.exchanges(session_key="k1", service="sas")
    assert exchange.operation == "POST Appointment" and exchange.http_status == 201
    assert answer.headers["x-segur-trace"] == exchange.id


def test_an_update_of_a_known_appointment_is_200_and_an_unknown_one_follows_the_setting(mock):
    client, _ = mock
    client.post("/s/k1/sas/Appointment", content=json.dumps(APPOINTMENT))
    known = client.put(
        "/s/k1/sas/Appointment", params={"identifier": "https://x|rdv-1"}, content=json.dumps(APPOINTMENT)
    )
    unknown = client.put(
        "/s/k1/sas/Appointment", params={"identifier": "https://x|other"}, content=json.dumps(APPOINTMENT)
    )
    assert (known.status_code, unknown.status_code) == (200, SasSettings().unknown_update_status)
    other_session = client.put(
        "/s/k2/sas/Appointment", params={"identifier": "https://x|rdv-1"}, content=json.dumps(APPOINTMENT)
    )
    assert other_session.status_code == 201  # sessions are apart


@pytest.mark.parametrize("body", [b"not json", b"[" * 5000, json.dumps({"resourceType": "Patient"}).encode()])
def test_bad_input_is_a_400_operation_outcome_recorded_as_rejected(mock, body):
    client, store = mock
    answer = client.post("/s/k1/sas/Appointment", content=body)
    assert answer.status_code == 400 and answer.json()["resourceType"] == "OperationOutcome"
    (exchange,) = store.exchanges(session_key="k1", service="sas")
    assert exchange.outcome == "rejected"
