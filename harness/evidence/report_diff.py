"""``segur report diff OLD NEW``: what changed between two runs, for hospital IT and CI gates.

Findings are compared after normalising what differs from run to run without meaning anything
(exchange and session identifiers, UUIDs, timestamps, loopback ports, durations, temporary
paths), so that two runs of the same product give an empty diff.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.errors import UsageError

# Worse outcomes rank higher: a move up this ladder is a regression.
OUTCOME_RANK = {"omit": 0, "skip": 1, "pass": 2, "fail": 3, "error": 4}

VOLATILE = [
    (re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?"), "<timestamp>"),
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<uuid>"),
    (re.compile(r"\b[0-9a-f]{12}-[A-Za-z0-9-]*-[0-9a-f]{6}\b"), "<session>"),  # HarnessEnvironment.new_session_key
    (re.compile(r"\b[0-9a-f]{12}-[0-9a-f]{8}\b"), "<session>"),
    (re.compile(r"\b[0-9a-f]{32}\b"), "<id>"),
    (re.compile(r"\b(127\.0\.0\.1|localhost|\[::1\]):\d+"), r"\1:<port>"),
    (re.compile(r"(/tmp|/var/folders|/private/var)/[^\s'\",)]+"), "<tmp>"),
    (re.compile(r"\b\d+(?:\.\d+)?\s?(?:ms|s)\b"), "<duration>"),
]


def normalise(text: str | None) -> str:
    if not text:
        return ""
    for pattern, replacement in VOLATILE:
        text = pattern.sub(replacement, text)
    return text


def load_report(path: Path) -> dict[str, Any]:
    """report.json of a report folder (or the file itself)."""
    path = Path(path)
    file = path / "report.json" if path.is_dir() else path
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise UsageError(f"{file} not found: give a report folder written by segur run, or its report.json") from exc
    except (OSError, ValueError) as exc:
        raise UsageError(f"{file} cannot be read as JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("requirements"), list):
        raise UsageError(f"{file} is not a segur report (no requirements list)")
    return data


def finding_key(requirement: str, finding: dict[str, Any]) -> tuple[str, ...]:
    return (
        requirement,
        str(finding.get("rule", "")),
        str(finding.get("severity", "error")),
        normalise(finding.get("message")),
        normalise(finding.get("expected")),
        normalise(finding.get("received")),
        normalise(finding.get("location")),
    )


@dataclass
class RunDiff:
    outcome_changes: list[dict[str, str]] = field(default_factory=list)
    new_findings: list[dict[str, Any]] = field(default_factory=list)
    vanished_findings: list[dict[str, Any]] = field(default_factory=list)
    added_requirements: list[str] = field(default_factory=list)
    removed_requirements: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[dict[str, str]]:
        return [c for c in self.outcome_changes if OUTCOME_RANK[c["new"]] > OUTCOME_RANK[c["old"]]]

    @property
    def empty(self) -> bool:
        return not (
            self.outcome_changes
            or self.new_findings
            or self.vanished_findings
            or self.added_requirements
            or self.removed_requirements
        )

    def exit_status(self, strict: bool = False) -> int:
        """1 on a regression or a new error-level finding (any change with ``strict``), else 0."""
        if strict:
            return 0 if self.empty else 1
        new_errors = [f for f in self.new_findings if f.get("severity", "error") == "error"]
        return 1 if self.regressions or new_errors else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome_changes": self.outcome_changes,
            "regressions": self.regressions,
            "new_findings": self.new_findings,
            "vanished_findings": self.vanished_findings,
            "added_requirements": self.added_requirements,
            "removed_requirements": self.removed_requirements,
        }


def diff_reports(old: dict[str, Any], new: dict[str, Any]) -> RunDiff:
    old_reqs = {r["id"]: r for r in old["requirements"]}
    new_reqs = {r["id"]: r for r in new["requirements"]}
    result = RunDiff(
        added_requirements=sorted(set(new_reqs) - set(old_reqs)),
        removed_requirements=sorted(set(old_reqs) - set(new_reqs)),
    )
    for req_id in sorted(set(old_reqs) & set(new_reqs)):
        before, after = old_reqs[req_id], new_reqs[req_id]
        if before["outcome"] != after["outcome"]:
            result.outcome_changes.append(
                {
                    "requirement": req_id,
                    "old": before["outcome"],
                    "new": after["outcome"],
                    "statement": after.get("statement", ""),
                    "reason": after.get("reason", ""),
                }
            )
        old_findings = {finding_key(req_id, f): f for f in before.get("findings", [])}
        new_findings = {finding_key(req_id, f): f for f in after.get("findings", [])}
        result.new_findings += [
            {"requirement": req_id, **new_findings[k]} for k in new_findings if k not in old_findings
        ]
        result.vanished_findings += [
            {"requirement": req_id, **old_findings[k]} for k in old_findings if k not in new_findings
        ]
    return result


def render_text(diff: RunDiff, old_label: str, new_label: str) -> str:
    if diff.empty:
        return f"No change between {old_label} and {new_label}.\n"
    lines = [f"Changes from {old_label} to {new_label}:"]
    for change in diff.outcome_changes:
        mark = "REGRESSION" if change in diff.regressions else "change"
        lines.append(f"  {mark:<10} {change['requirement']:<8} {change['old']} -> {change['new']}  {change['reason']}")
    for title, findings in (("new finding", diff.new_findings), ("vanished", diff.vanished_findings)):
        for finding in findings:
            lines.append(f"  {title:<10} {finding['requirement']:<8} [{finding.get('rule')}] {finding.get('message')}")
    for req_id in diff.added_requirements:
        lines.append(f"  {'added':<10} {req_id}")
    for req_id in diff.removed_requirements:
        lines.append(f"  {'removed':<10} {req_id}")
    lines.append(
        f"{len(diff.outcome_changes)} outcome change(s), {len(diff.regressions)} regression(s), "
        f"{len(diff.new_findings)} new and {len(diff.vanished_findings)} vanished finding(s)."
    )
    return "\n".join(lines) + "\n"
