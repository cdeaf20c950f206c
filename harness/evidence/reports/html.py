"""``report.html``: one self-contained page, in French by default, with an FR/EN switch inside it.

Every label is written in both languages (``<span class="fr">``/``<span class="en">``) and CSS
shows one: the ``lang`` argument picks the default, a radio switch in the page or the URL
fragment ``#en``/``#fr`` picks the other, all without JavaScript (a reviewer may open the page
where scripts are blocked). Statements, findings, skip reasons and criticité are given in both
languages as well (``harness.core.wording`` holds the shared words); only names and codes (requirement
ids, rules, XPaths, identifiers) read the same in both.

Links point into the evidence pack next to the page (``evidence/blobs/<sha256>``,
``attestations/<file>``) or inside it (``#x-<exchange id>``, ``#r-<requirement id>``): the page
loads nothing from anywhere, and its Content-Security-Policy forbids it to.

Everything is escaped; the same result always gives the same bytes.
"""

from __future__ import annotations

import re
from collections import Counter
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

from harness.core import wording
from harness.core.results import Finding, Outcome, RequirementResult, RunResult, Verdict
from harness.evidence.reports.files import atomic_write
from harness.evidence.reports.html_labels import COLON, LANGUAGES, TEXT
from harness.evidence.reports.html_style import style

VERDICT_CLASS = {
    Verdict.CONFORME: "pass",
    Verdict.NON_CONFORME: "fail",
    Verdict.ERREUR: "error",
    Verdict.INCOMPLET: "incomplete",
}
TRACE_SHOWN = 12  # characters of a trace signature shown; the title attribute holds all of it

_SHA256 = re.compile(r"[0-9a-f]{64}")
_SAFE_FILE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")  # what segur attest stores: no path, no scheme
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # not valid in HTML text, even escaped


def _e(value: object) -> str:
    """Text for the page: escaped (quotes included) and without control characters."""
    return escape(_CONTROL.sub("\ufffd", "" if value is None else str(value)))


def _both(texts: dict[str, str]) -> str:
    """One label in every language; the stylesheet shows one."""
    return "".join(f'<span class="{code}" lang="{code}">{_e(texts[code])}</span>' for code in LANGUAGES)


def _label(key: str, before: str = "", after: str = "") -> str:
    # Punctuation around a label goes inside its spans: text of the page's language next to a
    # label in the other would split the line into runs Chromium kerns apart, so a page switched
    # to English would not look exactly like the page written in English.
    return _both({code: before + TEXT[code][key] + after for code in LANGUAGES})


def _field(key: str) -> str:
    """A label introducing a value, with each language's colon ("Motif : ", "Reason: ")."""
    return _both({code: TEXT[code][key] + COLON[code] for code in LANGUAGES})


def _outcome_label(outcome: str) -> str:
    return _both({code: TEXT[code]["outcomes"][outcome] for code in LANGUAGES})


def _criticite(code: str) -> str:
    return _both({lang: wording.criticite(code, lang) for lang in LANGUAGES})


def _badge(outcome: Outcome) -> str:
    return f'<span class="badge {outcome.value}">{_outcome_label(outcome.value)}</span>'


def _exchange_link(exchange_id: str, known: set[str]) -> str:
    if exchange_id in known:
        return f'<a href="#x-{_e(exchange_id)}"><code>{_e(exchange_id[:8])}</code></a>'
    # Not among the recorded exchanges (a report from an older run): named, not linked to nothing.
    return f"<code>{_e(exchange_id[:8])}</code> {_label('unrecorded', '(', ')')}"


def _evidence_links(ids: tuple[str, ...] | list[str], known: set[str]) -> str:
    return ", ".join(_exchange_link(i, known) for i in ids)


def _location(finding: Finding) -> str:
    text = _e(finding.location or "")
    if finding.line:
        text += f"{', ' if text else ''}{_label('line', after=' ')}{_e(finding.line)}"
    return text


