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

LANGUAGES = ("fr", "en")

TEXT: dict[str, dict[str, Any]] = {
    "fr": {
        "title": "Rapport de conformité Ségur",
        "switch": "Langue",
        "run": "Exécution",
        "sut": "Système testé",
        "suites": "Suites",
        "couloir": "Couloir",
        "all": "tous",
        "version": "Version du harnais",
        "dates": "Début / fin",
        "summary": "Synthèse",
        "not_evaluated": "Non évaluées, critiques d'abord",
        "set_aside": "Écartées du verdict (attestation ou entrée facultative non fournie)",
        "allowed": "Lancé avec --allow-incomplete : le statut de sortie est 0 malgré un verdict incomplet.",
        "natures": {"EXIGENCE": "exigence", "PRÉCONISATION": "préconisation"},
        "by_domain": "Par domaine et criticité",
        "domain": "Domaine",
        "criticite": "Criticité",
        "requirements": "Exigences",
        "statement": "Énoncé",
        "nature": "Nature",
        "automation": "Évaluation",
        "automations": {"automated": "automatisée", "attestation": "attestation par un relecteur"},
        "official": "Référence officielle",
        "reason": "Motif",
        "findings": "Constats",
        "rule": "Règle",
        "message": "Message",
        "expected": "Attendu",
        "received": "Reçu",
        "location": "Emplacement",
        "line": "ligne",
        "evidence": "Preuve",
        "evidence_expected": "Preuve attendue",
        "unrecorded": "non enregistré",
        "to_attest": "À attester par le relecteur",
        "pending": "Exigences à attester par le relecteur",
        "attested": "Attestation du relecteur",
        "attach": "Preuve à joindre",
        "attach_default": "la preuve décrite par l'énoncé (capture d'écran, vidéo ou document)",
        "how": "Comment",
        "command": "segur attest DOSSIER {req} --reviewer NOM --verdict pass|fail --file FICHIER [--comment TEXTE]",
        "reviewer": "Relecteur",
        "attest_verdict": "Verdict",
        "date": "Date",
        "file": "Fichier",
        "sha256": "SHA-256",
        "comment": "Commentaire",
        "tests": "Tests",
        "exchanges": "Échanges enregistrés",
        "service": "Service",
        "operation": "Opération",
        "outcome": "Résultat",
        "status": "HTTP",
        "client": "Client TLS",
        "bodies": "Corps",
        "request": "requête",
        "response": "réponse",
        "trace": "Trace signée",
        "trace_title": "signature de l'échange par le service simulé",
        "unsigned": "non signé",
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
        "switch": "Language",
        "run": "Run",
        "sut": "System under test",
        "suites": "Suites",
        "couloir": "Couloir",
        "all": "all",
        "version": "Harness version",
        "dates": "Start / end",
        "summary": "Summary",
        "not_evaluated": "Not evaluated, critical first",
        "set_aside": "Set aside from the verdict (attestation, or an optional input not given)",
        "allowed": "Run with --allow-incomplete: the exit status is 0 although the verdict is incomplete.",
        "natures": {"EXIGENCE": "requirement", "PRÉCONISATION": "recommendation"},
        "by_domain": "By domain and criticality",
        "domain": "Domain",
        "criticite": "Criticality",
        "requirements": "Requirements",
        "statement": "Statement",
        "nature": "Nature",
        "automation": "Judged by",
        "automations": {"automated": "automated tests", "attestation": "a reviewer's attestation"},
        "official": "Official reference",
        "reason": "Reason",
        "findings": "Findings",
        "rule": "Rule",
        "message": "Message",
        "expected": "Expected",
        "received": "Received",
        "location": "Location",
        "line": "line",
        "evidence": "Evidence",
        "evidence_expected": "Expected evidence",
        "unrecorded": "not recorded",
        "to_attest": "To be attested by the reviewer",
        "pending": "Requirements awaiting a reviewer's attestation",
        "attested": "Reviewer's attestation",
        "attach": "Evidence to attach",
        "attach_default": "the proof the statement describes (screenshot, video or document)",
        "how": "How",
        "command": "segur attest DIR {req} --reviewer NAME --verdict pass|fail --file FILE [--comment TEXT]",
        "reviewer": "Reviewer",
        "attest_verdict": "Verdict",
        "date": "Date",
        "file": "File",
        "sha256": "SHA-256",
        "comment": "Comment",
        "tests": "Tests",
        "exchanges": "Recorded exchanges",
        "service": "Service",
        "operation": "Operation",
        "outcome": "Outcome",
        "status": "HTTP",
        "client": "TLS client",
        "bodies": "Bodies",
        "request": "request",
        "response": "response",
        "trace": "Signed trace",
        "trace_title": "the mock service's signature of the exchange",
        "unsigned": "unsigned",
        "outcomes": {"pass": "pass", "fail": "fail", "skip": "skipped", "omit": "not applicable", "error": "error"},
        "none": "none",
    },
}

