"""``segur attest``: a reviewer's verdict on a requirement no test can judge, with the file that proves it.

The file is copied into the pack (``attestations/``), the verdict recorded with the reviewer's
name, the reports rewritten with it, and the manifest sealed again with the reviewer's harness
PKI key. The previous manifest is kept in the pack, so the run's own signature stays checkable
as history, and the new one covers it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path
from typing import Any

from harness.core import pki
from harness.core.catalog import unknown_id_message
from harness.core.errors import UsageError
from harness.core.results import RunResult
from harness.core.signing import Signer, sha256_hex
from harness.evidence import pack as evidence
from harness.evidence.report_diff import load_report

VERDICTS = ("pass", "fail")


def attest(
    pack: Path,
    requirement: str,
    *,
    reviewer: str,
    verdict: str,
    file: Path,
    data_dir: Path,
    comment: str = "",
) -> dict[str, Any]:
    """Record the attestation and re-seal the pack; returns the attestation entry."""
    pack, file = Path(pack), Path(file)
    if verdict not in VERDICTS:
        raise UsageError(f"verdict must be one of {', '.join(VERDICTS)}, not {verdict!r}")
    if not reviewer.strip():
        raise UsageError("--reviewer must name the reviewer")
    if not file.is_file():
        raise UsageError(f"{file}: no such file (attach the screenshot, video or document that proves the verdict)")
    report = load_report(pack)
    verification = evidence.verify_pack(pack)
    if not verification.intact:
        raise UsageError(
            f"{pack} was altered since it was sealed; attest only on an intact pack:\n  "
            + "\n  ".join(verification.altered)
        )
    by_id = {r["id"]: r for r in report["requirements"]}
    if requirement not in by_id:
        raise UsageError(unknown_id_message(requirement, list(by_id)))
    entry_req = by_id[requirement]
    if entry_req.get("automation") != "attestation":
        raise UsageError(f"{requirement} is judged by automated tests; attest records verdicts on attestation items")

    content = file.read_bytes()
    digest = sha256_hex(content)
    safe_name = re.sub(r"[^A-Za-z0-9._-]", "_", file.name)[-80:] or "evidence"
    stored = f"{digest[:12]}-{safe_name}"
    target = pack / evidence.ATTESTATIONS / stored
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(file, target)
    entry = {
        "run_id": report["run_id"],
        "requirement": requirement,
        "reviewer": reviewer.strip(),
        "verdict": verdict,
        "comment": comment,
        "file": stored,
        "sha256": digest,
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    log_path = pack / evidence.ATTESTATIONS_FILE
    log = json.loads(log_path.read_text(encoding="utf-8")) if log_path.is_file() else []
    log.append(entry)
    log_path.write_text(json.dumps(log, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")

    entry_req["attestation"] = entry
    entry_req["outcome"] = verdict
    entry_req["reason"] = f"attestation by {entry['reviewer']}" + (f": {comment}" if comment else "")
    entry_req["reason_fr"] = f"attestation de {entry['reviewer']}" + (f" : {comment}" if comment else "")
    entry_req["skip_kind"] = None  # judged now: it no longer waits on anyone
    result = RunResult.from_dict(report)
    _rewrite_reports(pack, result)
    _reseal(pack, result, data_dir)
    return entry


def _rewrite_reports(pack: Path, result: RunResult) -> None:
    from harness.evidence.reports import html, json_report, junit

    json_report.write(result, pack)
    junit.write(result, pack)
    if (pack / "report.html").exists():
        html.write(result, pack, lang=_report_language(pack))


def _report_language(pack: Path) -> str:
    head = (pack / "report.html").read_text(encoding="utf-8", errors="replace")[:500]
    return "en" if '<html lang="en"' in head else "fr"


def _reseal(pack: Path, result: RunResult, data_dir: Path) -> None:
    previous = pack / evidence.MANIFEST
    history = pack / evidence.ATTESTATIONS / "previous-manifests"
    history.mkdir(parents=True, exist_ok=True)
    count = len(list(history.glob("manifest-*.json")))
    shutil.copyfile(previous, history / f"manifest-{count + 1}.json")
    layout = pki.load_or_create_pki(Path(data_dir) / "pki")
    manifest = json.loads(previous.read_text(encoding="utf-8"))
    evidence.seal(
        pack, Signer(layout.signers["evidence"]), run=evidence.run_description(result), rules=manifest["rules"]
    )
