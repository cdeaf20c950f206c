"""The verdict model: findings, outcomes, and the result of a run that report writers read.

Outcomes are exactly pass, fail, skip, omit and error (see the blueprint): ``fail`` is the
product's non-conformance, ``error`` is the harness itself breaking, and the two must never
be confused.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any


class Outcome(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"
    OMIT = "omit"
    ERROR = "error"


class Severity(enum.StrEnum):
    """OperationOutcome vocabulary, as the CDA and FHIR validators use it."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Finding:
    """One thing a verifier found. ``expected``/``received`` say what differed, when it applies."""

    rule: str
    message: str
    severity: Severity = Severity.ERROR
    requirement: str | None = None
    location: str | None = None
    expected: str | None = None
    received: str | None = None
    evidence: tuple[str, ...] = ()
    line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["severity"] = self.severity.value
        data["evidence"] = list(self.evidence)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(
            **{**data, "severity": Severity(data.get("severity", "error")), "evidence": tuple(data.get("evidence", []))}
        )

    def describe(self) -> str:
        text = f"[{self.rule}] {self.message}"
        if self.expected is not None or self.received is not None:
            text += f" (expected {self.expected!s}, received {self.received!s})"
        if self.location:
            text += f" at {self.location}"
        if self.line:
            text += f" (line {self.line})"
        return text


class NonConformance(AssertionError):
    """Raised by a conformance test when the product does not conform; carries the findings."""

    def __init__(self, findings: list[Finding]):
        self.findings = list(findings)
        super().__init__("\n".join(f.describe() for f in self.findings) or "non-conformance")


@dataclass
class TestRecord:
    """The result of one conformance test (one pytest item)."""

    __test__ = False  # not a pytest test class, despite its name

    nodeid: str
    name: str
    description: str
    suite: str
    service: str
    requirements: list[str]
    outcome: Outcome
    findings: list[Finding] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    duration: float = 0.0
    message: str = ""
    started_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodeid": self.nodeid,
            "name": self.name,
            "description": self.description,
            "suite": self.suite,
            "service": self.service,
            "requirements": self.requirements,
            "outcome": self.outcome.value,
            "findings": [f.to_dict() for f in self.findings],
            "evidence": self.evidence,
            "duration": round(self.duration, 6),
            "message": self.message,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TestRecord:
        fields = {**data, "outcome": Outcome(data["outcome"])}
        fields["findings"] = [Finding.from_dict(f) for f in data.get("findings", [])]
        return cls(**fields)


@dataclass
class RequirementResult:
    """A catalog requirement with the outcome aggregated over the tests that cite it."""

    id: str
    statement: str
    domain: str
    criticite: str
    nature: str
    official_ref: str
    automation: str
    outcome: Outcome
    tests: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    reason: str = ""
    evidence_expected: str = ""  # the catalog's "evidence" column: what a reviewer looks at
    attestation: dict[str, Any] | None = None  # a reviewer's verdict (segur attest), when recorded

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "official_ref": self.official_ref,
            "domain": self.domain,
            "nature": self.nature,
            "criticite": self.criticite,
            "statement": self.statement,
            "automation": self.automation,
            "outcome": self.outcome.value,
            "reason": self.reason,
            "tests": self.tests,
            "findings": [f.to_dict() for f in self.findings],
            "evidence": self.evidence,
            "evidence_expected": self.evidence_expected,
            "attestation": self.attestation,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RequirementResult:
        fields = {**data, "outcome": Outcome(data["outcome"])}
        fields["findings"] = [Finding.from_dict(f) for f in data.get("findings", [])]
        return cls(**fields)


@dataclass
class RunResult:
    """Everything a report writer needs; writers read this and nothing else."""

    run_id: str
    harness_version: str
    started_at: str
    finished_at: str
    duration: float
    sut: dict[str, Any]
    suites: list[str]
    couloir: str | None
    tests: list[TestRecord]
    requirements: list[RequirementResult]
    exchanges: list[dict[str, Any]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        counts = {o.value: 0 for o in Outcome}
        for req in self.requirements:
            counts[req.outcome.value] += 1
        return counts

    @property
    def exit_code(self) -> int:
        """0 all applicable requirements pass, 1 some fail, 3 the harness broke (error wins)."""
        outcomes = {r.outcome for r in self.requirements} | {t.outcome for t in self.tests}
        if Outcome.ERROR in outcomes:
            return 3
        if Outcome.FAIL in outcomes:
            return 1
        return 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "harness_version": self.harness_version,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration": round(self.duration, 3),
            "sut": self.sut,
            "suites": self.suites,
            "couloir": self.couloir,
            "summary": self.counts(),
            "exit_code": self.exit_code,
            "requirements": [r.to_dict() for r in self.requirements],
            "tests": [t.to_dict() for t in self.tests],
            "exchanges": self.exchanges,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        """A report.json read back (``segur attest`` re-renders the reports from it)."""
        return cls(
            run_id=data["run_id"],
            harness_version=data["harness_version"],
            started_at=data["started_at"],
            finished_at=data["finished_at"],
            duration=data["duration"],
            sut=data["sut"],
            suites=data["suites"],
            couloir=data["couloir"],
            tests=[TestRecord.from_dict(t) for t in data["tests"]],
            requirements=[RequirementResult.from_dict(r) for r in data["requirements"]],
            exchanges=data.get("exchanges", []),
        )


def aggregate(outcomes: list[Outcome]) -> Outcome:
    """Requirement outcome from its tests' outcomes: error > fail > pass > skip > omit."""
    for candidate in (Outcome.ERROR, Outcome.FAIL, Outcome.PASS, Outcome.SKIP):
        if candidate in outcomes:
            return candidate
    return Outcome.OMIT
