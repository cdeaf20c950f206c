"""The reference product "used by hand" against a session of segur serve: it only talks to the session's endpoints.

No SUT adapter of the harness is involved in judging: the reference clients are driven here as a
person would drive a product, through the endpoints ``segur session new`` printed, and
``segur judge`` later finds what they did in the recorded traffic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.run.sut.base import SutContext
from harness.run.sut.reference import ReferenceSut
from mock_services.dmp.patients import PatientBase

PROFESSIONAL = "claire.hospitaliere-test@harnais.mssante.fr"


def session_context(session: dict[str, Any], work_dir: Path) -> SutContext:
    """The session's endpoints and credentials, as a vendor would copy them into the product's settings."""
    mss = session.get("mss") or {}
    endpoints = {"mss": mss.get("smtp", ""), "mss_imap": mss.get("imap", "")}
    for service, field in (("dmp", "url"), ("insi", "url"), ("psc", "issuer")):
        if service in session:
            endpoints[service] = session[service][field]
    pki = session["pki"]
    return SutContext(
        session_key=session["session"],
        endpoints=endpoints,
        ca_bundle=Path(pki["ca_bundle"]),
        client_cert=Path(pki["client_cert"]),
        client_key=Path(pki["client_key"]),
        client_p12=Path(pki["client_p12"]),
        p12_password=pki["p12_password"],
        work_dir=work_dir,
        pki_dir=Path(session["data_dir"]) / "pki",
    )


def use_by_hand(
    session: dict[str, Any],
    work_dir: Path,
    defects: frozenset[str] = frozenset(),
    parts: str = "dmp,mss",
    reverse: bool = False,
) -> None:
    """What a vendor does in the product's screens (``parts``: dmp, mss), in the README's order or ``reverse``d."""
    product, context = ReferenceSut(defects), session_context(session, work_dir)
    patients = PatientBase.load()
    ouvert, vide = patients["OUVERT"].identity(), patients["VIDE"].identity()

    def do(action: str, **params: Any) -> dict[str, Any]:
        return product.perform(action, params, context).data

    if "mss" in parts and reverse:
        use_mss(do, ouvert, vide, reverse)
    if "dmp" in parts:
        use_dmp(do, ouvert, reverse)
        # DMP-14: a patient whose DMP gives the user no authorisation is fed all the same
        do("dmp.feed_document", patient=patients["VIDE"].identity(), title="Compte rendu de consultation", masking=[])
    if "mss" in parts and not reverse:
        use_mss(do, ouvert, vide, reverse)


def use_mss(do: Any, ouvert: dict[str, Any], vide: dict[str, Any], reverse: bool) -> None:
    sends = [
        ("mss.send_document", {"patient": ouvert, "recipient": PROFESSIONAL}),
        ("mss.send_to_patient", {"patient": ouvert, "no_reply": True}),  # MSS-10: no answer wanted
        ("mss.send_to_patient", {"patient": {**vide, "status": "VALI"}}),
    ]
    for action, params in reversed(sends) if reverse else sends:
        do(action, title="Compte rendu", **params)


def use_dmp(do: Any, ouvert: dict[str, Any], reverse: bool = False) -> None:
    """A person goes on when the DMP refuses a step (a defective product is refused often): the next one."""

    def consult() -> None:
        listed = do("dmp.find_documents", patient=ouvert).get("documents") or []
        if listed:
            do("dmp.read_document", patient=ouvert, unique_id=listed[-1 if reverse else 0]["unique_id"])

    if not reverse:
        do("dmp.check_dmp", patient=ouvert)
    do("dmp.feed_document", patient=ouvert, title="Compte rendu de consultation", masking=[])
    if not reverse:
        consult()
    follow_ups = (
        ("Compte rendu à masquer", "dmp.mask_document", {"masked": True}),
        ("Compte rendu à remplacer", "dmp.replace_document", {"title": "Compte rendu corrigé"}),
        ("Compte rendu à supprimer", "dmp.delete_document", {}),
        ("Compte rendu à archiver", "dmp.archive_document", {"archived": True}),
    )
    for title, action, params in reversed(follow_ups) if reverse else follow_ups:
        shared = do("dmp.feed_document", patient=ouvert, title=title, masking=[]).get("unique_id")
        if shared:
            do(action, patient=ouvert, unique_id=shared, **params)
    if reverse:  # the consultation after everything else, and the existence test last of all
        consult()
        do("dmp.check_dmp", patient=ouvert)


# -- INSi, Pro Santé Connect and a document for the cda suite (README: "What the session must hold") --------------

INSI_SEARCHES = ("ADRUN-ZOE", "HOUILLES-PIERRE", "DE-VINCI-LEONARDO-1", "INSI-JOUR-00", "INSI-NOM-VIDE")
CDA_TITLE = "Note de consultation"


def use_insi(session: dict[str, Any], work_dir: Path, defects: frozenset[str] = frozenset()) -> None:
    """Patients looked up in INSi from the product's identity screen: by traits, then by carte Vitale."""
    from suites.ins.persons import traits, with_carte_vitale

    product, context = ReferenceSut(defects), session_context(session, work_dir)
    for key in INSI_SEARCHES:
        product.perform("insi.search_by_traits", traits(key), context)
    holder = with_carte_vitale()
    card = holder["carte_vitale"]
    params = {
        "matricule_individu": card["matricule_individu"],
        "nom_naissance": holder["nom_naissance"],
        "date_naissance": holder["date_naissance"],
        "rang_naissance": card.get("rang_naissance", "1"),
        "identity_document_checked": False,
    }
    product.perform("insi.search_by_carte_vitale", params, context)


def use_psc(session: dict[str, Any], work_dir: Path, defects: frozenset[str] = frozenset()) -> None:
    """A professional logs in with Pro Santé Connect in a browser, the session is renewed, then logged out."""
    import httpx

    from harness.core import pki
    from harness.run import useragent
    from harness.run.useragent import LoginFailed

    product, context = ReferenceSut(defects), session_context(session, work_dir)
    browser_tls = pki.client_ssl_context(pki.load_or_create_pki(context.pki_dir), None)
    start = product.perform("psc.authorization_url", {}, context).data["url"]
    try:
        landed = useragent.psc_login(start, "899900000011", browser_tls)
    except LoginFailed:
        return  # the provider refused the product's request: the person can go no further
    product.perform("psc.callback", {"url": landed}, context)
    product.perform("psc.refresh", {}, context)
    logout = product.perform("psc.logout_url", {}, context).data["url"]
    with httpx.Client(verify=browser_tls, timeout=10) as browser:
        browser.get(logout)


def share_document(session: dict[str, Any], work_dir: Path, defects: frozenset[str] = frozenset()) -> None:
    """The product shares a note on the DMP: its CDA is what the cda suite judges."""
    product, context = ReferenceSut(defects), session_context(session, work_dir)
    ouvert = PatientBase.load()["OUVERT"].identity()
    product.perform("dmp.feed_document", {"patient": ouvert, "title": CDA_TITLE, "masking": []}, context)
