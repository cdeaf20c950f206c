"""The DMPi operation table (harness.protocols.dmpi) against the kit's WSDLs, and its dispatch order."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from harness.protocols import dmpi

WSDL = "http://schemas.xmlsoap.org/wsdl/"
SOAP12_BINDING = "http://schemas.xmlsoap.org/wsdl/soap12/"
WSAW = "http://www.w3.org/2006/05/addressing/wsdl"


def _wsdl_operations(path: Path) -> dict[str, dict[str, object]]:
    """Each operation of a WSDL: its input element (namespace, local) and its declared actions."""
    root = etree.parse(str(path)).getroot()
    messages = {}
    for message in root.iter(f"{{{WSDL}}}message"):
        part = message.find(f"{{{WSDL}}}part")
        if part is not None and part.get("element"):
            prefix, _, local = part.get("element").partition(":")
            messages[message.get("name")] = (part.nsmap[prefix], local)
    found: dict[str, dict[str, object]] = {}
    for port_type in root.iter(f"{{{WSDL}}}portType"):
        for operation in port_type.findall(f"{{{WSDL}}}operation"):
            entry = operation.find(f"{{{WSDL}}}input")
            message = entry.get("message").partition(":")[2]
            actions = {entry.get(f"{{{WSAW}}}Action")} - {None}
            found[operation.get("name")] = {"request": messages.get(message), "actions": actions}
    for binding in root.iter(f"{{{WSDL}}}binding"):
        for operation in binding.findall(f"{{{WSDL}}}operation"):
            declared = operation.find(f"{{{SOAP12_BINDING}}}operation")
            if declared is not None and declared.get("soapAction"):
                found[operation.get("name")]["actions"].add(declared.get("soapAction"))  # type: ignore[attr-defined]
    return found


@pytest.mark.parametrize("operation", dmpi.OPERATIONS, ids=lambda op: op.operation)
def test_each_operation_is_what_its_wsdl_declares(reference, operation):
    declared = _wsdl_operations(reference / "dmp" / "wsdl" / operation.wsdl)
    assert operation.operation in declared, f"{operation.wsdl} has no operation {operation.operation}"
    entry = declared[operation.operation]
    assert entry["request"] == operation.request
    assert entry["actions"] <= set(operation.actions), "every action the WSDL declares dispatches"


def test_the_kit_action_of_each_operation_is_the_one_of_its_example_message(reference):
    examples = {
        "TD0.2": "TD0.2_-_Test_dexistence_requete.xml",
        "TD0.3": "TD0.3_-_Mise_a_jour_de_lautorisation_requete.xml",
        "TD0.4": "TD0.4_-_Liste_des_DMP_autorises_requete.xml",
        "TD0.5": "TD0.5_-_Recherche_dun_patient_sans_INS_requete.xml",
        "TD1.6": "TD1.6_-_Liste_des_PS_autorises_ou_bloques_requete.xml",
        "TD2.1": "TD2.1_-_Alimentation_requete.xml",
        "TD3.1": "TD3.1_-_Recherche_de_document_requete.xml",
        "TD3.2": "TD3.2_-_Consultation_dun_document_requete.xml",
        "TD3.3": "TD3.3c_-_Supprimer_un_document_requete.xml",
    }
    for transaction, name in examples.items():
        text = (reference / "dmp" / "messages" / name).read_text("utf-8")
        assert f">{dmpi.BY_TRANSACTION[transaction].action}<" in text, transaction


def _body(namespace: str, local: str) -> etree._Element:
    return etree.Element(f"{{{namespace}}}{local}")


def test_dispatch_order_is_wsa_action_then_content_type_then_body():
    td03, td04 = dmpi.BY_TRANSACTION["TD0.3"], dmpi.BY_TRANSACTION["TD0.4"]
    body = _body(*td04.request)
    assert dmpi.dispatch(td03.action, td04.action, body).operation is td03
    assert dmpi.dispatch(None, "urn:hl7-org:v3:setAuthorization", body).by == "content-type action"
    found = dmpi.dispatch("urn:unknown", "", body)
    assert (found.operation, found.by, found.ignored) == (td04, "body element", ("urn:unknown",))
    assert dmpi.dispatch(None, None, None, '"urn:ihe:iti:2007:RegistryStoredQuery"').by == "SOAPAction"


def test_nothing_known_dispatches_nowhere():
    assert dmpi.dispatch("", "", _body("urn:x", "y")).operation is None
    assert dmpi.dispatch(None, None, None).by == "none"
