"""Turn the test records of a session into a :class:`RunResult` with per-requirement verdicts."""

from __future__ import annotations

from typing import Any

from harness.catalog import Catalog
from harness.results import Outcome, RequirementResult, RunResult, TestRecord, aggregate


def build_run_result(
    *,
    run_id: str,
    harness_version: str,
    started_at: str,
    finished_at: str,
    duration: float,
    sut: dict[str, Any],
    couloir: str | None,
    records: list[TestRecord],
    catalog: Catalog,
    exchanges: list[dict[str, Any]],
) -> RunResult:
    """Every requirement of the domains the run touched gets a verdict, tested or not.

    A requirement with no test is ``skip`` (with the reason: attestation by a reviewer, or no
    automated test yet) unless the couloir rules it out (``omit``): the report never hides a
    requirement the product is judged on.
    """
    by_requirement: dict[str, list[TestRecord]] = {}
    for record in records:
        for req_id in record.requirements:
            by_requirement.setdefault(req_id, []).append(record)
    domains = {catalog.get(req_id).domain for req_id in by_requirement}
    requirement_results = []
    for req in catalog.in_domains(domains):
        tests = by_requirement.get(req.id, [])
        if not req.applies_to(couloir):
            outcome, reason = Outcome.OMIT, f"not applicable to couloir {couloir}"
        elif tests:
            outcome = aggregate([t.outcome for t in tests])
            reason = "; ".join(sorted({t.message for t in tests if t.outcome is outcome and t.message}))[:500]
        elif req.automation == "attestation":
            outcome, reason = Outcome.SKIP, "attestation: a reviewer checks this with the evidence listed"
        else:
            outcome, reason = Outcome.SKIP, "no automated test in this version"
        findings = [f for t in tests for f in t.findings if f.requirement in (None, req.id)]
        evidence = sorted({e for t in tests for e in t.evidence})
        requirement_results.append(
            RequirementResult(
                id=req.id,
                statement=req.statement,
                domain=req.domain,
                criticite=req.criticite,
                nature=req.nature,
                official_ref=req.official_ref,
                automation=req.automation,
                outcome=outcome,
                tests=[t.nodeid for t in tests],
                findings=findings,
                evidence=evidence,
                reason=reason if outcome is not Outcome.PASS else "",
                evidence_expected=req.evidence,
            )
        )
    return RunResult(
        run_id=run_id,
        harness_version=harness_version,
        started_at=started_at,
        finished_at=finished_at,
        duration=duration,
        sut=sut,
        suites=sorted({r.suite for r in records}),
        couloir=couloir,
        tests=records,
        requirements=requirement_results,
        exchanges=exchanges,
    )
