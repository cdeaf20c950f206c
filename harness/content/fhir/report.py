"""What the FHIR engine reports: issues in the OperationOutcome vocabulary, and a report per resource."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.core.results import Finding, Severity


class NotFhir(ValueError):
    """The input is not a FHIR resource we can judge (not JSON/XML, no resourceType, too deep)."""


_SEVERITIES = {"error": Severity.ERROR, "warning": Severity.WARNING, "information": Severity.INFO}


@dataclass(frozen=True)
class FhirIssue:
    """One OperationOutcome.issue: ``expression`` is where in the instance, ``element`` which
    profile element (a StructureDefinition element id) or constraint judged it."""

    severity: str  # error | warning | information
    code: str  # OperationOutcome issue-type: structure, required, value, code-invalid, invariant...
    rule: str  # fhir.cardinality, fhir.invariant.fr-core-1... (profiles/fhir/README.md)
    message: str
    expression: str
    element: str | None = None
    profile: str | None = None
    expected: str | None = None
    received: str | None = None
    # The French of ``message``. Text quoted from a profile (an invariant's human text) or from a
    # library (pydantic's message) is kept as is inside it: it exists in one language only.
    message_fr: str | None = None
    # "guide": the published rules (FHIR R4, a guide's profile); "harness": a rule the project adds
    # beyond the guides (profiles/fhir "check": INS matricule key, identifier formats from the facts).
    rule_origin: str = "guide"

    def to_finding(self) -> Finding:
        where = self.expression if not self.element else f"{self.expression} ({self.element})"
        return Finding(
            rule=self.rule,
            message=self.message,
            message_fr=self.message_fr,
            severity=_SEVERITIES[self.severity],
            location=where,
            expected=self.expected,
            received=self.received,
            evidence=(self.profile,) if self.profile else (),
            rule_origin=self.rule_origin,
        )

    def to_dict(self) -> dict[str, Any]:
        data = self.to_finding().to_dict()
        data["code"] = self.code
        data["expression"] = self.expression
        data["element"] = self.element
        return data

    def to_operation_outcome_issue(self) -> dict[str, Any]:
        issue: dict[str, Any] = {
            "severity": self.severity,
            "code": self.code,
            "diagnostics": self.message,
            "expression": [self.expression],
        }
        if self.element or self.profile:
            issue["details"] = {"text": " ".join(x for x in (self.profile, self.element) if x)}
        return issue


VALID, INVALID, NOT_JUDGED = "valid", "invalid", "not_judged"


@dataclass
class FhirReport:
    resource_type: str | None
    profiles: list[str] = field(default_factory=list)  # the profiles applied to the root resource
    issues: list[FhirIssue] = field(default_factory=list)
    # Profiles the resource (or a Bundle entry) claims, or --profile names, that profiles/fhir does
    # not hold: what they require was not judged, so the resource can be invalid but never valid.
    not_held: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """No error and every claimed profile judged (``verdict == "valid"``)."""
        return self.verdict == VALID

    @property
    def verdict(self) -> str:
        if any(issue.severity == "error" for issue in self.issues):
            return INVALID
        return NOT_JUDGED if self.not_held else VALID

    @property
    def findings(self) -> list[FhirIssue]:
        return self.issues

    def errors(self) -> list[FhirIssue]:
        return [issue for issue in self.issues if issue.severity == "error"]

    def to_operation_outcome(self) -> dict[str, Any]:
        issues = [issue.to_operation_outcome_issue() for issue in self.issues]
        if not issues:
            issues = [{"severity": "information", "code": "informational", "diagnostics": "no issue found"}]
        return {"resourceType": "OperationOutcome", "issue": issues}


def wrong_resource_type(url: str, profile_type: str, received: object, expression: str) -> FhirIssue:
    return FhirIssue(
        "error",
        "structure",
        "fhir.profile",
        f"profile {url} applies to {profile_type}, not {received}",
        expression,
        expected=profile_type,
        received=str(received),
        message_fr=f"le profil {url} s'applique à {profile_type}, pas à {received}",
    )
