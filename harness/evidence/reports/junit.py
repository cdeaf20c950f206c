"""``junit.xml`` as Jenkins and GitLab read it: one testsuite per suite, requirements as properties."""

from __future__ import annotations

import re
from pathlib import Path

from lxml import etree

from harness.core.results import Outcome, RunResult, TestRecord
from harness.evidence.reports.files import atomic_write

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _clean(text: str) -> str:
    return _CONTROL.sub("", text)


def _testcase(parent: etree._Element, record: TestRecord) -> None:
    case = etree.SubElement(
        parent, "testcase", classname=f"segur.{record.suite}", name=record.name, time=f"{record.duration:.3f}"
    )
    properties = etree.SubElement(case, "properties")
    for req_id in record.requirements:
        etree.SubElement(properties, "property", name="requirement", value=req_id)
    detail = _clean("\n".join(f.describe() for f in record.findings) or record.message)
    if record.outcome is Outcome.FAIL:
        failure = etree.SubElement(case, "failure", message=_clean(record.message[:500]), type="NonConformance")
        failure.text = detail
    elif record.outcome is Outcome.ERROR:
        error = etree.SubElement(case, "error", message=_clean(record.message[:500]), type="HarnessError")
        error.text = detail
    elif record.outcome in (Outcome.SKIP, Outcome.OMIT):
        prefix = "omit: " if record.outcome is Outcome.OMIT else ""
        etree.SubElement(case, "skipped", message=_clean(prefix + record.message))


def write(result: RunResult, report_dir: Path) -> Path:
    root = etree.Element("testsuites", name=f"segur {result.run_id}")
    for suite in sorted({r.suite for r in result.tests}):
        records = [r for r in result.tests if r.suite == suite]
        counts = {o: sum(1 for r in records if r.outcome is o) for o in Outcome}
        element = etree.SubElement(
            root,
            "testsuite",
            name=suite,
            tests=str(len(records)),
            failures=str(counts[Outcome.FAIL]),
            errors=str(counts[Outcome.ERROR]),
            skipped=str(counts[Outcome.SKIP] + counts[Outcome.OMIT]),
            time=f"{sum(r.duration for r in records):.3f}",
            timestamp=result.started_at,
        )
        # The run's overall verdict, for CI gates that read junit.xml only: "incomplet" has no
        # failing test case, yet must not pass for "conforme".
        properties = etree.SubElement(element, "properties")
        etree.SubElement(properties, "property", name="segur.verdict", value=result.verdict.value)
        etree.SubElement(properties, "property", name="segur.exit_code", value=str(result.exit_code))
        for record in records:
            _testcase(element, record)
    data = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return atomic_write(report_dir / "junit.xml", data)