def _findings_table(findings: list[Finding], known: set[str]) -> str:
    head = "".join(f"<th>{_label(k)}</th>" for k in ("rule", "message", "expected", "received", "location", "evidence"))
    rows = []
    for f in findings:
        cells = "".join(
            f'<td class="{name}">{value}</td>'
            for name, value in (
                ("rule", f"<code>{_e(f.rule)}</code>"),
                ("message", _both({code: f.text(code)[0] for code in LANGUAGES})),
                ("expected", _both({code: f.text(code)[1] or "" for code in LANGUAGES})),
                ("received", _both({code: f.text(code)[2] or "" for code in LANGUAGES})),
                ("location", _location(f)),
                ("evidence", _evidence_links(f.evidence, known)),
            )
        )
        rows.append(f'<tr class="finding">{cells}</tr>')
    return f'<h4>{_label("findings")}</h4><table class="findings"><tr>{head}</tr>{"".join(rows)}</table>'


def _attestation_file_link(name: object) -> str:
    text = "" if name is None else str(name)
    if _SAFE_FILE.fullmatch(text):
        return f'<a href="attestations/{quote(text)}"><code>{_e(text)}</code></a>'
    return f"<code>{_e(text)}</code>"  # not a name segur attest would store: shown, never followed


def _attestation(req: RequirementResult) -> str:
    """What the reviewer must attach and how, and the verdict once recorded."""
    recorded = req.attestation if isinstance(req.attestation, dict) else None
    commands = {code: TEXT[code]["command"].format(req=req.id) for code in LANGUAGES}
    attach = {code: req.evidence_expected_in(code) for code in LANGUAGES} if req.evidence_expected else None
    parts = [
        f'<div class="attest {"attest-recorded" if recorded else "attest-pending"}">',
        f"<h4>{_label('attested' if recorded else 'to_attest')}</h4>",
        f'<p class="attach"><strong>{_field("attach")}</strong>',
        _both(attach) if attach else _label("attach_default"),
        "</p>",
        f'<p class="how"><strong>{_field("how")}</strong><code>{_both(commands)}</code></p>',
    ]
    if recorded:
        verdict = str(recorded.get("verdict", ""))
        shown_verdict = _badge(Outcome(verdict)) if verdict in ("pass", "fail") else _e(verdict)
        rows = (
            ("reviewer", _e(recorded.get("reviewer"))),
            ("attest_verdict", shown_verdict),
            ("date", _e(recorded.get("at"))),
            ("file", _attestation_file_link(recorded.get("file"))),
            ("sha256", f"<code>{_e(recorded.get('sha256'))}</code>"),
            ("comment", _e(recorded.get("comment"))),
        )
        cells = "".join(f'<tr><th>{_label(key)}</th><td class="{key}">{value}</td></tr>' for key, value in rows)
        parts.append(f'<table class="attestation">{cells}</table>')
    parts.append("</div>")
    return "".join(parts)


def _requirement(req: RequirementResult, known: set[str]) -> str:
    automation_label = (
        _both({code: TEXT[code]["automations"][req.automation] for code in LANGUAGES})
        if req.automation in TEXT["fr"]["automations"]
        else _e(req.automation)
    )
    nature = (
        _both({code: TEXT[code]["natures"][req.nature] for code in LANGUAGES})
        if req.nature in TEXT["fr"]["natures"]
        else _e(req.nature)
    )
    meta = [
        f"{_field('criticite')}<strong>{_criticite(req.criticite)}</strong>",
        f"{_field('nature')}{nature}",
        f"{_field('domain')}{_e(req.domain)}",
        f"{_field('automation')}{automation_label}",
    ]
    if req.official_ref:
        meta.append(f"{_field('official')}{_e(req.official_ref)}")
    parts = [
        f'<section class="req req-{req.outcome.value}" id="r-{_e(req.id)}">',
        f"<h3><code>{_e(req.id)}</code> {_badge(req.outcome)}</h3>",
        f'<p class="statement">{_both({code: req.localized(code)[0] for code in LANGUAGES})}</p>',
        f'<p class="meta">{" · ".join(meta)}</p>',
    ]
    if req.reason:
        reasons = {code: req.localized(code)[1] for code in LANGUAGES}
        parts.append(f'<p class="reason">{_field("reason")}{_both(reasons)}</p>')
    if req.findings:
        parts.append(_findings_table(req.findings, known))
    if req.evidence:
        parts.append(f'<p class="evidence">{_field("evidence")}{_evidence_links(req.evidence, known)}</p>')
    if req.automation == "attestation":
        parts.append(_attestation(req))
    elif req.evidence_expected:
        expected = _both({code: req.evidence_expected_in(code) for code in LANGUAGES})
        parts.append(f'<p class="evidence-expected">{_field("evidence_expected")}{expected}</p>')
    parts.append("</section>")
    return "".join(parts)


