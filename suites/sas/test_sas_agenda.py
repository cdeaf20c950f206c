"""The product's FHIR API as the SAS platform uses it: CapabilityStatement, Slot search, mTLS, regulators.

Sources: ansforge/IG-fhir-service-acces-aux-soins 1.2.0 (b70e7049), its pages
specifications_techniques-ps-recherche_creneaux, -tous-gestion_regulateur and securite; the ANS
SAS kit (ansforge/interop-outil-fhir-sas-test-kit@7f644fa) requirement list agg-psindiv, whose
requirement numbers each catalog row's source cites.
"""

from __future__ import annotations

import datetime as dt
import json
import ssl
import uuid

import httpx
import pytest

from harness.core.results import SkipKind
from harness.core.skips import NotEvaluated
from harness.run.verify import expect
from harness.run.verify import sas as verify
from harness.run.verify import sas_flows as flows
from suites.sas.conftest import IDNPS_SYSTEM, MAX_IDENTIFIERS

pytestmark = pytest.mark.segur_service("sas")

RESPONSE_SECONDS = 1.0  # the ANS SAS kit's budget (aggregation/performance_group.rb: used_time < 1)
SAS_SOURCE = "urn:oid:1.2.250.1.213.3.6"
INTRN = "http://interopsante.org/fhir/CodeSystem/fr-v2-0203"


def searched_bundle(agenda, identifiers=None):
    answer, start_from, start_to = agenda.search(identifiers or agenda.practitioners)
    expect(verify.answered(answer, "GET [base]/Slot"))
    return answer.json(), answer, start_from, start_to


@pytest.mark.requirement("SAS-01")
def test_capability_statement(agenda):
    """Le serveur publie son CapabilityStatement (GET [base]/metadata) : FHIR 4.0.1 et recherche de Slot."""
    answer = agenda.client.request("GET", "metadata")
    expect(verify.answered(answer, "GET [base]/metadata"))
    expect(verify.capability_statement(answer.json(), answer.exchange_id))


@pytest.mark.requirement("SAS-02")
def test_search_over_up_to_25_professionals(agenda):
    """Une recherche de 1 à 25 identifiants nationaux renvoie les créneaux de chacun des professionnels."""
    padding = [f"8999{n:08d}" for n in range(MAX_IDENTIFIERS - len(agenda.practitioners))]
    for identifiers in ([agenda.practitioners[0]], [*agenda.practitioners, *padding][:MAX_IDENTIFIERS]):
        bundle, answer, *_ = searched_bundle(agenda, identifiers)
        found = {
            i.get("value")
            for p in verify.practitioners_of(bundle)
            for i in p.get("identifier") or []
            if isinstance(i, dict)
        }
        missing = sorted(set(agenda.practitioners) & set(identifiers) - found)
        expect(
            [
                verify.finding(
                    "sas.search",
                    f"a search over {len(identifiers)} identifiers returned no slot of some professionals",
                    f"une recherche sur {len(identifiers)} identifiants n'a renvoyé "
                    "aucun créneau de certains professionnels",
                    expected="les créneaux de " + ", ".join(missing),
                    received=f"{len(verify.slots(bundle))} créneaux ; "
                    f"professionnels : {', '.join(sorted(map(str, found)))}",
                    evidence=(answer.exchange_id,),
                )
            ]
            if missing or not verify.slots(bundle)
            else []
        )


@pytest.mark.requirement("SAS-03")
def test_slots_within_the_window(agenda):
    """Les créneaux renvoyés commencent dans la période start=ge / start=le demandée."""
    bundle, answer, start_from, start_to = searched_bundle(agenda)
    expect(verify.within_window(bundle, start_from, start_to, answer.exchange_id))


@pytest.mark.requirement("SAS-04")
def test_only_free_slots(agenda):
    """Une recherche status=free ne renvoie que des créneaux libres."""
    bundle, answer, *_ = searched_bundle(agenda)
    expect(verify.only_free(bundle, answer.exchange_id))


@pytest.mark.requirement("SAS-05")
def test_bundle_agregateur(agenda):
    """La réponse est un Bundle searchset conforme à BundleAgregateur, avec son total."""
    bundle, answer, *_ = searched_bundle(agenda)
    findings = verify.profile(bundle, verify.BUNDLE_PROFILE, answer.exchange_id, rules=("fhir.fixed", "fhir.pattern"))
    if not isinstance(bundle.get("total"), int):
        findings.append(
            verify.finding(
                "sas.total",
                "the searchset Bundle has no total",
                "le Bundle searchset n'a pas de total",
                expected="total",
                received="absent",
                evidence=(answer.exchange_id,),
            )
        )
    expect(findings)


