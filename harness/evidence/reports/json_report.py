"""``report.json``: the whole run result, the machine-readable source of every other report."""

from __future__ import annotations

import json
from pathlib import Path

from harness.core.results import RunResult
from harness.evidence.reports.files import atomic_write


def write(result: RunResult, report_dir: Path) -> Path:
    text = json.dumps(result.to_dict(), ensure_ascii=False, indent=2) + "\n"
    return atomic_write(report_dir / "report.json", text.encode("utf-8"))
