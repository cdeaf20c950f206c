"""Strict verifiers: pure functions from recorded exchanges and product answers to findings."""

from __future__ import annotations

from collections.abc import Iterable

from harness.core.results import Finding, NonConformance, Severity


def expect(*groups: Iterable[Finding]) -> None:
    """Raise NonConformance with every error-level finding of the groups, all at once."""
    findings = [f for group in groups for f in group]
    errors = [f for f in findings if f.severity is Severity.ERROR]
    if errors:
        raise NonConformance(findings)