# Status colours; tests/test_html_report.py looks for the pass and fail ones in a screenshot.
COLOURS = {
    "pass": "#1e7b34",
    "fail": "#b3261e",
    "skip": "#6b6b6b",
    "omit": "#8a8a8a",
    "error": "#6a1b9a",
    "incomplete": "#a15c00",
}
VERDICT_CLASS = {
    Verdict.CONFORME: "pass",
    Verdict.NON_CONFORME: "fail",
    Verdict.ERREUR: "error",
    Verdict.INCOMPLET: "incomplete",
}
COLON = {"fr": "\u00a0: ", "en": ": "}  # French puts a no-break space before a colon
TRACE_SHOWN = 12  # characters of a trace signature shown; the title attribute holds all of it

_SHA256 = re.compile(r"[0-9a-f]{64}")
_SAFE_FILE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")  # what segur attest stores: no path, no scheme
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # not valid in HTML text, even escaped

BASE_STYLE = """
body{font-family:system-ui,sans-serif;margin:0;color:#1d1d1f;background:#fff}
.page{margin:2rem;max-width:1200px}
h1{font-size:1.6rem;margin-top:0}h2{margin-top:2rem;border-bottom:1px solid #ccc}h3{margin:.3rem 0}
h4{margin:.2rem 0 .4rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.3rem .5rem;
text-align:left;vertical-align:top;font-size:.9rem}th{background:#f3f3f3}
code{font-size:.85rem;overflow-wrap:anywhere}
.badge{display:inline-block;padding:.1rem .6rem;border-radius:.6rem;color:#fff;font-weight:600}
.verdict{display:inline-block;font-size:1.4rem;font-weight:700;color:#fff;padding:.5rem 1.5rem;
border-radius:.4rem;margin:.3rem 0}
.counts td{font-size:1rem}
.req{border:1px solid #ddd;border-left-width:6px;border-radius:.4rem;padding:.5rem 1rem;margin:.8rem 0}
.meta{color:#444;font-size:.9rem}.statement{font-size:1rem}
.attest{border:2px dashed #a15c00;background:#fff6e5;border-radius:.4rem;padding:.5rem 1rem;margin:.5rem 0}
.attest h4{color:#7a4500}
.switch{float:right;font-size:.9rem}.switch label{display:inline-block;border:1px solid #1d1d1f;padding:.1rem .6rem;
margin-left:.2rem;cursor:pointer;border-radius:.3rem;background:#fff;color:#1d1d1f}
.lang-toggle{position:absolute;opacity:0;width:1px;height:1px;overflow:hidden}
@media print{.switch{display:none}}
"""


def _style(default: str) -> str:
    """The stylesheet, whose language rules show ``default`` unless the page is told otherwise.

    The radio switch outranks the URL fragment (two ids in its selectors against one), so a
    click in the page wins over ``report.html#en``. ``display:revert`` gives each element back
    its own display, which is why language classes go only on spans the author's CSS does not
    lay out (see :func:`_both`).
    """
    other = next(code for code in LANGUAGES if code != default)
    colours = "".join(
        f".{name}{{background:{colour}}}.req-{name}{{border-left-color:{colour}}}" for name, colour in COLOURS.items()
    )
    active = "background:#1d1d1f;color:#fff"
    inactive = "background:#fff;color:#1d1d1f"
    switch_rules = [f".{other}{{display:none}}", f".switch .sw-{default}{{{active}}}"]
    for code in LANGUAGES:
        hidden = next(c for c in LANGUAGES if c != code)
        for chosen in (f"#{code}:target", f"#lang-{code}:checked~#fr"):
            switch_rules += [
                f"{chosen} .{hidden}{{display:none}}",
                f"{chosen} .{code}{{display:revert}}",
                f"{chosen} .switch .sw-{code}{{{active}}}",
                f"{chosen} .switch .sw-{hidden}{{{inactive}}}",
            ]
        switch_rules.append(f"#lang-{code}:focus-visible~#fr .sw-{code}{{outline:2px solid #1a73e8}}")
    return BASE_STYLE + colours + "\n" + "\n".join(switch_rules) + "\n"


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
        f"<title>{_e(TEXT[lang]['title'])}</title><style>{_style(lang)}</style></head>"
        f'<body>{toggles}<div id="fr"><div id="en" class="page">{"".join(body)}</div></div></body></html>\n'
    )


def _requirement_link(req_id: str, requirement_ids: set[str]) -> str:
    if req_id in requirement_ids:
        return f'<a href="#r-{_e(req_id)}">{_e(req_id)}</a>'
    return _e(req_id)


def write(result: RunResult, report_dir: Path, lang: str = "fr") -> Path:
    return atomic_write(report_dir / "report.html", render(result, lang).encode("utf-8"))
