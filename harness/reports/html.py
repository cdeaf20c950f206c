"""``report.html``: one self-contained page, in French by default (``lang="en"`` for English).

Everything is escaped; the same result always gives the same bytes.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from harness.reports import atomic_write
from harness.results import Finding, Outcome, RequirementResult, RunResult

TEXT: dict[str, dict[str, Any]] = {
    "fr": {
        "title": "Rapport de conformité Ségur",
        "run": "Exécution",
        "sut": "Système testé",
        "suites": "Suites",
        "couloir": "Couloir",
        "all": "tous",
        "version": "Version du harnais",
        "dates": "Début / fin",
        "summary": "Synthèse",
        "verdict": {0: "Conforme", 1: "Non conforme", 3: "Erreur du harnais"},
        "by_domain": "Par domaine et criticité",
        "domain": "Domaine",
        "criticite": "Criticité",
        "requirements": "Exigences",
        "statement": "Énoncé",
        "nature": "Nature",
        "official": "Référence officielle",
        "reason": "Motif",
        "findings": "Constats",
        "rule": "Règle",
        "message": "Message",
        "expected": "Attendu",
        "received": "Reçu",
        "location": "Emplacement",
        "evidence": "Preuve",
        "tests": "Tests",
        "exchanges": "Échanges enregistrés",
        "service": "Service",
        "operation": "Opération",
        "outcome": "Résultat",
        "status": "HTTP",
        "client": "Client TLS",
        "outcomes": {
            "pass": "conforme",
            "fail": "non conforme",
            "skip": "non évalué",
            "omit": "non applicable",
            "error": "erreur",
        },
        "none": "aucun",
    },
    "en": {
        "title": "Ségur conformance report",
        "run": "Run",
        "sut": "System under test",
        "suites": "Suites",
        "couloir": "Couloir",
        "all": "all",
        "version": "Harness version",
        "dates": "Start / end",
        "summary": "Summary",
        "verdict": {0: "Conformant", 1: "Not conformant", 3: "Harness error"},
        "by_domain": "By domain and criticality",
        "domain": "Domain",
        "criticite": "Criticality",
        "requirements": "Requirements",
        "statement": "Statement",
        "nature": "Nature",
        "official": "Official reference",
        "reason": "Reason",
        "findings": "Findings",
        "rule": "Rule",
        "message": "Message",
        "expected": "Expected",
        "received": "Received",
        "location": "Location",
        "evidence": "Evidence",
        "tests": "Tests",
        "exchanges": "Recorded exchanges",
        "service": "Service",
        "operation": "Operation",
        "outcome": "Outcome",
        "status": "HTTP",
        "client": "TLS client",
        "outcomes": {"pass": "pass", "fail": "fail", "skip": "skipped", "omit": "not applicable", "error": "error"},
        "none": "none",
    },
}

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1d1d1f;max-width:1200px}
h1{font-size:1.6rem}h2{margin-top:2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.3rem .5rem;
text-align:left;vertical-align:top;font-size:.9rem}th{background:#f3f3f3}
.badge{display:inline-block;padding:.1rem .5rem;border-radius:.6rem;color:#fff;font-weight:600}
.pass{background:#2e7d32}.fail{background:#c62828}.skip{background:#757575}.omit{background:#9e9e9e}
.error{background:#6a1b9a}.req{border:1px solid #ddd;border-radius:.4rem;padding:.5rem 1rem;margin:.8rem 0}
.verdict{font-size:1.3rem;font-weight:700}code{font-size:.85rem}
"""


def _badge(outcome: Outcome, t: dict[str, Any]) -> str:
    return f'<span class="badge {outcome.value}">{escape(t["outcomes"][outcome.value])}</span>'


def _evidence_links(ids: tuple[str, ...] | list[str], known: set[str]) -> str:
    links = [f'<a href="#x-{escape(i)}">{escape(i[:8])}</a>' for i in ids if i in known]
    return ", ".join(links)


