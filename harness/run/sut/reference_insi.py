"""The built-in reference INSi client: what a conforming DPI/LGC does when it calls INSi.

It is written from the WSDL/XSDs (not from the mock) and speaks SOAP 1.2 over mutual TLS.
Named *defects* make it misbehave in one precise way each, so that every requirement of the
``ins`` suite can be shown to fail.
"""

from __future__ import annotations

import datetime as dt
import ssl
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from lxml import etree

from harness.core import ins

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
CTXBAM = "urn:siram:bam:ctxbam"
CTXLPS = "urn:siram:lps:ctxlps"
RECSANS = "http://www.cnamts.fr/INSiRecSans"
RECVIT = "http://www.cnamts.fr/INSiRecVit"
RESULTAT = "http://www.cnamts.fr/INSiResultat"
ACTION_PREFIX = "urn:ServiceIdentiteCertifiee:1.0.0:"

INSI_DEFECTS: dict[str, str] = {
    "no_contexte_lps": "sends no ContexteLPS header (no software authorisation number)",
    "no_message_id": "sends no wsa:MessageID",
    "wrong_traits_format": "sends the birth date as DD/MM/YYYY and the sex as 1/2",
    "wrong_certificate_cn": "authenticates with an organisation certificate whose CN is not INSI-AUTO/MANU",
    "ignores_cr02": "treats CR 02 (several identities) like CR 01 and reports no identity found",
    "ins_without_oid": "keeps the matricule INS without its OID",
    "nia_as_nir": "keeps a NIA with the NIR OID instead of the OID returned",
    "stores_historic_ins": "keeps the first INSHISTO matricule instead of INSACTIF",
    "rewrites_traits": "keeps only the first given name and title-cases the names instead of the traits returned",
    "qualifies_without_verification": "marks every identity found QUAL, identity document checked or not",
    "skips_verification_compare": "reports a stored INS as verified without comparing it with INSi's answer",
    "error_as_not_found": "reports a SOAP fault or an unreachable service as 'no identity found'",
    "naive_key_check": "checks the returned key with int() and so rejects Corsica (2A/2B) matricules",
    "shares_unqualified_ins": "puts the INS in outgoing documents whatever the identity status",
    "imports_unknown_birth_day": "imports an INSi identity whose birth date has 00 as day or month",
    "imports_empty_traits": "imports an INSi identity whose birth name, given names or sex is empty",
    "keeps_ins_after_failed_verification": "keeps the INS and the status of an identity whose verification failed",
}


class InsiCallError(Exception):
    """INSi answered a fault or could not be reached."""


@dataclass
class InsiAnswer:
    code_cr: str
    individu: dict[str, Any] | None


