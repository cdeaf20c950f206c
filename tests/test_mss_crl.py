"""The CRL distribution point, the certificates naming it, the reference client's kept CRL and the
verdict of MSS-12 (SC.MSS/CONF.22)."""

from __future__ import annotations

import datetime as dt
import smtplib
import ssl
import urllib.error
import urllib.request

import pytest
from cryptography import x509

from harness.core import pki
from harness.core.pki_crl import issue_crl_scenario
from harness.core.recorder import OK, REJECTED, Exchange, ExchangeStore
from harness.core.results import SkipKind
from harness.core.skips import NotEvaluated
from harness.protocols.mockserver import serve_app
from harness.run.environment import HarnessEnvironment
from harness.run.sut.reference_crl import CrlKeeper, distribution_points
from harness.run.verify import mss_crl
from mock_services.crl import CRL_PATH, GARBAGE, CrlPublication, UnknownFault, create_app
from mock_services.mssante.smtp import ActiveSession


@pytest.fixture(scope="module")
def point(layout, tmp_path_factory):
    """A running distribution point with its scenario; the publication is reset by each test."""
    folder = tmp_path_factory.mktemp("crl")
    store = ExchangeStore(folder / "exchanges.sqlite3")
    active = ActiveSession("crl-test")
    publication = CrlPublication(b"", b"")
    served = serve_app(create_app(store, publication, active), name="crl")
    scenario = issue_crl_scenario(layout, f"{served.url}{CRL_PATH}", folder / "issued")
    publication.current_crl, publication.expired_crl = scenario.current_crl, scenario.expired_crl
    yield scenario, publication, store
    served.stop()
    store.close()


@pytest.fixture
def publication(point):
    point[1].switch(None)
    yield point[1]
    point[1].switch(None)


def fetch(url: str) -> tuple[int, bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_certificates_name_the_point_and_chain_to_the_organisations_ca(point, layout):
    scenario, _, _ = point
    organisations = x509.load_pem_x509_certificate(layout.intermediate_ca_pems["organisations"].read_bytes())
    for credential in (scenario.good, scenario.revoked):
        certificate = credential.certificate()
        assert distribution_points(certificate) == [scenario.distribution_point]
        certificate.verify_directly_issued_by(organisations)
    assert scenario.good.certificate().serial_number != scenario.revoked_serial


def test_current_crl_revokes_only_the_revoked_certificate_and_the_expired_one_nothing(point, layout):
    scenario, _, _ = point
    organisations = x509.load_pem_x509_certificate(layout.intermediate_ca_pems["organisations"].read_bytes())
    now = dt.datetime.now(dt.UTC)
    current, expired = x509.load_der_x509_crl(scenario.current_crl), x509.load_der_x509_crl(scenario.expired_crl)
    for crl in (current, expired):
        assert crl.issuer == organisations.subject and crl.is_signature_valid(organisations.public_key())
    assert [r.serial_number for r in current] == [scenario.revoked_serial]
    assert current.next_update_utc is not None and current.next_update_utc > now
    assert list(expired) == [] and expired.next_update_utc is not None and expired.next_update_utc < now


def test_each_fault_answers_as_named_and_every_fetch_is_recorded_under_the_running_test(point, publication):
    scenario, _, store = point
    before = len(store.exchanges(session_key="crl-test", service="crl"))
    assert fetch(scenario.distribution_point) == (200, scenario.current_crl)
    publication.switch("unavailable")
    assert fetch(scenario.distribution_point)[0] == 503
    publication.switch("garbage")
    assert fetch(scenario.distribution_point) == (200, GARBAGE)
    publication.switch("expired")
    assert fetch(scenario.distribution_point) == (200, scenario.expired_crl)
    recorded = store.exchanges(session_key="crl-test", service="crl")[before:]
    assert [(e.outcome, e.http_status, e.summary["fault"]) for e in recorded] == [
        (OK, 200, "none"),
        (REJECTED, 503, "unavailable"),
        (OK, 200, "garbage"),
        (OK, 200, "expired"),
    ]
    with pytest.raises(UnknownFault, match="known: unavailable, garbage, expired"):
        publication.switch("timeout")


def keeper(layout, defects: frozenset[str] = frozenset()) -> CrlKeeper:
    return CrlKeeper(pki.trusted_ca_certificates(layout), defects)


@pytest.mark.parametrize("fault", ["unavailable", "garbage", "expired"])
def test_the_reference_keeps_the_last_valid_crl_when_the_point_fails(point, publication, layout, fault):
    scenario, _, _ = point
    client = keeper(layout)
    good, revoked = scenario.good.certificate(), scenario.revoked.certificate()
    client.check(good)  # the current CRL is fetched and kept
    publication.switch(fault)
    client.check(good)  # the kept CRL says it is not revoked
    with pytest.raises(ssl.SSLError, match="revoked"):
        client.check(revoked)  # the kept CRL lists it (the expired CRL, which does not, is not taken)


def test_without_any_valid_crl_or_once_the_kept_one_expired_the_reference_refuses(point, publication, layout):
    scenario, _, _ = point
    good = scenario.good.certificate()
    publication.switch("unavailable")
    with pytest.raises(ssl.SSLError, match="no valid CRL"):
        keeper(layout).check(good)  # nothing kept yet
    publication.switch(None)
    client = keeper(layout)
    client.check(good)
    publication.switch("unavailable")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=40)  # past the kept CRL's nextUpdate
    with pytest.raises(ssl.SSLError, match="no valid CRL"):
        client.check(good, now=later)