def _findings_table(findings: list[Finding], t: dict[str, Any], known: set[str]) -> str:
    head = "".join(
        f"<th>{escape(t[k])}</th>" for k in ("rule", "message", "expected", "received", "location", "evidence")
    )
    rows = []
    for f in findings:
        cells = [f.rule, f.message, f.expected or "", f.received or "", f.location or ""]
        tds = "".join(f"<td>{escape(c)}</td>" for c in cells)
        rows.append(f"<tr>{tds}<td>{_evidence_links(f.evidence, known)}</td></tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _requirement(req: RequirementResult, t: dict[str, Any], known: set[str]) -> str:
    parts = [f'<div class="req" id="r-{escape(req.id)}"><h3>{escape(req.id)} {_badge(req.outcome, t)}</h3>']
    parts.append(f"<p>{escape(req.statement)}</p><p><small>{escape(t['nature'])}: {escape(req.nature)} · ")
    parts.append(f"{escape(t['criticite'])}: {escape(req.criticite)}")
    if req.official_ref:
        parts.append(f" · {escape(t['official'])}: {escape(req.official_ref)}")
    parts.append("</small></p>")
    if req.reason:
        parts.append(f"<p>{escape(t['reason'])}: {escape(req.reason)}</p>")
    if req.findings:
        parts.append(_findings_table(req.findings, t, known))
    if req.evidence:
        parts.append(f"<p>{escape(t['evidence'])}: {_evidence_links(req.evidence, known)}</p>")
    parts.append("</div>")
    return "".join(parts)


def render(result: RunResult, lang: str = "fr") -> str:
    if lang not in TEXT:
        raise ValueError(f"report language must be one of {sorted(TEXT)}, not {lang!r}")
    t = TEXT[lang]
    known = {str(e["id"]) for e in result.exchanges}
    counts = result.counts()
    summary = "".join(f"<td>{_badge(Outcome(k), t)} {n}</td>" for k, n in counts.items())
    domains = sorted({(r.domain, r.criticite) for r in result.requirements})
    domain_rows = "".join(
        f"<tr><td>{escape(d)}</td><td>{escape(c)}</td>"
        + "".join(
            f"<td>{sum(1 for r in result.requirements if (r.domain, r.criticite, r.outcome) == (d, c, o))}</td>"
            for o in Outcome
        )
        + "</tr>"
        for d, c in domains
    )
    outcome_heads = "".join(f"<th>{escape(t['outcomes'][o.value])}</th>" for o in Outcome)
    exchange_rows = "".join(
        f'<tr id="x-{escape(str(e["id"]))}"><td><code>{escape(str(e["id"]))}</code></td>'
        + "".join(
            f"<td>{escape(str(e.get(k) or ''))}</td>"
            for k in ("service", "operation", "outcome", "http_status", "client_subject")
        )
        + "</tr>"
        for e in result.exchanges
    )
    test_rows = "".join(
        f"<tr><td><code>{escape(r.nodeid)}</code><br><small>{escape(r.description)}</small></td>"
        f"<td>{escape(', '.join(r.requirements))}</td><td>{_badge(r.outcome, t)}</td></tr>"
        for r in result.tests
    )
    sut_details = ", ".join(f"{k}: {v}" for k, v in sorted(result.sut.items()) if k not in ("name", "version"))
    header = (
        f"<tr><th>{escape(t['run'])}</th><td><code>{escape(result.run_id)}</code></td></tr>"
        f"<tr><th>{escape(t['sut'])}</th><td>{escape(str(result.sut.get('name', '')))}"
        f" {escape(str(result.sut.get('version', '')))}"
        f"<br><small>{escape(sut_details)}"
        "</small></td></tr>"
        f"<tr><th>{escape(t['suites'])}</th><td>{escape(', '.join(result.suites))}</td></tr>"
        f"<tr><th>{escape(t['couloir'])}</th><td>{escape(result.couloir or t['all'])}</td></tr>"
        f"<tr><th>{escape(t['dates'])}</th><td>{escape(result.started_at)} / {escape(result.finished_at)}</td></tr>"
        f"<tr><th>{escape(t['version'])}</th><td>{escape(result.harness_version)}</td></tr>"
    )
    body = [
        f"<h1>{escape(t['title'])}</h1><table>{header}</table>",
        f'<h2>{escape(t["summary"])}</h2><p class="verdict">{escape(t["verdict"][result.exit_code])}</p>',
        f"<table><tr>{summary}</tr></table>",
        f"<h2>{escape(t['by_domain'])}</h2><table><tr><th>{escape(t['domain'])}</th>"
        f"<th>{escape(t['criticite'])}</th>{outcome_heads}</tr>{domain_rows}</table>",
        f"<h2>{escape(t['requirements'])}</h2>",
        *(_requirement(r, t, known) for r in result.requirements),
        f"<h2>{escape(t['tests'])}</h2><table><tr><th>Test</th><th>{escape(t['requirements'])}</th>"
        f"<th>{escape(t['outcome'])}</th></tr>{test_rows}</table>",
        f"<h2>{escape(t['exchanges'])}</h2><table><tr><th>id</th><th>{escape(t['service'])}</th>"
        f"<th>{escape(t['operation'])}</th><th>{escape(t['outcome'])}</th><th>{escape(t['status'])}</th>"
        f"<th>{escape(t['client'])}</th></tr>{exchange_rows}</table>",
    ]
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{escape(t["title"])}</title>'
        f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>\n"
    )


def write(result: RunResult, report_dir: Path, lang: str = "fr") -> Path:
    return atomic_write(report_dir / "report.html", render(result, lang).encode("utf-8"))