@dataclass
class ReferenceInsiClient:
    url: str
    ssl_context: ssl.SSLContext | None
    defects: frozenset[str] = frozenset()
    idam: str = "SEGUR-REF-IDAM"
    software_name: str = "segur-harness-reference"
    software_version: str = "1.0"
    emitter: str = "reference-client@segur-harness.invalid"
    timeout: float = 10.0
    instance: str = field(default_factory=lambda: str(uuid.uuid4()))

    # -- the actions ---------------------------------------------------------------------
    def search_by_traits(
        self,
        nom_naissance: str,
        prenoms: list[str],
        sexe: str,
        date_naissance: str,
        lieu_naissance: str = "",
        identity_document_checked: bool = False,
    ) -> dict[str, Any]:
        # Usual client practice (facts §1.4): one call per birth given name, then the full list.
        attempts = [[p] for p in prenoms] + ([prenoms] if len(prenoms) > 1 else [])
        try:
            for attempt in attempts or [[]]:
                body = self._traits_body(nom_naissance, attempt, sexe, date_naissance, lieu_naissance)
                answer = self._call("rechercherInsAvecTraitsIdentite", body)
                if answer.code_cr == "02" and "ignores_cr02" not in self.defects:
                    return _multiple()
                if answer.code_cr == "00":
                    return self._found(answer, identity_document_checked)
        except InsiCallError as exc:
            return self._failed(exc)
        return {"outcome": "not_found", "identity": None, "message": "Aucune identité trouvée par INSi."}

    def search_by_carte_vitale(
        self,
        matricule_individu: str,
        date_naissance: str,
        nom_naissance: str = "",
        rang_naissance: str = "1",
        identity_document_checked: bool = False,
    ) -> dict[str, Any]:
        body = etree.Element(f"{{{RECVIT}}}RECVITALE", nsmap={None: RECVIT})
        numero, cle = matricule_individu[:13], matricule_individu[13:]
        matricule = etree.SubElement(body, f"{{{RECVIT}}}MatriculeIndividu")
        _sub(matricule, RECVIT, "NumIdentifiant", numero)
        _sub(matricule, RECVIT, "Cle", cle)
        if nom_naissance:
            _sub(body, RECVIT, "NomNaissance", nom_naissance)
        _sub(body, RECVIT, "DateNaissance", self._date(date_naissance))
        _sub(body, RECVIT, "RangNaissance", rang_naissance)
        try:
            answer = self._call("rechercherInsAvecCarteVitale", body)
        except InsiCallError as exc:
            return self._failed(exc)
        if answer.code_cr == "00":
            return self._found(answer, identity_document_checked)
        if answer.code_cr == "02" and "ignores_cr02" not in self.defects:
            return _multiple()
        return {"outcome": "not_found", "identity": None, "message": "Aucune identité trouvée par INSi."}

    def verify_identity(self, identity: dict[str, Any]) -> dict[str, Any]:
        prenoms = list(identity.get("prenoms") or [])
        body = self._traits_body(
            identity["nom_naissance"],
            prenoms,
            identity["sexe"],
            identity["date_naissance"],
            identity.get("lieu_naissance") or "",
        )
        try:
            answer = self._call("rechercherInsAvecTraitsIdentite", body)
        except InsiCallError as exc:
            return self._failed(exc)
        if "skips_verification_compare" in self.defects:
            return {"outcome": "verified", "message": "INS vérifié."}
        if answer.code_cr == "01":
            return {
                "outcome": "not_found",
                "message": "INSi ne retrouve pas cette identité.",
                "identity": self._after_failed_verification(identity),
            }
        if answer.code_cr == "02":
            return {"outcome": "multiple", "message": "INSi trouve plusieurs identités."}
        active = (answer.individu or {}).get("insactif") or {}
        same = active.get("matricule") == identity.get("ins") and active.get("oid") == identity.get("oid")
        if same:
            return {"outcome": "verified", "message": "INS vérifié.", "identity": dict(identity)}
        return {
            "outcome": "mismatch",
            "message": "L'INS renvoyé par INSi diffère de l'INS enregistré.",
            "identity": self._after_failed_verification(identity),
        }

    def _after_failed_verification(self, identity: dict[str, Any]) -> dict[str, Any]:
        """Règle 49 of the INS guide: a failed verification downgrades the status and drops the INS."""
        if "keeps_ins_after_failed_verification" in self.defects:
            return dict(identity)
        status = ins.status_after_failed_verification(ins.IdentityStatus(identity["status"]))
        return dict(identity, ins=None, oid=None, status=status.value)

    def export_identifiers(self, identity: dict[str, Any]) -> dict[str, Any]:
        carries_ins = identity.get("status") == ins.IdentityStatus.QUAL.value
        if "shares_unqualified_ins" in self.defects:
            carries_ins = bool(identity.get("ins"))
        identifiers = [{"value": identity["ins"], "oid": identity.get("oid")}] if carries_ins else []
        return {"outcome": "exported", "identifiers": identifiers}

    # -- building and sending ----------------------------------------------------------------
    def _date(self, iso_date: str) -> str:
        if "wrong_traits_format" in self.defects:
            return dt.date.fromisoformat(iso_date).strftime("%d/%m/%Y")
        return iso_date

    def _traits_body(self, nom: str, prenoms: list[str], sexe: str, date_naissance: str, lieu: str) -> etree._Element:
        body = etree.Element(f"{{{RECSANS}}}RECSANSVITALE", nsmap={None: RECSANS})
        _sub(body, RECSANS, "NomNaissance", nom)
        for prenom in prenoms:
            _sub(body, RECSANS, "Prenom", prenom)
        if "wrong_traits_format" in self.defects:
            sexe = {"M": "1", "F": "2"}.get(sexe, sexe)
        _sub(body, RECSANS, "Sexe", sexe)
        _sub(body, RECSANS, "DateNaissance", self._date(date_naissance))
        if lieu:
            _sub(body, RECSANS, "LieuNaissance", lieu)
        return body

    def _envelope(self, operation: str, body: etree._Element) -> bytes:
        now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        nsmap = {"soap": SOAP12, "wsa": WSA, "ctxbam": CTXBAM, "ctxlps": CTXLPS}
        envelope = etree.Element(f"{{{SOAP12}}}Envelope", nsmap=nsmap)
        header = etree.SubElement(envelope, f"{{{SOAP12}}}Header")
        bam = etree.SubElement(header, f"{{{CTXBAM}}}ContexteBAM", Version="01_02")
        _sub(bam, CTXBAM, "Id", str(uuid.uuid4()))
        _sub(bam, CTXBAM, "Temps", now)
        _sub(bam, CTXBAM, "Emetteur", self.emitter)
        _sub(bam, CTXBAM, "COUVERTURE", "")
        if "no_contexte_lps" not in self.defects:
            lps_ctx = etree.SubElement(header, f"{{{CTXLPS}}}ContexteLPS", Nature="CTXLPS", Version="01_00")
            _sub(lps_ctx, CTXLPS, "Id", str(uuid.uuid4()))
            _sub(lps_ctx, CTXLPS, "Temps", now)
            _sub(lps_ctx, CTXLPS, "Emetteur", self.emitter)
            lps = etree.SubElement(lps_ctx, f"{{{CTXLPS}}}LPS")
            _sub(lps, CTXLPS, "IDAM", self.idam).set("R", "4")
            _sub(lps, CTXLPS, "Version", self.software_version)
            _sub(lps, CTXLPS, "Instance", self.instance)
            _sub(lps, CTXLPS, "Nom", self.software_name)
        _sub(header, WSA, "Action", ACTION_PREFIX + operation)
        if "no_message_id" not in self.defects:
            _sub(header, WSA, "MessageID", f"uuid:{uuid.uuid4()}")
        etree.SubElement(envelope, f"{{{SOAP12}}}Body").append(body)
        return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")

    def _call(self, operation: str, body: etree._Element) -> InsiAnswer:
        payload = self._envelope(operation, body)
        content_type = f'application/soap+xml; charset=utf-8; action="{ACTION_PREFIX}{operation}"'
        try:
            with httpx.Client(verify=self.ssl_context or True, timeout=self.timeout) as client:
                response = client.post(self.url, content=payload, headers={"Content-Type": content_type})
        except httpx.HTTPError as exc:
            raise InsiCallError(f"INSi injoignable: {exc}") from exc
        try:
            root = etree.fromstring(response.content, etree.XMLParser(resolve_entities=False, no_network=True))
        except etree.XMLSyntaxError as exc:
            raise InsiCallError(f"réponse INSi illisible (HTTP {response.status_code})") from exc
        fault = root.find(f".//{{{SOAP12}}}Fault")
        if fault is not None or response.status_code != 200:
            code = root.find(".//{urn:siram}Erreur")
            detail = code.get("code") if code is not None else f"HTTP {response.status_code}"
            raise InsiCallError(f"erreur INSi {detail}")
        resultat = root.find(f".//{{{RESULTAT}}}RESULTAT")
        if resultat is None:
            raise InsiCallError("réponse INSi sans RESULTAT")
        return InsiAnswer(resultat.findtext(f"{{{RESULTAT}}}CR/{{{RESULTAT}}}CodeCR", ""), _individu(resultat))

    # -- interpreting ------------------------------------------------------------------------
    def _found(self, answer: InsiAnswer, identity_document_checked: bool) -> dict[str, Any]:
        individu = answer.individu or {}
        chosen = individu.get("insactif") or {}
        if "stores_historic_ins" in self.defects and individu.get("inshisto"):
            chosen = individu["inshisto"][0]
        matricule, oid = chosen.get("matricule", ""), chosen.get("oid")
        if "naive_key_check" in self.defects and not _naive_key_ok(matricule):
            return {"outcome": "error", "identity": None, "message": "Clé du matricule INS invalide."}
        if "nia_as_nir" in self.defects and oid == ins.OID_INS_NIA:
            oid = ins.OID_INS_NIR
        tiq = individu.get("tiq") or {}
        refusal = self._import_refusal(tiq)
        if refusal:
            return {"outcome": "refused", "identity": None, "message": refusal}
        prenoms = (tiq.get("ListePrenom") or tiq.get("Prenom") or "").split()
        nom = tiq.get("NomNaissance", "")
        if "rewrites_traits" in self.defects:
            prenoms, nom = [p.title() for p in prenoms[:1]], nom.title()
        status = ins.status_after(retrieved_from_insi=True, identity_document_checked=identity_document_checked)
        if "qualifies_without_verification" in self.defects:
            status = ins.IdentityStatus.QUAL
        identity = {
            "ins": matricule,
            "oid": None if "ins_without_oid" in self.defects else oid,
            "nom_naissance": nom,
            "prenoms": prenoms,
            "sexe": tiq.get("Sexe", ""),
            "date_naissance": tiq.get("DateNaissance", ""),
            "lieu_naissance": tiq.get("LieuNaissance", ""),
            "status": status.value,
        }
        return {"outcome": "found", "identity": identity, "message": "Identité INS récupérée."}

    def _import_refusal(self, tiq: dict[str, str]) -> str | None:
        """Règles 11 and 12 of the INS guide: answers whose INS must not be imported."""
        if "imports_unknown_birth_day" not in self.defects and ins.birth_date_has_unknown_part(
            tiq.get("DateNaissance", "")
        ):
            return "INSi renvoie une date de naissance avec 00 pour jour ou mois : INS non importé."
        empty = [name for name in ("NomNaissance", "Sexe") if not tiq.get(name, "").strip()]
        if not (tiq.get("ListePrenom") or tiq.get("Prenom") or "").strip():
            empty.append("ListePrenom")
        if empty and "imports_empty_traits" not in self.defects:
            return f"INSi renvoie des traits vides ({', '.join(empty)}) : INS non importé."
        return None

    def _failed(self, exc: InsiCallError) -> dict[str, Any]:
        if "error_as_not_found" in self.defects:
            return {"outcome": "not_found", "identity": None, "message": "Aucune identité trouvée par INSi."}
        return {"outcome": "error", "identity": None, "message": f"Service INSi indisponible ({exc})."}