@pytest.mark.requirement("SAS-06")
def test_slot_content_and_booking_url(agenda):
    """Chaque créneau suit FrSlotAgregateur : type (TRE_R314), type de consultation, URL de prise de RDV."""
    bundle, answer, *_ = searched_bundle(agenda)
    expect(verify.slot_content(bundle, answer.exchange_id))


@pytest.mark.requirement("SAS-07")
def test_included_schedule_practitioner_and_role(agenda):
    """Le Bundle inclut le Schedule de chaque créneau, son Practitioner et son PractitionerRole."""
    bundle, answer, *_ = searched_bundle(agenda)
    expect(verify.includes(bundle, answer.exchange_id))


@pytest.mark.requirement("SAS-08")
def test_practitioner_identified_by_idnatps(agenda):
    """Le Practitioner suit FrPractitionerAgregateur et porte l'idNatPs recherché (8 + RPPS)."""
    bundle, answer, *_ = searched_bundle(agenda)
    expect(verify.practitioner_identifiers(bundle, agenda.practitioners, answer.exchange_id))


@pytest.mark.requirement("SAS-09")
def test_practitioner_role_with_location(agenda):
    """Le PractitionerRole suit FrPractitionerRoleExerciceAgregateur, avec le lieu de consultation contenu."""
    bundle, answer, *_ = searched_bundle(agenda)
    expect(verify.roles(bundle, answer.exchange_id))


@pytest.mark.requirement("SAS-10")
def test_no_slot_gives_an_empty_bundle(agenda):
    """Sans créneau dans la période, la réponse est un Bundle vide (total 0), pas une erreur."""
    professional = agenda.without_slots or agenda.practitioners[0]
    far = dt.datetime.now(dt.UTC) + dt.timedelta(days=3650)
    answer, *_ = agenda.search([professional], start_from=far, start_to=far + dt.timedelta(hours=1))
    expect(verify.answered(answer, "GET [base]/Slot (aucun créneau)"))
    bundle = answer.json()
    if bundle.get("resourceType") != "Bundle" or bundle.get("total") != 0 or verify.slots(bundle):
        expect(
            [
                verify.finding(
                    "sas.empty",
                    "a search with no match is not an empty Bundle",
                    "une recherche sans correspondance n'est pas un Bundle vide",
                    expected="Bundle, total 0",
                    received=f"{bundle.get('resourceType')}, total {bundle.get('total')}",
                    evidence=(answer.exchange_id,),
                )
            ]
        )


def slot_search_as(agenda, credential):
    """The kit's mTLS probe: a functional request (a slot search) with the given client credential."""
    return agenda.search(agenda.practitioners[:1], credential=credential)[0]


@pytest.mark.requirement("SAS-11")
def test_mtls_required(agenda):
    """Le serveur accepte le certificat IGC-Santé de la plateforme SAS et refuse un client sans certificat."""
    expect(verify.answered(slot_search_as(agenda, "sas-platform"), "GET [base]/Slot (certificat SAS)"))
    answer = slot_search_as(agenda, None)
    expect(flows.refused(answer, "a client with no certificate", "un client sans certificat"))


@pytest.mark.requirement("SAS-12")
def test_wrong_cn_refused(agenda):
    """Le serveur refuse un certificat dont le CN n'est pas celui de la plateforme SAS."""
    answer = slot_search_as(agenda, "sas-wrong-cn")
    expect(flows.refused(answer, "a certificate with another CN", "un certificat d'un autre CN"))


@pytest.mark.requirement("SAS-13")
def test_wrong_ou_refused(agenda):
    """Le serveur refuse un certificat dont l'OU n'est pas celle de la plateforme SAS."""
    answer = slot_search_as(agenda, "sas-wrong-ou")
    expect(flows.refused(answer, "a certificate with another OU", "un certificat d'une autre OU"))


@pytest.mark.requirement("SAS-14")
def test_revoked_certificate_refused(agenda):
    """Le serveur refuse un certificat révoqué (listé dans la LCR de l'AC)."""
    answer = slot_search_as(agenda, "sas-revoked")
    expect(flows.refused(answer, "a revoked certificate", "un certificat révoqué"))


@pytest.mark.requirement("SAS-15")
def test_search_response_time(agenda):
    """Une recherche de créneaux est servie en moins d'une seconde."""
    answer, *_ = agenda.search(agenda.practitioners)
    expect(verify.answered(answer, "GET [base]/Slot"))
    if answer.elapsed >= RESPONSE_SECONDS:
        expect(
            [
                verify.finding(
                    "sas.response-time",
                    "the slot search took a second or more",
                    "la recherche de créneaux a pris une seconde ou plus",
                    expected=f"< {RESPONSE_SECONDS} s",
                    received=f"{answer.elapsed:.3f} s",
                    evidence=(answer.exchange_id,),
                )
            ]
        )


