"""Every SOAP fault of the DMP mock's fault table is namespace-well-formed SOAP 1.2: its Subcode QName resolves."""

from __future__ import annotations

import pytest
from lxml import etree

from harness.protocols import soap
from harness.protocols.vihf.names import WSSE
from mock_services.dmp.messages import FaultTable, soap_fault

TABLE = FaultTable.load()


def _subcode(data: bytes) -> tuple[str, etree._Element] | None:
    root = etree.fromstring(data)  # a namespace-aware parser: lxml resolves element names, not QName text
    value = root.find(f".//{{{soap.SOAP12_NS}}}Subcode/{{{soap.SOAP12_NS}}}Value")
    return (value.text or "", value) if value is not None else None


def _resolve(text: str, element: etree._Element) -> etree.QName:
    prefix, sep, local = text.partition(":")
    if not sep:
        return etree.QName(element.nsmap.get(None), text) if element.nsmap.get(None) else etree.QName(text)
    namespace = element.nsmap.get(prefix)
    assert namespace, f"prefix {prefix!r} of QName {text!r} is not declared in scope"
    return etree.QName(namespace, local)


@pytest.mark.parametrize("situation", sorted(TABLE.specs))
def test_every_fault_resolves_its_qnames(situation):
    spec = TABLE[situation]
    data = soap_fault(spec, "urn:uuid:00000000-0000-0000-0000-000000000001")
    root = etree.fromstring(data)
    code = root.find(f".//{{{soap.SOAP12_NS}}}Code/{{{soap.SOAP12_NS}}}Value")
    assert _resolve(code.text, code) == etree.QName(soap.SOAP12_NS, spec.fault_code)
    found = _subcode(data)
    if not spec.code:
        assert found is None
        return
    assert found is not None
    resolved = _resolve(*found)
    if spec.code.startswith("wsse:"):
        assert resolved.namespace == WSSE and resolved.localname == spec.code.split(":", 1)[1]


def test_ws_security_faults_are_in_the_wss_namespace():
    for situation in ("invalid_security_token", "failed_authentication"):
        assert TABLE[situation].namespace == WSSE


def test_the_fault_builder_refuses_an_undeclared_prefix():
    with pytest.raises(ValueError, match="wsse"):
        soap.fault("Sender", "x", subcode="wsse:FailedAuthentication")
    with pytest.raises(ValueError, match="foo"):
        soap.fault("Sender", "x", subcode="foo:Bar", namespaces={"foo": ""})
    with pytest.raises(ValueError, match="local name"):
        soap.fault("soap:Sender", "x")
    built = soap.fault("Sender", "x", subcode="wsse:FailedAuthentication", namespaces={"wsse": WSSE})
    assert _resolve(*_subcode(built)) == etree.QName(WSSE, "FailedAuthentication")
    assert _resolve(*_subcode(soap.fault("Sender", "x", subcode="DMPInvalidCertificate"))).localname


def test_a_fault_table_with_a_prefixed_code_and_no_namespace_is_refused(tmp_path):
    override = tmp_path / "faults.toml"
    override.write_text('[failed_authentication]\nkind = "soap"\ncode = "wsse:FailedAuthentication"\n', "utf-8")
    with pytest.raises(ValueError, match="namespace"):
        FaultTable.load(override)