def _blob_link(digest: object, label: str) -> str:
    text = "" if digest is None else str(digest)
    if not _SHA256.fullmatch(text):
        return ""  # no body recorded under a name we can trust: no link
    return f'<a href="evidence/blobs/{text}" title="SHA-256 {text}">{_label(label)}</a>'


def _exchange_row(exchange: dict[str, Any]) -> str:
    exchange_id = str(exchange.get("id", ""))
    cells = "".join(
        f"<td>{_e(exchange.get(k) or '')}</td>"
        for k in ("service", "operation", "outcome", "http_status", "client_subject")
    )
    bodies = " · ".join(
        link
        for link in (
            _blob_link(exchange.get("request_sha256"), "request"),
            _blob_link(exchange.get("response_sha256"), "response"),
        )
        if link
    )
    trace = str(exchange.get("trace") or "")
    trace_cell = (
        f'<td class="trace" title="{_e(trace)}"><code>{_e(trace[:TRACE_SHOWN])}</code>…</td>'
        if trace
        else f'<td class="trace">{_label("unsigned")}</td>'
    )
    return (
        f'<tr id="x-{_e(exchange_id)}"><td><code>{_e(exchange_id)}</code></td>{cells}'
        f'<td class="bodies">{bodies}</td>{trace_cell}</tr>'
    )


def _summary(result: RunResult) -> str:
    verdict = {code: wording.VERDICT[code][result.verdict] for code in LANGUAGES}
    counts = "".join(f"<td>{_badge(Outcome(k))} {n}</td>" for k, n in result.counts().items())
    outcome_heads = "".join(f"<th>{_outcome_label(o.value)}</th>" for o in Outcome)
    tally = Counter((r.domain, r.criticite, r.outcome) for r in result.requirements)
    domain_rows = "".join(
        f"<tr><td>{_e(domain)}</td><td>{_criticite(criticite)}</td>"
        + "".join(f"<td>{tally[domain, criticite, o]}</td>" for o in Outcome)
        + "</tr>"
        for domain, criticite in sorted({(r.domain, r.criticite) for r in result.requirements})
    )
    pending = [r for r in result.requirements if r.automation == "attestation" and not isinstance(r.attestation, dict)]
    pending_line = (
        f'<p class="pending">{_field("pending")}{len(pending)} — '
        + ", ".join(f'<a href="#r-{_e(r.id)}"><code>{_e(r.id)}</code></a>' for r in pending)
        + "</p>"
        if pending
        else ""
    )
    return (
        f'<section id="summary"><h2>{_label("summary")}</h2>'
        f'<p class="verdict {VERDICT_CLASS[result.verdict]}">{_both(verdict)}</p>{_unjudged(result)}'
        f'<table class="counts"><tr>{counts}</tr></table>{pending_line}'
        f'<h3>{_label("by_domain")}</h3><table class="domains"><tr><th>{_label("domain")}</th>'
        f"<th>{_label('criticite')}</th>{outcome_heads}</tr>{domain_rows}</table></section>"
    )


def _unjudged(result: RunResult) -> str:
    """Why the verdict is not "conforme" although nothing failed: what was not evaluated, and what was set aside."""
    parts = []
    if result.allow_incomplete and result.verdict is Verdict.INCOMPLET:
        parts.append(f'<p class="allowed">{_label("allowed")}</p>')
    not_evaluated = result.not_evaluated()
    if not_evaluated:
        items = "".join(
            f'<li><a href="#r-{_e(r.id)}"><code>{_e(r.id)}</code></a> {_criticite(r.criticite)} — '
            f"{_both({code: r.localized(code)[1] for code in LANGUAGES})}</li>"
            for r in not_evaluated
        )
        parts.append(f'<h3>{_field("not_evaluated")}{len(not_evaluated)}</h3><ul class="not-evaluated">{items}</ul>')
    set_aside = result.set_aside()
    if set_aside:
        kinds = {
            r.id: {code: wording.SKIP_KIND[code][r.skip_kind] if r.skip_kind else "" for code in LANGUAGES}
            for r in set_aside
        }
        listed = ", ".join(
            f'<a href="#r-{_e(r.id)}"><code>{_e(r.id)}</code></a> ({_both(kinds[r.id])})' for r in set_aside
        )
        parts.append(f'<p class="set-aside">{_field("set_aside")}{listed}</p>')
    return "".join(parts)


