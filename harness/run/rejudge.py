"""``segur rejudge DIR``: apply today's rules to the recordings of a past run.

The suites run again in replay mode (``--segur-replay``): each test gets back the session key,
the recorded exchanges and the product's recorded answers of the original run, so a verdict
can only change because a rule changed. The result is compared with the recorded report.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.core.errors import UsageError
from harness.core.paths import available_suites
from harness.evidence import pack as evidence
from harness.evidence.report_diff import RunDiff, diff_reports, load_report
from harness.run.replay import NOT_REJUDGEABLE
from harness.run.runner import RunOptions, _ResultGrabber, pytest_arguments


@dataclass
class Rejudgement:
    diff: RunDiff
    flips: list[dict[str, str]]
    not_rejudged: dict[str, str] = field(default_factory=dict)  # requirement -> why
    verification: evidence.Verification | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "flips": self.flips,
            "not_rejudged": self.not_rejudged,
            "new_findings": self.diff.new_findings,
            "vanished_findings": self.diff.vanished_findings,
            "pack_intact": self.verification.intact if self.verification else None,
            "pack_problems": self.verification.altered if self.verification else [],
        }


def rejudge(pack: Path, report_dir: Path | None = None) -> Rejudgement:
    """Re-judge the run recorded in ``pack``; new reports go to ``report_dir`` (default: a temporary folder)."""
    pack = Path(pack)
    old = load_report(pack)
    if not (pack / evidence.TESTS).is_file() or not (pack / evidence.EXCHANGES).is_file():
        raise UsageError(f"{pack} holds no recordings ({evidence.TESTS}, {evidence.EXCHANGES}): not an evidence pack")
    verification = evidence.verify_pack(pack) if (pack / evidence.MANIFEST).is_file() else None
    suites = [s for s in old["suites"] if s in available_suites()]
    if not suites:
        raise UsageError(f"none of the recorded suites ({', '.join(old['suites'])}) exists in this version")
    with tempfile.TemporaryDirectory(prefix="segur-rejudge-") as scratch:
        options = RunOptions(report_dir=report_dir or Path(scratch) / "report", couloir=old.get("couloir"))
        args = [*pytest_arguments(options, suites), "--segur-replay", str(pack)]
        grabber = _ResultGrabber()
        with contextlib.redirect_stdout(sys.stderr):  # progress on stderr: stdout carries the answer
            pytest.main(args, plugins=[grabber])
    if grabber.result is None:
        raise UsageError("the replay produced no result")
    new = grabber.result.to_dict()
    not_rejudged = {
        req_id: test["message"].removeprefix(NOT_REJUDGEABLE)
        for test in new["tests"]
        if test["outcome"] == "skip" and test["message"].startswith(NOT_REJUDGEABLE)
        for req_id in test["requirements"]
    }
    diff = diff_reports(old, new)
    flips = [c for c in diff.outcome_changes if c["requirement"] not in not_rejudged]
    return Rejudgement(diff=diff, flips=flips, not_rejudged=not_rejudged, verification=verification)


def render_text(result: Rejudgement, pack: Path) -> str:
    lines = []
    if result.verification is not None and not result.verification.intact:
        lines.append(f"Warning: the pack {pack} was altered; see segur report verify {pack}.")
    if not result.flips:
        lines.append(f"No verdict of {pack} would change under the current rules.")
    else:
        lines.append(f"Verdicts of {pack} that the current rules would change:")
        for flip in result.flips:
            lines.append(f"  {flip['requirement']:<8} {flip['old']} -> {flip['new']}  {flip['reason']}")
    for finding in result.diff.new_findings:
        lines.append(f"  new finding  {finding['requirement']:<8} [{finding.get('rule')}] {finding.get('message')}")
    for finding in result.diff.vanished_findings:
        lines.append(f"  vanished     {finding['requirement']:<8} [{finding.get('rule')}] {finding.get('message')}")
    for req_id, why in sorted(result.not_rejudged.items()):
        lines.append(f"  not re-judged {req_id}: {why}")
    return "\n".join(lines) + "\n"
