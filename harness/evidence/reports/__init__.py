"""Report writers: each format is an independent module that reads only a RunResult."""

from __future__ import annotations

from pathlib import Path

from harness.core.results import RunResult

FORMATS = ("json", "junit", "allure", "html")


def write_reports(
    result: RunResult, report_dir: Path, formats: tuple[str, ...] = FORMATS, lang: str = "fr"
) -> dict[str, Path]:
    """Write the asked formats into ``report_dir``; returns format -> path."""
    from harness.evidence.reports import allure, html, json_report, junit

    report_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    if "json" in formats:
        written["json"] = json_report.write(result, report_dir)
    if "junit" in formats:
        written["junit"] = junit.write(result, report_dir)
    if "allure" in formats:
        written["allure"] = allure.write(result, report_dir)
    if "html" in formats:
        written["html"] = html.write(result, report_dir, lang=lang)
    return written
