"""Reading recorded INSi calls: namespaces, the business operations, the CR code and identity INSi answered."""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from harness.core.recorder import Exchange
from harness.core.results import Finding

NS = {
    "soap": "http://www.w3.org/2003/05/soap-envelope",
    "wsa": "http://www.w3.org/2005/08/addressing",
    "bam": "urn:siram:bam:ctxbam",
    "lps": "urn:siram:lps:ctxlps",
    "sans": "http://www.cnamts.fr/INSiRecSans",
    "vit": "http://www.cnamts.fr/INSiRecVit",
    "res": "http://www.cnamts.fr/INSiResultat",
    "siram": "urn:siram",
}


OPERATIONS = {"rechercherInsAvecTraitsIdentite", "rechercherInsAvecCarteVitale"}


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def _parse(data: bytes) -> etree._Element | None:
    try:
        return etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError:
        return None


def _text(root: etree._Element, path: str) -> str | None:
    found = root.xpath(path, namespaces=NS)
    if not found:
        return None
    value = found[0]
    return (value.text or "").strip() if isinstance(value, etree._Element) else str(value).strip()


def where(exchange: Exchange) -> str:
    return f"exchange {exchange.id} ({exchange.operation})"


@dataclass(frozen=True)
class InsiResponse:
    """The business answer INSi gave in one exchange (the truth the product must keep)."""

    code_cr: str | None
    matricule: str | None
    oid: str | None
    history: tuple[tuple[str, str], ...]
    traits: dict[str, str]
    fault_code: str | None


def read_response(exchange: Exchange) -> InsiResponse:
    root = _parse(exchange.response_body)
    if root is None:
        return InsiResponse(None, None, None, (), {}, None)
    fault = _text(root, "//siram:Erreur/@code") or _text(root, "//soap:Fault/soap:Code/soap:Value")
    active = root.xpath("//res:INDIVIDU/res:INSACTIF", namespaces=NS)
    matricule = oid = None
    if active:
        matricule = (_text(active[0], "res:IdIndividu/res:NumIdentifiant") or "") + (
            _text(active[0], "res:IdIndividu/res:Cle") or ""
        )
        oid = _text(active[0], "res:OID")
    history = tuple(
        (
            (_text(h, "res:IdIndividu/res:NumIdentifiant") or "") + (_text(h, "res:IdIndividu/res:Cle") or ""),
            _text(h, "res:OID") or "",
        )
        for h in root.xpath("//res:INDIVIDU/res:INSHISTO", namespaces=NS)
    )
    traits = {etree.QName(t).localname: (t.text or "") for t in root.xpath("//res:TIQ/*", namespaces=NS)}
    return InsiResponse(_text(root, "//res:CR/res:CodeCR"), matricule, oid, history, traits, fault)


def business_exchanges(exchanges: list[Exchange]) -> list[Exchange]:
    return [e for e in exchanges if e.outcome != "rejected"]


def no_exchange(requirement: str) -> list[Finding]:
    return [
        Finding(
            rule="insi.called",
            requirement=requirement,
            message="the product made no INSi call the mock could read",
            message_fr="le produit n'a fait aucun appel INSi que le mock a pu lire",
            expected_fr="au moins une requête INSi",
            received_fr="aucune",
            expected="at least one INSi request",
            received="none",
        )
    ]
