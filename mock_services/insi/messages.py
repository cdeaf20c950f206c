"""INSi messages as the WSDL and XSDs define them: reading requests, writing RESULTAT and faults.

Pure functions (bytes and elements in, dicts and bytes out), kept apart from the endpoint.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from harness.protocols import soap
from mock_services.insi.identities import Identity

CTXBAM = "urn:siram:bam:ctxbam"
CTXLPS = "urn:siram:lps:ctxlps"
RECSANS = "http://www.cnamts.fr/INSiRecSans"
RECVIT = "http://www.cnamts.fr/INSiRecVit"
RESULTAT = "http://www.cnamts.fr/INSiResultat"
SIRAM = "urn:siram"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
SAML2 = "urn:oasis:names:tc:SAML:2.0:assertion"
ACTION_PREFIX = "urn:ServiceIdentiteCertifiee:1.0.0:"
# operation -> (body namespace, body element)
OPERATIONS = {
    "rechercherInsAvecTraitsIdentite": (RECSANS, "RECSANSVITALE"),
    "rechercherInsAvecCarteVitale": (RECVIT, "RECVITALE"),
}
# WS-Addressing 1.0 SOAP Binding (W3C Recommendation 2006-05-09) §6.4.4 and §6: the fault for an
# action the endpoint does not serve, and the [action] of the fault message itself.
ACTION_NOT_SUPPORTED_REASON = "The [action] cannot be processed at the receiver"
WSA_FAULT_ACTION = "http://www.w3.org/2005/08/addressing/fault"
LIBELLES = {"00": "OK", "01": "Aucune identite trouvee", "02": "Plusieurs identites trouvees"}
HISTORY_DATES = ("off", "xsd", "cnda")


def _child_text(parent: etree._Element | None, namespace: str, path: str) -> str | None:
    if parent is None:
        return None
    found = parent.find("/".join(f"{{{namespace}}}{p}" for p in path.split("/")))
    return (found.text or "").strip() if found is not None else None


def read_contexts(message: soap.SoapMessage) -> dict[str, Any]:
    """The ContexteBAM and ContexteLPS headers as dicts (None when absent)."""
    bam = message.header_block(CTXBAM, "ContexteBAM")
    lps = message.header_block(CTXLPS, "ContexteLPS")
    contexte_bam = None
    if bam is not None:
        contexte_bam = {
            "version_attr": bam.get("Version"),
            **{k.lower(): _child_text(bam, CTXBAM, k) for k in ("Id", "Temps", "Emetteur")},
            "couverture": bam.find(f"{{{CTXBAM}}}COUVERTURE") is not None,
        }
    contexte_lps = None
    if lps is not None:
        idam = lps.find(f"{{{CTXLPS}}}LPS/{{{CTXLPS}}}IDAM")
        contexte_lps = {
            "nature": lps.get("Nature"),
            "version_attr": lps.get("Version"),
            **{k.lower(): _child_text(lps, CTXLPS, k) for k in ("Id", "Temps", "Emetteur")},
            "idam": (idam.text or "").strip() if idam is not None else None,
            "idam_r": idam.get("R") if idam is not None else None,
            "version": _child_text(lps, CTXLPS, "LPS/Version"),
            "instance": _child_text(lps, CTXLPS, "LPS/Instance"),
            "nom": _child_text(lps, CTXLPS, "LPS/Nom"),
        }
    return {"contexte_bam": contexte_bam, "contexte_lps": contexte_lps}


def read_traits(body: etree._Element) -> dict[str, Any]:
    return {
        "nom_naissance": _child_text(body, RECSANS, "NomNaissance"),
        "prenoms": [(p.text or "").strip() for p in body.findall(f"{{{RECSANS}}}Prenom")],
        "sexe": _child_text(body, RECSANS, "Sexe"),
        "date_naissance": _child_text(body, RECSANS, "DateNaissance"),
        "lieu_naissance": _child_text(body, RECSANS, "LieuNaissance"),
    }


def read_carte_vitale(body: etree._Element) -> dict[str, Any]:
    numero = _child_text(body, RECVIT, "MatriculeIndividu/NumIdentifiant") or ""
    cle = _child_text(body, RECVIT, "MatriculeIndividu/Cle") or ""
    return {
        "matricule_individu": numero + cle,
        "type_matricule": _child_text(body, RECVIT, "MatriculeIndividu/TypeMatricule"),
        "matricule_od": (_child_text(body, RECVIT, "MatriculeOD/NumIdentifiant") or "")
        + (_child_text(body, RECVIT, "MatriculeOD/Cle") or ""),
        "nom_naissance": _child_text(body, RECVIT, "NomNaissance"),
        "date_naissance": _child_text(body, RECVIT, "DateNaissance"),
        "rang_naissance": _child_text(body, RECVIT, "RangNaissance"),
    }


def cpx_assertion(message: soap.SoapMessage) -> etree._Element | None:
    security = message.header_block(WSSE, "Security")
    return security.find(f"{{{SAML2}}}Assertion") if security is not None else None


def _sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, f"{{{RESULTAT}}}{name}")
    if text is not None:
        element.text = text
    return element


def _ins_block(
    parent: etree._Element,
    name: str,
    matricule: str,
    oid: str,
    dates: tuple[str | None, str | None],
    history_dates: str,
) -> None:
    block = _sub(parent, name)
    date_deb, date_fin = dates

    def add_dates() -> None:
        if date_deb:
            _sub(block, "DateDeb", date_deb)
        if date_fin:
            _sub(block, "DateFin", date_fin)

    if history_dates == "cnda":
        add_dates()
    id_individu = _sub(block, "IdIndividu")
    _sub(id_individu, "NumIdentifiant", matricule[:13])
    _sub(id_individu, "Cle", matricule[13:])
    _sub(block, "OID", oid)
    if history_dates == "xsd":
        add_dates()


def resultat(code: str, identity: Identity | None = None, history_dates: str = "xsd") -> etree._Element:
    """RESULTAT (INSi_RESULTAT_INS.xsd). ``history_dates``: where INSHISTO dates go.

    ``xsd`` (the default) puts DateDeb/DateFin after OID, the order the XSD declares and the order
    of the live qualification answer padoa/tlsi-ins recorded (``getPierreAlainLiveXmlResponse``);
    ``off`` leaves them out; ``cnda`` puts them before IdIndividu as the CNDA TEST_2.04 expected
    response does, which that XSD version does not accept (kept for clients tested against it).
    """
    if history_dates not in HISTORY_DATES:
        raise ValueError(f"history_dates must be one of {HISTORY_DATES}, not {history_dates!r}")
    root = etree.Element(f"{{{RESULTAT}}}RESULTAT", nsmap={None: RESULTAT})
    cr = _sub(root, "CR")
    _sub(cr, "CodeCR", code)
    _sub(cr, "LibelleCR", LIBELLES[code])
    if identity is not None:
        individu = _sub(root, "INDIVIDU")
        _ins_block(individu, "INSACTIF", identity.matricule, identity.oid, (None, None), "off")
        for old in identity.history:
            _ins_block(individu, "INSHISTO", old.matricule, old.oid, (old.date_deb, old.date_fin), history_dates)
        tiq = _sub(individu, "TIQ")
        traits = {
            "NomNaissance": identity.nom_naissance,
            "Prenom": identity.prenoms[0],
            "ListePrenom": " ".join(identity.prenoms),
            "Sexe": identity.sexe,
            "DateNaissance": identity.date_naissance,
            "LieuNaissance": identity.lieu_naissance or "",
        } | identity.answer
        for name, value in traits.items():
            # CodSexe's pattern refuses an empty Sexe: an empty sex is an absent element (minOccurs 0).
            if value or name not in ("LieuNaissance", "Sexe"):
                _sub(tiq, name, value)
    return root


def siram_fault(code: str, subcode: str, erreur: str, reason: str, text: str, message_id: str | None) -> bytes:
    """A SOAP 1.2 fault with a siram:Erreur detail, shaped like the CNAM desir_550 fault."""
    detail = etree.Element(f"{{{SIRAM}}}Erreur", nsmap={"siram": SIRAM})
    detail.set("code", erreur)
    if message_id:
        detail.set("messageID", message_id)
    detail.set("severite", "erreur")
    detail.text = text
    return soap.fault(code, reason, subcode=f"soap:{subcode}", detail=detail)


def action_not_supported_fault(action: str, message_id: str | None) -> bytes:
    """The wsa:ActionNotSupported fault (SOAP 1.2), naming the action received in wsa:ProblemAction."""
    header = [soap.wsa_element("Action", WSA_FAULT_ACTION)]
    if message_id:
        header.append(soap.wsa_element("RelatesTo", message_id))
    problem = etree.Element(f"{{{soap.WSA_NS}}}ProblemAction", nsmap={"wsa": soap.WSA_NS})
    etree.SubElement(problem, f"{{{soap.WSA_NS}}}Action").text = action
    return soap.fault(
        "Sender",
        ACTION_NOT_SUPPORTED_REASON,
        subcode="wsa:ActionNotSupported",
        detail=problem,
        header=header,
        lang="en",
        namespaces={"wsa": soap.WSA_NS},
    )