def _multiple() -> dict[str, Any]:
    return {
        "outcome": "multiple",
        "identity": None,
        "message": "INSi trouve plusieurs identités: précisez les traits (tous les prénoms, lieu de naissance).",
    }


def _sub(parent: etree._Element, namespace: str, name: str, text: str) -> etree._Element:
    child = etree.SubElement(parent, f"{{{namespace}}}{name}")
    child.text = text
    return child


def _ins_entry(element: etree._Element) -> dict[str, Any]:
    r = RESULTAT
    numero = element.findtext(f"{{{r}}}IdIndividu/{{{r}}}NumIdentifiant", "")
    cle = element.findtext(f"{{{r}}}IdIndividu/{{{r}}}Cle", "")
    return {"matricule": numero + cle, "oid": element.findtext(f"{{{r}}}OID")}


def _individu(resultat: etree._Element) -> dict[str, Any] | None:
    individu = resultat.find(f"{{{RESULTAT}}}INDIVIDU")
    if individu is None:
        return None
    active = individu.find(f"{{{RESULTAT}}}INSACTIF")
    tiq = individu.find(f"{{{RESULTAT}}}TIQ")
    return {
        "insactif": _ins_entry(active) if active is not None else None,
        "inshisto": [_ins_entry(h) for h in individu.findall(f"{{{RESULTAT}}}INSHISTO")],
        "tiq": {etree.QName(c).localname: c.text or "" for c in tiq} if tiq is not None else {},
    }


def _naive_key_ok(matricule: str) -> bool:
    try:
        return 97 - int(matricule[:13]) % 97 == int(matricule[13:])
    except ValueError:
        return False