def regulator(*, national: str | None = None, internal: str | None = None, email: str = "regulateur@test.fr"):
    identifiers = []
    if national:
        identifiers.append(
            {"type": {"coding": [{"system": INTRN, "code": "IDNPS"}]}, "system": IDNPS_SYSTEM, "value": national}
        )
    if internal:
        identifiers.append(
            {"type": {"coding": [{"system": INTRN, "code": "INTRN"}]}, "system": SAS_SOURCE, "value": internal}
        )
    return {
        "resourceType": "Practitioner",
        "meta": {"source": SAS_SOURCE},
        "identifier": identifiers,
        "active": True,
        "name": [{"family": "REGULATEUR", "given": ["Camille"]}],
        "telecom": [{"system": "email", "value": email}],
    }


@pytest.mark.requirement("SAS-16")
def test_regulator_account_created(sut, agenda):
    """La création d'un compte régulateur (POST [base]/Practitioner) répond 201 avec l'en-tête Location."""
    answer = agenda.client.request("POST", "Practitioner", body=regulator(internal=session_uuid(sut, "created")))
    expect(flows.location_header(answer, (201,), "regulator creation", "création de compte régulateur"))


@pytest.mark.requirement("SAS-17")
def test_regulator_account_updated_by_identifier(sut, agenda):
    """La mise à jour conditionnelle (PUT ?identifier=) modifie le compte, et crée celui qu'elle ne connaît pas."""
    internal = session_uuid(sut, "updated")
    created = agenda.client.request("POST", "Practitioner", body=regulator(internal=internal))
    expect(flows.location_header(created, (201,), "regulator creation", "création de compte régulateur"))
    update = regulator(internal=internal, email="nouvelle-adresse@test.fr")
    update["active"] = False  # the guide's account removal: an update withdrawing the habilitation
    changed = agenda.client.request(
        "PUT", "Practitioner", params=[("identifier", f"{SAS_SOURCE}|{internal}")], body=update
    )
    expect(flows.location_header(changed, (200,), "conditional update", "mise à jour conditionnelle"))
    unknown = session_uuid(sut, "unknown")
    as_create = agenda.client.request(
        "PUT", "Practitioner", params=[("identifier", f"{SAS_SOURCE}|{unknown}")], body=regulator(internal=unknown)
    )
    expect(
        flows.location_header(as_create, (200, 201), "update of an unknown account", "mise à jour d'un compte inconnu")
    )


@pytest.mark.requirement("SAS-18")
def test_invalid_regulator_refused(sut, agenda):
    """Un compte régulateur incomplet (sans nom ni identifiant) est refusé par un OperationOutcome 400 ou 422."""
    incomplete = regulator(internal=session_uuid(sut, "incomplete"))
    del incomplete["name"]
    incomplete["identifier"] = []
    answer = agenda.client.request("POST", "Practitioner", body=incomplete)
    expect(flows.refused_with_outcome(answer, "an incomplete regulator account", "un compte régulateur incomplet"))


def recorded_appointments(segur_env, sut) -> list:
    return [e for e in segur_env.store.exchanges(session_key=sut.context.session_key, service="sas")]


