"""The precondition of the DMP tests that judge what the product did with the DMP's answers.

When such a test fails because the DMP refused the product's own requests (an unsigned VIHF,
a patient not identified by its INS...), the requirement that judges those requests is the
one that fails, and this test is "not evaluable because of" it rather than failed twice.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from harness.content import xds_metadata
from harness.core.results import Finding, NonConformance
from harness.core.skips import blocked_by
from harness.run.sut.base import SutFailure
from harness.run.verify import dmp as verify
from suites.dmp.patients import identity


def request_gates(exchanges: list[Any], trusted: list[Any], patient_key: str | None) -> dict[str, list[Finding]]:
    """DMP-01 to DMP-04 judged on this test's requests: transport, VIHF signature and attributes, patient INS."""
    found = verify.requests(exchanges)
    gates = {
        "DMP-01": verify.check_transport(found),
        "DMP-02": verify.check_vihf_signature(found, trusted),
        "DMP-03": verify.check_vihf_attributes(found, trusted),
    }
    if patient_key is not None:
        gates["DMP-04"] = [
            finding
            for feed in verify.requests(exchanges, "TD2.1")
            if (submission := feed.submission()) is not None
            for finding in xds_metadata.check_patient_identity(submission, identity(patient_key), feed.where)
        ]
    return gates


@contextlib.contextmanager
def blamed_on_requests(dmp: Any, env: Any, requirement: str, patient_key: str | None = None) -> Iterator[None]:
    """Turn this test's failure into ``blocked`` when a requirement judging its requests fails."""
    try:
        yield
    except (SutFailure, NonConformance):
        blocked_by(request_gates(dmp.exchanges(), env.trusted_cas(), patient_key), requirement)
        raise
