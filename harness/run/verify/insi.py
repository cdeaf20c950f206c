"""Verifiers of the ``ins`` suite: what the product sent to INSi and what it kept.

They read the raw recorded bytes (not the mock's own summary), so a verdict depends only on
the recordings and these rules, and a past run can be judged again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lxml import etree

from harness.core import ins
from harness.core.recorder import Exchange
from harness.core.results import Finding
from harness.core.skips import HarnessDataError, blocked_by
from harness.protocols.cpx import check_assertion

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
ACTION_PREFIX = "urn:ServiceIdentiteCertifiee:1.0.0:"
OPERATIONS = {"rechercherInsAvecTraitsIdentite", "rechercherInsAvecCarteVitale"}
ALLOWED_CNS = {"INSI-AUTO", "INSI-MANU"}
MESSAGE_ID = re.compile(r"^uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
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


def check_addressing(exchanges: list[Exchange]) -> list[Finding]:
    """INS-01: SOAP 1.2 envelope, wsa:Action of a known operation, wsa:MessageID uuid:<UUID>."""
    if not exchanges:
        return no_exchange("INS-01")
    findings = []
    for exchange in exchanges:
        root = _parse(exchange.request_body)
        if root is None or etree.QName(root).namespace != NS["soap"]:
            received = etree.QName(root).namespace if root is not None else "unparseable XML"
            findings.append(
                Finding(
                    "insi.soap12",
                    "the request is not a SOAP 1.2 envelope",
                    message_fr="la requête n'est pas une enveloppe SOAP 1.2",
                    received_fr=received if root is not None else "XML illisible",
                    requirement="INS-01",
                    expected=NS["soap"],
                    received=received,
                    location=where(exchange),
                )
            )
            continue
        action = _text(root, "/soap:Envelope/soap:Header/wsa:Action")
        body = root.xpath("/soap:Envelope/soap:Body/*", namespaces=NS)
        expected_op = {
            "RECSANSVITALE": "rechercherInsAvecTraitsIdentite",
            "RECVITALE": "rechercherInsAvecCarteVitale",
        }
        op = expected_op.get(etree.QName(body[0]).localname) if body else None
        if action != (ACTION_PREFIX + op if op else action) or not action or not action.startswith(ACTION_PREFIX):
            findings.append(
                Finding(
                    "insi.wsa-action",
                    "wsa:Action does not name the operation of the body",
                    message_fr="wsa:Action ne désigne pas l'opération du corps",
                    requirement="INS-01",
                    expected=ACTION_PREFIX + (op or "<operation>"),
                    received=str(action),
                    location=where(exchange),
                )
            )
        message_id = _text(root, "/soap:Envelope/soap:Header/wsa:MessageID")
        if not message_id or not MESSAGE_ID.match(message_id):
            findings.append(
                Finding(
                    "insi.wsa-messageid",
                    "wsa:MessageID is missing or not uuid:<UUID>",
                    message_fr="wsa:MessageID est absent ou n'est pas de la forme uuid:<UUID>",
                    requirement="INS-01",
                    expected="uuid:<UUID>",
                    received=str(message_id),
                    location=where(exchange),
                )
            )
    roots = [_parse(e.request_body) for e in exchanges]
    ids = [_text(r, "//wsa:MessageID") for r in roots if r is not None]
    reused = sorted({i for i in ids if i and ids.count(i) > 1})
    if reused:
        findings.append(
            Finding(
                "insi.wsa-messageid-unique",
                "a wsa:MessageID is reused across calls",
                message_fr="un même wsa:MessageID est réutilisé dans plusieurs appels",
                expected_fr="un MessageID par appel",
                requirement="INS-01",
                expected="one MessageID per call",
                received=", ".join(reused),
            )
        )
    return findings


def check_contexts(exchanges: list[Exchange]) -> list[Finding]:
    """INS-02: ContexteBAM 01_02 and ContexteLPS 01_00 with IDAM R=4, Version, Instance, Nom."""
    if not exchanges:
        return no_exchange("INS-02")
    findings = []
    required = {
        "ContexteBAM": ("bam:ContexteBAM", {"@Version": "01_02"}, ["bam:Id", "bam:Temps", "bam:Emetteur"]),
        "ContexteLPS": (
            "lps:ContexteLPS",
            {"@Nature": "CTXLPS", "@Version": "01_00", "lps:LPS/lps:IDAM/@R": "4"},
            [
                "lps:Id",
                "lps:Temps",
                "lps:Emetteur",
                "lps:LPS/lps:IDAM",
                "lps:LPS/lps:Version",
                "lps:LPS/lps:Instance",
                "lps:LPS/lps:Nom",
            ],
        ),
    }
    for exchange in exchanges:
        root = _parse(exchange.request_body)
        if root is None:
            continue
        for name, (path, fixed, mandatory) in required.items():
            header = root.xpath(f"/soap:Envelope/soap:Header/{path}", namespaces=NS)
            if not header:
                findings.append(
                    Finding(
                        "insi.context-header",
                        f"the {name} header is missing",
                        message_fr=f"l'en-tête {name} est absent",
                        received_fr="absent",
                        requirement="INS-02",
                        expected=name,
                        received="absent",
                        location=where(exchange),
                    )
                )
                continue
            for sub, value in fixed.items():
                got = _text(header[0], sub)
                if got != value:
                    findings.append(
                        Finding(
                            "insi.context-value",
                            f"{name} {sub} has the wrong value",
                            message_fr=f"{name} {sub} n'a pas la valeur attendue",
                            requirement="INS-02",
                            expected=value,
                            received=str(got),
                            location=where(exchange),
                        )
                    )
            missing = [m for m in mandatory if not _text(header[0], m)]
            if missing:
                findings.append(
                    Finding(
                        "insi.context-field",
                        f"{name} lacks mandatory fields",
                        message_fr=f"il manque des champs obligatoires à {name}",
                        received_fr=f"manquants : {', '.join(missing)}",
                        requirement="INS-02",
                        expected=", ".join(mandatory),
                        received=f"missing {', '.join(missing)}",
                        location=where(exchange),
                    )
                )
        if read_response(exchange).fault_code == "desir_550":
            findings.append(
                Finding(
                    "insi.idam",
                    "INSi refused the software authorisation number (desir_550)",
                    message_fr="INSi a refusé le numéro d'autorisation du logiciel (desir_550)",
                    requirement="INS-02",
                    location=where(exchange),
                )
            )
    return findings


def check_traits_request(exchanges: list[Exchange], person: dict[str, Any]) -> list[Finding]:
    """INS-03: traits in the RECSANSVITALE body, in the formats INSi expects."""
    traits_calls = [
        e
        for e in exchanges
        if (r := _parse(e.request_body)) is not None and r.xpath("//sans:RECSANSVITALE", namespaces=NS)
    ]
    if not traits_calls:
        return no_exchange("INS-03")
    findings = []
    given = {ins.normalise_name(p) for p in person["prenoms"]} | {ins.normalise_name(" ".join(person["prenoms"]))}
    for exchange in traits_calls:
        root = _parse(exchange.request_body)
        assert root is not None
        body = root.xpath("//sans:RECSANSVITALE", namespaces=NS)[0]

        def field(name: str, body: etree._Element = body) -> str | None:
            return _text(body, f"sans:{name}")

        checks = [
            (
                "NomNaissance",
                field("NomNaissance") is not None
                and ins.normalise_name(field("NomNaissance") or "") == ins.normalise_name(person["nom_naissance"]),
                person["nom_naissance"],
                None,  # a name reads the same in both languages
            ),
            ("Sexe", field("Sexe") in ins.SEXES, "M or F", "M ou F"),
            ("DateNaissance", bool(ISO_DATE.match(field("DateNaissance") or "")), "YYYY-MM-DD", "AAAA-MM-JJ"),
        ]
        lieu = field("LieuNaissance")
        if lieu is not None:
            checks.append(
                ("LieuNaissance", ins.is_valid_cog(lieu), "a 5-character COG code", "un code COG sur 5 caractères")
            )
        prenoms = [str(p) for p in body.xpath("sans:Prenom/text()", namespaces=NS)]
        joined = ins.normalise_name(" ".join(prenoms))
        checks.append(
            (
                "Prenom",
                bool(prenoms) and joined in given,
                "birth given name(s) of the patient",
                "le ou les prénoms de naissance du patient",
            )
        )
        for name, ok, expected, expected_fr in checks:
            if not ok:
                received = " ".join(prenoms) if name == "Prenom" else str(field(name))
                findings.append(
                    Finding(
                        "insi.traits-format",
                        f"trait {name} is missing or badly formatted",
                        message_fr=f"le trait {name} est absent ou mal formaté",
                        expected_fr=expected_fr,
                        requirement="INS-03",
                        expected=str(expected),
                        received=received,
                        location=f"{where(exchange)} RECSANSVITALE/{name}",
                    )
                )
    return findings


def check_carte_vitale_request(exchanges: list[Exchange], card: dict[str, Any], date_naissance: str) -> list[Finding]:
    """INS-08: the RECVITALE body carries the matricule read on the card and the birth date.

    The XSD types DateNaissance as a plain string (``DateLunaire``); the date is judged in the
    YYYY-MM-DD form the facts give for the traits search, which is also what the mock compares.
    """
    vitale_calls = [e for e in exchanges if e.operation == "rechercherInsAvecCarteVitale"]
    if not vitale_calls:
        return no_exchange("INS-08")
    findings = []
    for exchange in vitale_calls:
        root = _parse(exchange.request_body)
        bodies = root.xpath("//vit:RECVITALE", namespaces=NS) if root is not None else []
        if not bodies:
            findings.append(
                Finding(
                    "insi.carte-vitale",
                    "the request has no RECVITALE body",
                    requirement="INS-08",
                    location=where(exchange),
                    message_fr="la requête n'a pas de corps RECVITALE",
                )
            )
            continue
        body = bodies[0]
        matricule = (_text(body, "vit:MatriculeIndividu/vit:NumIdentifiant") or "") + (
            _text(body, "vit:MatriculeIndividu/vit:Cle") or ""
        )
        sent_date = _text(body, "vit:DateNaissance") or ""
        checks = [
            ("MatriculeIndividu", matricule == card["matricule_individu"], card["matricule_individu"], matricule),
            (
                "DateNaissance",
                sent_date == date_naissance and ISO_DATE.match(sent_date) is not None,
                date_naissance,
                sent_date,
            ),
        ]
        for name, ok, expected, received in checks:
            if not ok:
                findings.append(
                    Finding(
                        "insi.carte-vitale",
                        f"{name} is missing or differs from the card read",
                        requirement="INS-08",
                        expected=expected,
                        received=received or "(absent)",
                        location=f"{where(exchange)} RECVITALE/{name}",
                        message_fr=f"{name} est absent ou diffère de la carte lue",
                        received_fr=received or "(absent)",
                    )
                )
    return findings


def check_authentication(exchanges: list[Exchange], cpx_trust_pems: tuple[bytes, ...] = ()) -> list[Finding]:
    """INS-04: an organisation certificate with CN INSI-AUTO or INSI-MANU, or a valid CPx assertion."""
    if not exchanges:
        return no_exchange("INS-04")
    findings = []
    for exchange in exchanges:
        root = _parse(exchange.request_body)
        assertions = [] if root is None else root.xpath("//*[local-name()='Security']/*[local-name()='Assertion']")
        subject = exchange.client_subject or ""
        cn = next((p[3:] for p in subject.split(",") if p.startswith("CN=")), None)
        if exchange.client_subject is None and assertions:
            cpx = check_assertion(assertions[0], cpx_trust_pems)
            if not (cpx["signature_valid"] and cpx["trusted"]):
                findings.append(
                    Finding(
                        "insi.cpx-assertion",
                        "the CPx assertion is not validly signed by a trusted card",
                        message_fr="l'assertion CPx n'est pas valablement signée par une carte de confiance",
                        expected_fr="une signature par un certificat CPS de confiance",
                        requirement="INS-04",
                        expected="a signature by a trusted CPS certificate",
                        received="; ".join(cpx["problems"]),
                        location=where(exchange),
                    )
                )
            continue
        if cn not in ALLOWED_CNS:
            findings.append(
                Finding(
                    "insi.client-certificate",
                    "the TLS client certificate is not an INSi one",
                    message_fr="le certificat client TLS n'est pas un certificat INSi",
                    expected_fr="CN=INSI-AUTO ou CN=INSI-MANU",
                    received_fr=subject or "aucun certificat client",
                    requirement="INS-04",
                    expected="CN=INSI-AUTO or CN=INSI-MANU",
                    received=subject or "no client certificate",
                    location=where(exchange),
                )
            )
    return findings


def response_with_identity(exchanges: list[Exchange]) -> tuple[Exchange, InsiResponse] | None:
    for exchange in reversed(exchanges):
        response = read_response(exchange)
        if response.code_cr == "00":
            return exchange, response
    return None


def request_gates(
    exchanges: list[Exchange], person: dict[str, Any] | None = None, cpx_trust_pems: tuple[bytes, ...] = ()
) -> dict[str, list[Finding]]:
    """The requirements that judge the product's own INSi requests, each with its findings.

    They are the preconditions of every test that judges what the product did with INSi's
    answer: INS-03 only for a search by traits, whose given traits are ``person``.
    """
    calls = business_exchanges(exchanges)
    gates = {
        "INS-01": check_addressing(calls),
        "INS-02": check_contexts(exchanges),
        "INS-04": check_authentication(exchanges, cpx_trust_pems),
    }
    if person is not None:
        gates["INS-03"] = check_traits_request(calls, person)
    return gates


def require_answer(
    exchanges: list[Exchange],
    requirement: str,
    codes: tuple[str, ...] = ("00",),
    person: dict[str, Any] | None = None,
    cpx_trust_pems: tuple[bytes, ...] = (),
) -> None:
    """Precondition of a test judging what the product kept: INSi answered one of ``codes`` (CodeCR).

    When it did not, the product's own request is to blame if a requirement judging it fails
    (the test is then not evaluable because of that requirement); otherwise the harness's test
    data or mock is wrong, which is a harness error, never the product's.
    """
    if any(read_response(e).code_cr in codes for e in business_exchanges(exchanges)):
        return
    blocked_by(request_gates(exchanges, person, cpx_trust_pems), requirement)
    raise HarnessDataError(
        f"{requirement}: INSi gave no CR {'/'.join(codes)} in this scenario although the product's requests "
        "meet INS-01 to INS-04: the harness's test data or INSi mock is wrong"
    )


def check_kept_identity(
    answer: dict[str, Any],
    exchanges: list[Exchange],
    requirement: str,
    person: dict[str, Any] | None = None,
    cpx_trust_pems: tuple[bytes, ...] = (),
) -> list[Finding]:
    """INS-05 (and INS-08/10/12/14 through their data): the identity kept is INSi's, unchanged.

    Its precondition is :func:`require_answer`: INSi gave an identity (CR 00).
    """
    require_answer(exchanges, requirement, ("00",), person, cpx_trust_pems)
    found = response_with_identity(exchanges)
    assert found is not None  # require_answer saw a CR 00
    exchange, response = found
    location = where(exchange)
    if answer.get("outcome") != "found" or not isinstance(answer.get("identity"), dict):
        return [
            Finding(
                "insi.identity-kept",
                "INSi returned an identity (CR 00) but the product kept none",
                message_fr="INSi a renvoyé une identité (CR 00) mais le produit n'en a conservé aucune",
                expected_fr="résultat found avec l'identité",
                received_fr=f"résultat {answer.get('outcome')!r} : {answer.get('message', '')}",
                requirement=requirement,
                expected="outcome found with the identity",
                received=f"outcome {answer.get('outcome')!r}: {answer.get('message', '')}",
                location=location,
            )
        ]
    kept = answer["identity"]
    expected = {
        "ins": response.matricule,
        "oid": response.oid,
        "nom_naissance": response.traits.get("NomNaissance"),
        "prenoms": (response.traits.get("ListePrenom") or response.traits.get("Prenom") or "").split(),
        "sexe": response.traits.get("Sexe"),
        "date_naissance": response.traits.get("DateNaissance"),
        "lieu_naissance": response.traits.get("LieuNaissance", ""),
    }
    return [
        Finding(
            "insi.identity-kept",
            f"the identity kept differs from INSi's answer on {key}",
            message_fr=f"l'identité conservée diffère de la réponse d'INSi sur {key}",
            requirement=requirement,
            expected=repr(value),
            received=repr(kept.get(key)),
            location=location,
        )
        for key, value in expected.items()
        if kept.get(key) != value
    ]


def check_no_identity_kept(answer: dict[str, Any], expected_outcome: str, requirement: str) -> list[Finding]:
    """INS-06/07/13: nothing kept, and the answer tells the user what happened."""
    findings = []
    if answer.get("identity"):
        findings.append(
            Finding(
                "insi.no-identity",
                "the product kept an identity where INSi gave none",
                message_fr="le produit a conservé une identité alors qu'INSi n'en a renvoyé aucune",
                expected_fr="aucune identité",
                requirement=requirement,
                expected="no identity",
                received=repr(answer.get("identity")),
            )
        )
    if answer.get("outcome") != expected_outcome:
        findings.append(
            Finding(
                "insi.outcome",
                "the product told the user something else than INSi answered",
                message_fr="le produit a indiqué à l'utilisateur autre chose que ce qu'INSi a répondu",
                requirement=requirement,
                expected=expected_outcome,
                received=f"{answer.get('outcome')!r}: {answer.get('message', '')}",
            )
        )
    return findings


def check_status(answer: dict[str, Any], document_checked: bool) -> list[Finding]:
    """INS-11: RECUP without an identity document check, QUAL with one."""
    identity = answer.get("identity") or {}
    expected = ins.status_after(retrieved_from_insi=True, identity_document_checked=document_checked).value
    if identity.get("status") != expected:
        reason, reason_fr = ("with", "avec") if document_checked else ("without", "sans")
        return [
            Finding(
                "ins.identity-status",
                f"wrong identity status for an INSi identity {reason} document check",
                message_fr=f"statut d'identité erroné pour une identité INSi {reason_fr} contrôle de pièce d'identité",
                requirement="INS-11",
                expected=expected,
                received=repr(identity.get("status")),
            )
        ]
    return []


def check_export(answer: dict[str, Any], identity: dict[str, Any]) -> list[Finding]:
    """INS-16: the INS leaves the product only for a QUAL identity."""
    carried = [i for i in answer.get("identifiers", []) if i.get("value") == identity["ins"]]
    may_carry = ins.may_carry_ins_in_exchanges(ins.IdentityStatus(identity["status"]))
    if carried and not may_carry:
        return [
            Finding(
                "ins.export-unqualified",
                f"the INS is exported for an identity that is not qualified (status {identity['status']})",
                message_fr=f"l'INS est exporté pour une identité qui n'est pas qualifiée (statut {identity['status']})",
                expected_fr="aucun identifiant INS",
                requirement="INS-16",
                expected="no INS identifier",
                received=repr(carried),
            )
        ]
    if may_carry and not carried:
        return [
            Finding(
                "ins.export-qualified",
                "a qualified identity is exported without its INS",
                message_fr="une identité qualifiée est exportée sans son INS",
                expected_fr=f"{identity['ins']} avec l'OID {identity['oid']}",
                requirement="INS-16",
                expected=f"{identity['ins']} with OID {identity['oid']}",
                received=repr(answer.get("identifiers")),
            )
        ]
    if carried and carried[0].get("oid") != identity["oid"]:
        return [
            Finding(
                "ins.export-oid",
                "the exported INS does not carry its OID",
                message_fr="l'INS exporté ne porte pas son OID",
                requirement="INS-16",
                expected=identity["oid"],
                received=repr(carried[0].get("oid")),
            )
        ]
    return []
