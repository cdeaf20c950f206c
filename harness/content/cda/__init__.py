"""CDA R2 validation with the project's own CI-SIS header rules (``segur validate cda``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.content.cda import rules_content, rules_strucmin  # noqa: F401  (registers the rules)
from harness.content.cda.rules import RULES, Context, load_context_data
from harness.core.results import Finding, Severity
from harness.protocols.cda_document import CdaDocument, NotACda, read_cda

__all__ = ["CdaDocument", "CdaReport", "NotACda", "read_cda", "validate_cda", "validate_document"]


@dataclass
class CdaReport:
    findings: list[Finding] = field(default_factory=list)
    wrapper: str | None = None
    format_code: str | None = None

    @property
    def valid(self) -> bool:
        return not any(f.severity is Severity.ERROR for f in self.findings)


def validate_document(doc: CdaDocument, target: str | None = None, rule_ids: set[str] | None = None) -> CdaReport:
    profile, value_sets = load_context_data()
    ctx = Context(profile, value_sets, target)
    findings = [f for r in RULES.values() if rule_ids is None or r.id in rule_ids for f in r.check(doc, ctx)]
    return CdaReport(findings, doc.wrapper, rules_content.format_code(doc, ctx))


def validate_cda(data: bytes, target: str | None = None) -> CdaReport:
    """Validate CDA bytes; raises NotACda when they cannot be read as a CDA."""
    return validate_document(read_cda(data), target)