def session_uuid(sut, label: str) -> str:
    """An id fixed by the test's session key: a rejudged run sends the same ids as the recorded one."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"segur-harness:{sut.context.session_key}:{label}"))


def book(sut, agenda) -> tuple[dict, dict, str]:
    regulator = {"system": SAS_SOURCE, "value": session_uuid(sut, "regulator")}
    start = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=5)).replace(microsecond=0)
    practitioner = agenda.practitioners[0]
    answer = sut.perform(
        "sas.send_appointment", practitioner=practitioner, regulator=regulator, start=start.isoformat()
    )
    return answer.data, regulator, practitioner


def sent(exchanges: list, what: str, what_fr: str) -> list:
    if exchanges:
        return []
    return [
        verify.finding(
            "sas.appointment",
            f"the SAS platform received no {what}",
            f"la plateforme SAS n'a reçu {what_fr}",
            expected="POST/PUT [SAS]/Appointment",
            received="rien",
        )
    ]


@pytest.mark.requirement("SAS-19")
def test_appointment_sent_to_the_sas(sut, segur_env, agenda):
    """Le rendez-vous pris par un régulateur est transmis au SAS : POST Appointment (FrAppointmentSAS), en mTLS."""
    _, regulator, practitioner = book(sut, agenda)
    exchanges = recorded_appointments(segur_env, sut)
    expect(sent(exchanges, "appointment", "aucun rendez-vous"))
    exchange = exchanges[0]
    resource = json.loads(exchange.request_body) if exchange.http_status != 400 else {}
    findings = flows.appointment_request(exchange, "POST", "appointment creation", "création de rendez-vous")
    if not resource:
        findings.append(
            verify.finding(
                "sas.appointment",
                "the appointment sent is not a FHIR Appointment",
                "le rendez-vous envoyé n'est pas un Appointment FHIR",
                expected="Appointment",
                received=exchange.request_body[:120].decode(errors="replace"),
                evidence=(exchange.id,),
            )
        )
        expect(findings)
    findings += verify.profile(resource, flows.APPOINTMENT_PROFILE, exchange.id)
    findings += flows.appointment_operator(resource, regulator, exchange.id)
    actors = [
        ((p or {}).get("actor") or {}).get("identifier", {}).get("value") for p in resource.get("participant") or []
    ]
    if practitioner not in actors:
        findings.append(
            verify.finding(
                "sas.appointment",
                "the appointment does not name the professional booked",
                "le rendez-vous ne désigne pas le professionnel réservé",
                expected=practitioner,
                received=", ".join(map(str, actors)) or "aucun",
                evidence=(exchange.id,),
            )
        )
    expect(findings)


@pytest.mark.requirement("SAS-20")
def test_appointment_cancellation_updates_it(sut, segur_env, agenda):
    """L'annulation est transmise par mise à jour conditionnelle du même rendez-vous (PUT ?identifier=, cancelled)."""
    data, *_ = book(sut, agenda)
    first = recorded_appointments(segur_env, sut)[:1]
    expect(sent(first, "appointment", "aucun rendez-vous"))
    booked = json.loads(first[0].request_body)
    identifier = (booked.get("identifier") or [{}])[0]
    sut.perform("sas.cancel_appointment", appointment_id=data.get("appointment_id", ""))
    later = recorded_appointments(segur_env, sut)[1:]  # after the booking (a rejudged run holds both already)
    expect(sent(later, "cancellation", "aucune annulation"))
    exchange = later[-1]
    findings = flows.appointment_request(exchange, "PUT", "appointment cancellation", "annulation de rendez-vous")
    token = f"{identifier.get('system')}|{identifier.get('value')}"
    query = exchange.request_meta.get("query") or {}
    received = query.get("identifier") or query.get("Identifier")
    if received != token:
        findings.append(
            verify.finding(
                "sas.appointment",
                "the cancellation does not update the appointment by its identifier",
                "l'annulation ne met pas à jour le rendez-vous par son identifiant",
                expected=f"?identifier={token}",
                received=str(received),
                evidence=(exchange.id,),
            )
        )
    body = json.loads(exchange.request_body) if exchange.http_status != 400 else {}
    if body.get("status") != "cancelled":
        findings.append(
            verify.finding(
                "sas.appointment",
                "the cancellation does not carry status cancelled",
                "l'annulation ne porte pas le statut cancelled",
                expected="cancelled",
                received=str(body.get("status")),
                evidence=(exchange.id,),
            )
        )
    expect(findings)


ORIGIN = "sas"  # the parameter the SAS platform adds (the ANS kit sends origin=sas-preprod on its pre-production)


def psc_authorization_endpoint(segur_env, sut, replay: bool) -> str:
    """The PSC mock's authorization endpoint for this test, read from the discovery it recorded
    (fetched first when the run is live, so that a rejudged run reads the same document)."""
    issuer = sut.context.endpoints["psc"]
    if not replay:
        trusted = ssl.create_default_context(cafile=str(segur_env.pki.ca_bundle))
        with httpx.Client(verify=trusted, timeout=15.0) as client:
            client.get(f"{issuer}/.well-known/openid-configuration")
    recorded = [
        e
        for e in segur_env.store.exchanges(session_key=sut.context.session_key, service="psc")
        if e.operation == "discovery"
    ]
    if not recorded:
        raise NotEvaluated(SkipKind.NOT_REJUDGEABLE, "no PSC discovery recorded", "aucune découverte PSC enregistrée")
    return str(json.loads(recorded[-1].response_body)["authorization_endpoint"])


@pytest.mark.requirement("SAS-21")
def test_booking_url_from_the_sas_asks_for_a_login(sut, segur_env, agenda):
    """L'URL de prise de RDV ouverte depuis le SAS (origin) par un utilisateur non connecté mène à la connexion PSC."""
    bundle, _, *_ = searched_bundle(agenda)
    urls = [s["comment"] for s in verify.slots(bundle) if str(s.get("comment", "")).startswith(("https://", "http://"))]
    if not urls:
        raise NotEvaluated(
            SkipKind.BLOCKED,
            "no booking URL to open: the slots carry none (SAS-06)",
            "aucune URL de prise de RDV à ouvrir : les créneaux n'en portent pas (SAS-06)",
            blocked_by=["SAS-06"],
        )
    url = urls[0] + ("&" if "?" in urls[0] else "?") + f"origin={ORIGIN}"
    answer = agenda.client.request("GET", url, credential=None)
    expect(flows.login_redirect(answer, psc_authorization_endpoint(segur_env, sut, agenda.client.replay)))
