"""MSS-02 subject: SC.MSS/CONF.25 makes the date of birth the only optional field of the subject."""

from __future__ import annotations

from email.message import EmailMessage
from types import SimpleNamespace
from typing import Any

from harness.run.verify.mss import Submitted, check_structure

PATIENT = {"nom_naissance": "DUPONT", "date_naissance": "1980-04-12"}


def subject_findings(subject: str) -> list[str]:
    message = EmailMessage()
    message["Subject"] = subject
    message.set_content("bonjour", charset="utf-8")
    exchange: Any = SimpleNamespace(id=1)
    sent = Submitted(exchange, message)
    return [f.message for f in check_structure([sent], PATIENT) if f.rule == "mss.subject"]


def test_a_subject_without_the_optional_date_of_birth_is_accepted():
    assert subject_findings("XDM/1.0/DDM+CR de biologie DUPONT Jean") == []


def test_a_subject_with_the_date_of_birth_is_accepted():
    assert subject_findings("XDM/1.0/DDM+CR de biologie DUPONT Jean 12/04/1980") == []


def test_a_subject_naming_another_birth_date_or_patient_is_refused():
    assert subject_findings("XDM/1.0/DDM+CR de biologie DUPONT Jean 13/04/1980")
    assert subject_findings("XDM/1.0/DDM+CR de biologie MARTIN Jean")


def test_a_subject_without_the_xdm_prefix_is_refused():
    assert subject_findings("CR de biologie DUPONT Jean 12/04/1980")
