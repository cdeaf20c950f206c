"""Consulting the DMP as a user logged in with Pro Santé Connect, through the PSC -> VIHF proxy (GENVIHF)."""

from __future__ import annotations

import pytest

from harness.run.sut.base import SutFailure
from harness.run.verify import dmp as verify
from harness.run.verify import expect
from suites.dmp.patients import identity

pytestmark = pytest.mark.segur_service("dmp")

PATIENT = "OUVERT"
MEDECIN = "899900000011"  # fixtures/psc/professionals.toml, médecin généraliste


@pytest.mark.requirement("DMP-30")
def test_dmp_consultation_carries_the_psc_identity(sut, dmp, psc, vihf_proxy, browser, segur_env):
    """Connecté par PSC, le logiciel consulte le DMP avec son jeton d'accès au travers du proxy PSC -> VIHF :
    le DMP reçoit le VIHF du proxy (MobileTwoFactorUnregistered, IdNatPs de l'utilisateur), pas un VIHF maison."""
    start = sut.perform("psc.authorization_url")
    login = sut.perform("psc.callback", url=browser.psc_login(start.data["url"], MEDECIN)).data
    if login.get("outcome") != "logged_in":
        raise SutFailure(f"the professional could not log in with PSC: {login.get('message')}")
    sut.perform("dmp.find_documents", patient=identity(PATIENT), authentication="psc")
    proxy_certificate = segur_env.pki.client("vihf-proxy").certificate()
    findings = verify.check_proxy_calls(vihf_proxy.exchanges(), psc.exchanges(), identity(PATIENT)["ins"])
    findings += verify.check_dmp_calls(dmp.exchanges(), [proxy_certificate], segur_env.trusted_cas(), MEDECIN)
    expect(findings)