def test_a_crl_signed_by_another_ca_is_not_kept(point, publication, layout, tmp_path):
    scenario, _, _ = point
    other = pki.init_pki(tmp_path / "other")  # same names, other keys: a forged CRL
    forged = issue_crl_scenario(other, scenario.distribution_point, tmp_path / "issued")
    client = keeper(layout)
    publication.current_crl, saved = forged.current_crl, publication.current_crl
    try:
        with pytest.raises(ssl.SSLError, match="not signed by the certificate's issuer"):
            client.check(scenario.good.certificate())
    finally:
        publication.current_crl = saved


def test_a_certificate_naming_no_point_is_not_checked_by_crl(layout):
    keeper(layout).check(layout.server.certificate())  # the other tests' operator certificate: unchanged


def test_the_defects_fail_closed_or_open(point, publication, layout):
    scenario, _, _ = point
    good, revoked = scenario.good.certificate(), scenario.revoked.certificate()
    dropping = keeper(layout, frozenset({"mss_drops_crl_on_fetch_failure"}))
    dropping.check(good)
    publication.switch("unavailable")
    with pytest.raises(ssl.SSLError, match="no valid CRL"):
        dropping.check(good)
    publication.switch(None)
    open_ = keeper(layout, frozenset({"mss_fails_open_on_crl_error"}))
    open_.check(good)
    publication.switch("garbage")
    open_.check(revoked)  # no exception: the defect accepts a revoked operator


# -- the verdict -----------------------------------------------------------------------------------


def fetch_exchange(outcome: str = OK) -> Exchange:
    return Exchange("crl", "s", "crl.fetch", outcome, b"", b"", 0.0, 0.0, http_status=200)


def step(fault: str | None, certificate: str, sent: bool, fetches: int = 1) -> mss_crl.CrlStep:
    answer = {"outcome": "sent" if sent else "refused", "message": None if sent else "refused by the test"}
    return mss_crl.CrlStep(fault, certificate, answer, [], [fetch_exchange() for _ in range(fetches)])


def scenario_steps(good_sent: bool = True, revoked_sent: bool = False, first_fetches: int = 1) -> list:
    steps = [step(None, "good", True, first_fetches)]
    for fault in mss_crl.crl_rules()["faults"]:
        steps += [step(fault, "good", good_sent), step(fault, "revoked", revoked_sent)]
    return steps


def test_verdict_passes_when_the_kept_crl_is_used():
    assert mss_crl.check_last_valid_crl_kept(scenario_steps()) == []


def test_verdict_fails_a_product_that_fails_closed_and_one_that_fails_open():
    closed = mss_crl.check_last_valid_crl_kept(scenario_steps(good_sent=False))
    assert [f.rule for f in closed] == ["mss.crl-kept"] * 3 and {f.requirement for f in closed} == {"MSS-12"}
    opened = mss_crl.check_last_valid_crl_kept(scenario_steps(revoked_sent=True))
    assert [f.rule for f in opened] == ["mss.crl-revoked-accepted"] * 3
    assert "unavailable" in opened[0].message and "expired" in opened[2].message


def test_verdict_without_any_fetch_fails_an_unchecked_revocation_and_leaves_another_check_to_a_reviewer():
    unchecked = mss_crl.check_last_valid_crl_kept(scenario_steps(revoked_sent=True, first_fetches=0))
    assert [f.rule for f in unchecked] == ["mss.crl-not-fetched"]
    with pytest.raises(NotEvaluated) as skipped:
        mss_crl.check_last_valid_crl_kept(scenario_steps(first_fetches=0))
    assert skipped.value.kind is SkipKind.ATTESTATION and "OCSP" in skipped.value.en


def test_the_faults_setting_names_only_faults_the_point_knows():
    from mock_services.crl import FAULTS

    assert mss_crl.crl_rules()["faults"] and set(mss_crl.crl_rules()["faults"]) <= set(FAULTS)


# -- in the harness environment --------------------------------------------------------------------


def presented_serial(env: HarnessEnvironment) -> int:
    host, _, port = env.start_mss().endpoints()["smtp"].rpartition(":")
    with smtplib.SMTP_SSL(host, int(port), context=pki.client_ssl_context(env.pki, None), timeout=10) as client:
        return x509.load_der_x509_certificate(client.sock.getpeercert(binary_form=True)).serial_number


def test_the_operator_presents_the_certificates_naming_the_point_on_demand(tmp_path):
    with HarnessEnvironment(tmp_path / "data") as env:
        default = presented_serial(env)
        scenario, _ = env.crl_distribution()
        assert env.crl_distribution()[0] is scenario  # made once
        env.active_session.operator_certificate = "crl-revoked"
        assert presented_serial(env) == scenario.revoked_serial
        env.active_session.operator_certificate = "crl-good"
        assert presented_serial(env) == scenario.good.certificate().serial_number
        env.active_session.operator_certificate = None
        assert presented_serial(env) == default
        assert env.endpoints_document()["mss"]["crl_distribution_point"] == scenario.distribution_point
        assert fetch(scenario.distribution_point) == (200, scenario.current_crl)


def test_a_pki_made_before_the_organisations_key_was_kept_is_remade(tmp_path):
    made = pki.init_pki(tmp_path / "pki")
    key = made.directory / "ca" / pki.ORGANISATIONS_KEY
    assert key.stat().st_mode & 0o077 == 0  # private
    before = made.server.certificate().serial_number
    key.unlink()
    again = pki.load_or_create_pki(tmp_path / "pki")
    assert key.is_file() and again.server.certificate().serial_number != before
