"""``allure-results/``: one ``<uuid>-result.json`` per test, readable by the Allure 2 CLI.

Field names follow allure-python-commons' result model (name, fullName, historyId, status,
statusDetails, start/stop in milliseconds, labels).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path

from harness.core.results import Outcome, RunResult, TestRecord
from harness.evidence.reports.files import atomic_write

STATUS = {
    Outcome.PASS: "passed",
    Outcome.FAIL: "failed",
    Outcome.ERROR: "broken",
    Outcome.SKIP: "skipped",
    Outcome.OMIT: "skipped",
}


def _result(record: TestRecord) -> dict[str, object]:
    start = int(record.started_at * 1000)
    labels = [
        {"name": "suite", "value": record.suite},
        {"name": "service", "value": record.service},
        {"name": "framework", "value": "segur"},
    ]
    for req_id in record.requirements:
        labels += [{"name": "requirement", "value": req_id}, {"name": "tag", "value": req_id}]
    return {
        # Stable per test and run content, so that writing twice gives the same files.
        "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"segur:{record.nodeid}:{record.started_at}")),
        "historyId": hashlib.sha256(record.nodeid.encode()).hexdigest(),
        "name": record.name,
        "fullName": record.nodeid,
        "description": record.description,
        "status": STATUS[record.outcome],
        "statusDetails": {
            "message": record.message,
            "trace": "\n".join(f.describe() for f in record.findings),
        },
        "stage": "finished",
        "start": start,
        "stop": start + int(record.duration * 1000),
        "labels": labels,
    }


def write(result: RunResult, report_dir: Path) -> Path:
    folder = report_dir / "allure-results"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*-result.json"):
        old.unlink()
    for record in result.tests:
        data = _result(record)
        atomic_write(folder / f"{data['uuid']}-result.json", json.dumps(data, ensure_ascii=False, indent=1).encode())
    environment = {
        "harness.version": result.harness_version,
        "sut": str(result.sut.get("name", "")),
        "suites": ",".join(result.suites),
        "couloir": result.couloir or "all",
        "verdict": result.verdict.value,
    }
    lines = "".join(f"{key}={value}\n" for key, value in environment.items())
    atomic_write(folder / "environment.properties", lines.encode("utf-8"))
    return folder
