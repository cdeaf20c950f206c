"""The verdict model: findings, outcomes, and the result of a run that report writers read.

Outcomes are exactly pass, fail, skip, omit and error (see the blueprint): ``fail`` is the
product's non-conformance, ``error`` is the harness itself breaking, and the two must never
be confused.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields
from typing import Any


class Outcome(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"
    OMIT = "omit"
    ERROR = "error"


class SkipKind(enum.StrEnum):
    """Why a requirement was not evaluated; the overall verdict depends on it.

    ``not_performed``, ``blocked``, ``not_automated``, ``not_rejudgeable`` and ``not_observed`` leave the run
    *incomplete*: something the product is judged on was not judged. ``attestation`` (a reviewer
    judges it with the evidence listed) and ``not_configured`` (an optional input of the harness,
    such as the official ANS kit, was not given) are listed with the verdict but do not make it
    incomplete: no run of the automated suites can decide them.
    """

    NOT_PERFORMED = "not_performed"  # the product did not perform, or cannot perform, the action
    BLOCKED = "blocked"  # a precondition failed because of the product: another named requirement
    NOT_AUTOMATED = "not_automated"  # the catalog has no automated test for it in this version
    NOT_REJUDGEABLE = "not_rejudgeable"  # segur rejudge: the recording does not hold what the test asks
    NOT_OBSERVED = "not_observed"  # segur judge: the session's traffic holds nothing that decides it
    PROFILE_NOT_HELD = "profile_not_held"  # the artefact claims rules (a FHIR profile) the harness does not hold
    ATTESTATION = "attestation"
    NOT_CONFIGURED = "not_configured"


INCOMPLETE_KINDS = frozenset(
    {
        SkipKind.NOT_PERFORMED,
        SkipKind.BLOCKED,
        SkipKind.NOT_AUTOMATED,
        SkipKind.NOT_REJUDGEABLE,
        SkipKind.NOT_OBSERVED,
        SkipKind.PROFILE_NOT_HELD,
    }
)


class Verdict(enum.StrEnum):
    CONFORME = "conforme"
    NON_CONFORME = "non_conforme"
    INCOMPLET = "incomplet"
    ERREUR = "erreur"


# The command-line contract: see `segur run --help`.
EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_HARNESS, EXIT_INCOMPLETE = 0, 1, 2, 3, 4
VERDICT_EXIT = {
    Verdict.CONFORME: EXIT_OK,
    Verdict.NON_CONFORME: EXIT_FAIL,
    Verdict.ERREUR: EXIT_HARNESS,
    Verdict.INCOMPLET: EXIT_INCOMPLETE,
}
CRITICITE_ORDER = {"CRITICAL": 0, "MAJOR": 1, "MINOR": 2}


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
    # French wording of the prose fields (reports are in French by default); None where the
    # English field is a value (a code, an XPath, an identifier) that reads the same in both.
    message_fr: str | None = None
    expected_fr: str | None = None
    received_fr: str | None = None
    # Where the rule comes from, when a validator says it: "guide" (a published specification) or
    # "harness" (a rule the project adds beyond the guide, e.g. the INS matricule key in FHIR).
    rule_origin: str | None = None

    def text(self, lang: str) -> tuple[str, str | None, str | None]:
        """(message, expected, received) in ``lang`` ("fr" or "en")."""
        if lang == "fr":
            return (
                self.message_fr or self.message,
                self.expected if self.expected_fr is None else self.expected_fr,
                self.received if self.received_fr is None else self.received_fr,
            )
        return self.message, self.expected, self.received

    def to_dict(self) -> dict[str, Any]:
        # Field by field, not dataclasses.asdict: its deep copy of the Severity enum cost more than
        # judging a FHIR resource (every field here is immutable, so a shallow read is the same).
        data = {name: getattr(self, name) for name in _FINDING_FIELDS}
        data["severity"] = self.severity.value
        data["evidence"] = list(self.evidence)
        if self.rule_origin is None:
            del data["rule_origin"]  # reports of validators that do not say it stay as they were
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(
            **{**data, "severity": Severity(data.get("severity", "error")), "evidence": tuple(data.get("evidence", []))}
        )

    def describe(self, lang: str = "en") -> str:
        message, expected, received = self.text(lang)
        words = DESCRIBE_WORDS[lang]
        text = f"[{self.rule}] {message}"
        if expected is not None or received is not None:
            text += f" ({words[0]} {expected!s}, {words[1]} {received!s})"
        if self.location:
            text += f" {words[2]} {self.location}"
        if self.line:
            text += f" ({words[3]} {self.line})"
        if self.rule_origin == "harness":
            text += f" ({words[4]})"
        return text


_FINDING_FIELDS = tuple(f.name for f in fields(Finding))

DESCRIBE_WORDS = {
    "en": ("expected", "received", "at", "line", "harness rule, beyond the guide"),
    "fr": ("attendu", "reçu", "à", "ligne", "règle du harnais, au-delà du guide"),
}


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
    message_fr: str = ""  # the skip reason in French, when the test was not evaluated
    skip_kind: SkipKind | None = None
    blocked_by: list[str] = field(default_factory=list)

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
            "message_fr": self.message_fr,
            "skip_kind": self.skip_kind.value if self.skip_kind else None,
            "blocked_by": self.blocked_by,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TestRecord:
        fields = {**data, "outcome": Outcome(data["outcome"])}
        fields["skip_kind"] = SkipKind(data["skip_kind"]) if data.get("skip_kind") else None
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
    statement_en: str = ""
    reason_fr: str = ""
    skip_kind: SkipKind | None = None
    blocked_by: list[str] = field(default_factory=list)  # requirements whose failure kept this one from being judged
    evidence_expected_en: str = ""

    def localized(self, lang: str) -> tuple[str, str]:
        """(statement, reason) in ``lang``."""
        if lang == "en":
            return self.statement_en or self.statement, self.reason
        return self.statement, self.reason_fr or self.reason

    def evidence_expected_in(self, lang: str) -> str:
        return (self.evidence_expected_en or self.evidence_expected) if lang == "en" else self.evidence_expected

    @property
    def leaves_run_incomplete(self) -> bool:
        return self.outcome is Outcome.SKIP and (self.skip_kind is None or self.skip_kind in INCOMPLETE_KINDS)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "official_ref": self.official_ref,
            "domain": self.domain,
            "nature": self.nature,
            "criticite": self.criticite,
            "statement": self.statement,
            "statement_en": self.statement_en,
            "automation": self.automation,
            "outcome": self.outcome.value,
            "skip_kind": self.skip_kind.value if self.skip_kind else None,
            "blocked_by": self.blocked_by,
            "reason": self.reason,
            "reason_fr": self.reason_fr,
            "tests": self.tests,
            "findings": [f.to_dict() for f in self.findings],
            "evidence": self.evidence,
            "evidence_expected": self.evidence_expected,
            "evidence_expected_en": self.evidence_expected_en,
            "attestation": self.attestation,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RequirementResult:
        fields = {**data, "outcome": Outcome(data["outcome"])}
        fields["skip_kind"] = SkipKind(data["skip_kind"]) if data.get("skip_kind") else None
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
    allow_incomplete: bool = False  # segur run --allow-incomplete: an incomplete run exits 0, and says so

    def counts(self) -> dict[str, int]:
        counts = {o.value: 0 for o in Outcome}
        for req in self.requirements:
            counts[req.outcome.value] += 1
        return counts

    @property
    def verdict(self) -> Verdict:
        """Error wins, then fail; a run that left an applicable requirement unjudged is incomplete.

        "conforme" therefore means every applicable requirement passed, or awaits the reviewer's
        attestation or an optional input of the harness (:class:`SkipKind`); a run that judged
        nothing is never "conforme".
        """
        outcomes = {r.outcome for r in self.requirements} | {t.outcome for t in self.tests}
        if Outcome.ERROR in outcomes:
            return Verdict.ERREUR
        if Outcome.FAIL in outcomes:
            return Verdict.NON_CONFORME
        if Outcome.PASS not in {r.outcome for r in self.requirements} or self.not_evaluated():
            return Verdict.INCOMPLET
        return Verdict.CONFORME

    @property
    def exit_code(self) -> int:
        """The exit status of the command-line contract (``VERDICT_EXIT``); see ``allow_incomplete``."""
        verdict = self.verdict
        if verdict is Verdict.INCOMPLET and self.allow_incomplete:
            return EXIT_OK
        return VERDICT_EXIT[verdict]

    def not_evaluated(self) -> list[RequirementResult]:
        """The applicable requirements left unjudged that make the run incomplete, CRITICAL first."""
        return sorted(
            (r for r in self.requirements if r.leaves_run_incomplete),
            key=lambda r: (CRITICITE_ORDER.get(r.criticite, 9), r.id),
        )

    def set_aside(self) -> list[RequirementResult]:
        """Skipped requirements that do not make the run incomplete (attestations, harness options)."""
        return [r for r in self.requirements if r.outcome is Outcome.SKIP and not r.leaves_run_incomplete]

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
            "verdict": self.verdict.value,
            "allow_incomplete": self.allow_incomplete,
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
            allow_incomplete=bool(data.get("allow_incomplete", False)),
        )


def aggregate(outcomes: list[Outcome]) -> Outcome:
    """Requirement outcome from its tests' outcomes: error > fail > pass > skip > omit."""
    for candidate in (Outcome.ERROR, Outcome.FAIL, Outcome.PASS, Outcome.SKIP):
        if candidate in outcomes:
            return candidate
    return Outcome.OMIT
