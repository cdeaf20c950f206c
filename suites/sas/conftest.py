"""The SAS platform's side of a test: the product's FHIR base, and a recording mTLS client to it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import parse_qs, urlparse

import pytest

from harness.core import pki
from harness.core.results import SkipKind
from harness.core.skips import NotEvaluated
from harness.run.sas_client import NotRecorded, SasAnswer, SasClient
from harness.run.sut.base import SutFailure

IDNPS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"
SEARCH_HOURS = 48  # within the 72 h the ANS SAS kit searches (aggregation/setup_helper.rb)
MAX_IDENTIFIERS = 25  # the guide's search criterion 3, cardinality 1..25


@dataclass
class Agenda:
    """The product's agenda as this test sees it."""

    client: SasClient
    practitioners: list[str]
    without_slots: str

    def search(
        self,
        identifiers: list[str],
        *,
        start_from: dt.datetime | None = None,
        start_to: dt.datetime | None = None,
        credential: str | None = "sas-platform",
    ) -> tuple[SasAnswer, dt.datetime, dt.datetime]:
        """``GET [base]/Slot`` as the guide's example request writes it."""
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        start_from = start_from or now - dt.timedelta(minutes=5)
        start_to = start_to or now + dt.timedelta(hours=SEARCH_HOURS)
        params = [
            ("_include", "Slot:schedule"),
            ("_include:iterate", "Schedule:actor"),
            ("start", "ge" + start_from.isoformat()),
            ("start", "le" + start_to.isoformat()),
            ("schedule.actor:Practitioner.identifier", ",".join(f"{IDNPS_SYSTEM}|{i}" for i in identifiers)),
            ("status", "free"),
        ]
        answer = self.client.request("GET", "Slot", params=params, credential=credential)
        if self.client.replay:  # judge against the window the recorded request asked for
            asked = parse_qs(urlparse(answer.url).query).get("start", [])
            bounds = {value[:2]: dt.datetime.fromisoformat(value[2:]) for value in asked if len(value) > 2}
            start_from, start_to = bounds.get("ge", start_from), bounds.get("le", start_to)
        return answer, start_from, start_to


@pytest.fixture
def agenda(request, sut, segur_env) -> Agenda:
    from harness.run.session import session_state_key

    replay = request.config.stash[session_state_key].replay_dir is not None
    answer = sut.perform("sas.agenda_server", sas_client_cn=pki.SAS_CLIENT_CN, sas_client_ou=pki.SAS_CLIENT_OU).data
    try:
        url, practitioners = str(answer["url"]), [str(p) for p in answer["practitioners"]]
        without_slots = str(answer.get("practitioner_without_slots") or "")
    except (KeyError, TypeError) as exc:
        raise SutFailure(
            f"the answer to sas.agenda_server lacks {exc}", f"la réponse à sas.agenda_server n'a pas {exc}"
        ) from None
    if not practitioners:
        raise SutFailure("sas.agenda_server names no professional", "sas.agenda_server ne nomme aucun professionnel")
    client = ReplayingClient(url, segur_env.pki, segur_env.store, sut.context.session_key, replay=replay)
    return Agenda(client, practitioners, without_slots)


class ReplayingClient(SasClient):
    """A request the recording does not hold makes the test not re-judgeable, never judged on nothing."""

    def request(self, *args, **kwargs) -> SasAnswer:  # type: ignore[no-untyped-def]
        try:
            return super().request(*args, **kwargs)
        except NotRecorded as exc:
            raise NotEvaluated(
                SkipKind.NOT_REJUDGEABLE, f"not re-judgeable: {exc}", f"non rejugeable : {exc}"
            ) from None
