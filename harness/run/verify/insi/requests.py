"""What the product sent to INSi: addressing, context headers, traits and carte Vitale bodies, authentication."""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

from harness.core import ins
from harness.core.recorder import Exchange
from harness.core.results import Finding
from harness.protocols.cpx import check_assertion
from harness.run.verify.insi.exchanges import NS, _parse, _text, no_exchange, read_response, where
from harness.run.verify.recorded import require_live

ACTION_PREFIX = "urn:ServiceIdentiteCertifiee:1.0.0:"


ALLOWED_CNS = {"INSI-AUTO", "INSI-MANU"}


MESSAGE_ID = re.compile(r"^uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


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
    require_live(
        "INS-04",
        "the TLS client certificate it presented",
        "le certificat client TLS qu'il a présenté",
        exchanges=exchanges,
    )
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