def _header(result: RunResult) -> str:
    couloir = _e(result.couloir) if result.couloir else _label("all")
    rows = (
        ("run", f"<code>{_e(result.run_id)}</code>"),
        ("sut", _both({code: wording.describe_sut(result.sut, code) for code in LANGUAGES})),
        ("suites", _e(", ".join(result.suites))),
        ("couloir", couloir),
        ("dates", f"{_e(result.started_at)} / {_e(result.finished_at)}"),
        ("version", _e(result.harness_version)),
    )
    switch = (
        f'<nav class="switch" aria-label="Langue / Language">{_field("switch")}'
        + "".join(
            f'<label for="lang-{code}" class="sw-{code}" lang="{code}">{code.upper()}</label>' for code in LANGUAGES
        )
        + "</nav>"
    )
    table = "".join(f"<tr><th>{_label(key)}</th><td>{value}</td></tr>" for key, value in rows)
    return f"<header>{switch}<h1>{_label('title')}</h1><table>{table}</table></header>"


def render(result: RunResult, lang: str = "fr") -> str:
    if lang not in TEXT:
        raise ValueError(f"report language must be one of {sorted(TEXT)}, not {lang!r}")
    known = {str(e.get("id")) for e in result.exchanges}
    requirement_ids = {r.id for r in result.requirements}
    test_rows = "".join(
        # A test's description is its docstring, written in French: the English view shows the id only.
        f"<tr><td><code>{_e(r.nodeid)}</code><br><small>{_both({'fr': r.description, 'en': ''})}</small></td>"
        f"<td>{', '.join(_requirement_link(req, requirement_ids) for req in r.requirements)}</td>"
        f"<td>{_badge(r.outcome)}</td></tr>"
        for r in result.tests
    )
    exchange_heads = "".join(
        f"<th>{_label(k)}</th>" for k in ("service", "operation", "outcome", "status", "client", "bodies", "trace")
    )
    body = [
        _header(result),
        _summary(result),
        f'<section id="requirements"><h2>{_label("requirements")}</h2>',
        *(_requirement(r, known) for r in result.requirements),
        "</section>",
        f'<section id="tests"><h2>{_label("tests")}</h2><table><tr><th>Test</th><th>{_label("requirements")}</th>'
        f"<th>{_label('outcome')}</th></tr>{test_rows}</table></section>",
        f'<section id="exchanges"><h2>{_label("exchanges")}</h2>'
        f'<p class="meta">{_field("trace")}{_label("trace_title")}</p>'
        f'<table class="exchanges"><tr><th>id</th>{exchange_heads}</tr>'
        f"{''.join(_exchange_row(e) for e in result.exchanges)}</table></section>",
    ]
    # The radios come first so that "radio:checked ~ #fr" can reach the whole page; the two nested
    # wrappers give "#fr" and "#en" something to target, so report.html#en opens in English.
    toggles = "".join(
        f'<input type="radio" name="lang" id="lang-{code}" class="lang-toggle" aria-label="{code.upper()}">'
        for code in LANGUAGES
    )
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(TEXT[lang]['title'])}</title><style>{style(lang)}</style></head>"
        f'<body>{toggles}<div id="fr"><div id="en" class="page">{"".join(body)}</div></div></body></html>\n'
    )


def _requirement_link(req_id: str, requirement_ids: set[str]) -> str:
    if req_id in requirement_ids:
        return f'<a href="#r-{_e(req_id)}">{_e(req_id)}</a>'
    return _e(req_id)


def write(result: RunResult, report_dir: Path, lang: str = "fr") -> Path:
    return atomic_write(report_dir / "report.html", render(result, lang).encode("utf-8"))
