"""Turn the test records of a session into a :class:`RunResult` with per-requirement verdicts."""

from __future__ import annotations

from typing import Any

from harness.core.catalog import Catalog
from harness.core.results import Outcome, RequirementResult, RunResult, SkipKind, TestRecord, aggregate

ATTESTATION_REASON = (
    "attestation: a reviewer checks this with the evidence listed",
    "attestation : un relecteur le vérifie sur les preuves indiquées",
)
NOT_AUTOMATED_REASON = ("no automated test in this version", "pas de test automatisé dans cette version")


def _joined(texts: set[str]) -> str:
    return "; ".join(sorted(t for t in texts if t))[:500]


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
    allow_incomplete: bool = False,
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
        kind: SkipKind | None = None
        blocked: list[str] = []
        if not req.applies_to(couloir):
            outcome = Outcome.OMIT
            reason, reason_fr = f"not applicable to couloir {couloir}", f"ne s'applique pas au couloir {couloir}"
        elif tests:
            outcome = aggregate([t.outcome for t in tests])
            deciding = [t for t in tests if t.outcome is outcome]
            reason = _joined({t.message for t in deciding})
            reason_fr = _joined({t.message_fr or t.message for t in deciding})
            if outcome is Outcome.SKIP:
                kind = _skip_kind(deciding)
                blocked = sorted({b for t in deciding for b in t.blocked_by})
        elif req.automation == "attestation":
            outcome, kind, (reason, reason_fr) = Outcome.SKIP, SkipKind.ATTESTATION, ATTESTATION_REASON
        else:
            outcome, kind, (reason, reason_fr) = Outcome.SKIP, SkipKind.NOT_AUTOMATED, NOT_AUTOMATED_REASON
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
                reason_fr=reason_fr if outcome is not Outcome.PASS else "",
                evidence_expected=req.evidence,
                statement_en=req.statement_en,
                evidence_expected_en=req.evidence_en,
                skip_kind=kind,
                blocked_by=blocked,
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
        allow_incomplete=allow_incomplete,
    )


def _skip_kind(tests: list[TestRecord]) -> SkipKind:
    """The kind that says most about a skipped requirement: a gap that leaves the run incomplete wins."""
    kinds = [t.skip_kind or SkipKind.NOT_PERFORMED for t in tests]
    for candidate in (
        SkipKind.BLOCKED,
        SkipKind.NOT_PERFORMED,
        SkipKind.PROFILE_NOT_HELD,
        SkipKind.NOT_REJUDGEABLE,
        SkipKind.NOT_OBSERVED,
        SkipKind.NOT_AUTOMATED,
    ):
        if candidate in kinds:
            return candidate
    return kinds[0]
