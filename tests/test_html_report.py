"""report.html: evidence links, attestation blocks, FR/EN switch, escaping, and a render in headless Chromium.

The Chromium tests drive Debian's ``/usr/bin/chromium`` on a ``file://`` URL (no server, no
network) and read its screenshot with the small PNG decoder below, so the check needs nothing
beyond the standard library. Without Chromium they are skipped, except in CI (``CI=true``),
where a missing browser is a failure: CI installs it and must run them.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import html as lxml_html

from harness.core.results import Finding, Outcome, RequirementResult, RunResult, SkipKind, TestRecord
from harness.evidence.reports import write_reports
from harness.evidence.reports.html import TRACE_SHOWN, render, write
from harness.evidence.reports.html_style import COLOURS

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_TIMEOUT = 60  # seconds; a render takes about two
WINDOW = (1280, 1600)
# Headless Chromium sometimes captures its last row of raster tiles (here from y=1524) a frame
# early under load: a strip of the same page then differs between two runs. Comparisons of whole
# renders stop above it.
STABLE_ROWS = 1500

PASS_EXCHANGE = "1" * 32
FAIL_EXCHANGE = "2" * 32
HOSTILE = "<script>alert(1)</script>"
SCREEN_CAPTURE_EVIDENCE = "Capture d'écran de l'écran patient montrant le statut « identité qualifiée »"


def exchange(exchange_id: str, request: str, response: str, trace: str) -> dict[str, object]:
    """An exchange as Exchange.brief() gives it to reports."""
    return {
        "id": exchange_id,
        "service": "insi",
        "session_key": "k",
        "operation": "rechercherInsAvecTraitsIdentite",
        "outcome": "ok",
        "http_status": 200,
        "client_subject": "CN=INSI-AUTO",
        "started_at": 1.0,
        "duration": 0.01,
        "summary": {},
        "request_sha256": request * 64,
        "response_sha256": response * 64,
        "trace": trace,
    }


def requirement(
    req_id: str,
    outcome: Outcome,
    *,
    automation: str = "automated",
    criticite: str = "MAJOR",
    findings: list[Finding] | None = None,
    evidence: list[str] | None = None,
    evidence_expected: str = "",
    evidence_expected_en: str = "",
    attestation: dict[str, object] | None = None,
    reason: str = "",
    reason_fr: str = "",
    skip_kind: SkipKind | None = None,
    blocked_by: list[str] | None = None,
) -> RequirementResult:
    return RequirementResult(
        id=req_id,
        statement=f"Énoncé de {req_id} : le DPI interroge INSi avec les traits d'identité.",
        statement_en=f"Statement of {req_id}: the DPI queries INSi with the identity traits.",
        domain="INS",
        criticite=criticite,
        nature="EXIGENCE",
        official_ref=f"SEGUR-{req_id}",
        automation=automation,
        outcome=outcome,
        findings=findings or [],
        evidence=evidence or [],
        reason=reason,
        reason_fr=reason_fr,
        skip_kind=skip_kind,
        blocked_by=blocked_by or [],
        evidence_expected=evidence_expected,
        evidence_expected_en=evidence_expected_en,
        attestation=attestation,
    )


def build_result() -> RunResult:
    """One requirement of each kind the page must show: pass, fail with a finding, attestations."""
    finding = Finding(
        "insi.traits-format",
        f"trait Sexe is badly formatted {HOSTILE}",
        requirement="INS-2",
        location="/soap:Envelope/soap:Body/TraitsIdentite/Sexe",
        expected="M or F",
        received="1",
        message_fr=f"trait Sexe mal formé {HOSTILE}",
        expected_fr="M ou F",
        evidence=(FAIL_EXCHANGE,),
        line=12,
    )
    recorded = {
        "run_id": "run-html",
        "requirement": "INS-16",
        "reviewer": "Camille Relectrice",
        "verdict": "pass",
        "comment": "statut affiché en tête du dossier",
        "file": "0123456789ab-ecran-ins.png",
        "sha256": "c" * 64,
        "at": "2026-11-22T11:00:00+00:00",
    }
    requirements = [
        requirement("INS-1", Outcome.PASS, evidence=[PASS_EXCHANGE]),
        requirement("INS-2", Outcome.FAIL, criticite="CRITICAL", findings=[finding], evidence=[FAIL_EXCHANGE]),
        requirement(
            "INS-5",
            Outcome.SKIP,
            criticite="CRITICAL",
            skip_kind=SkipKind.BLOCKED,
            blocked_by=["INS-2"],
            reason="not evaluable because of INS-2: the product's request got no usable answer",
            reason_fr="non évaluable à cause de INS-2 : la requête du produit n'a pas obtenu de réponse exploitable",
        ),
        requirement(
            "INS-15",
            Outcome.SKIP,
            automation="attestation",
            evidence_expected=SCREEN_CAPTURE_EVIDENCE,
            evidence_expected_en="Screenshot of the patient screen showing the status 'qualified identity'",
            reason="attestation: a reviewer checks this with the evidence listed",
            reason_fr="attestation : un relecteur le vérifie sur les preuves indiquées",
            skip_kind=SkipKind.ATTESTATION,
        ),
        requirement(
            "INS-16",
            Outcome.PASS,
            automation="attestation",
            evidence_expected="Vidéo de la saisie",
            evidence_expected_en="Video of the data entry",
            attestation=recorded,
            reason="attestation by Camille Relectrice",
            reason_fr="attestation de Camille Relectrice",
        ),
    ]
    tests = [
        TestRecord(
            nodeid=f"ins/test_x.py::{name}",
            name=name,
            description=f"description de {name}",
            suite="ins",
            service="insi",
            requirements=[req],
            outcome=outcome,
            findings=[finding] if outcome is Outcome.FAIL else [],
            evidence=[evidence],
        )
        for name, req, outcome, evidence in (
            ("test_pass", "INS-1", Outcome.PASS, PASS_EXCHANGE),
            ("test_fail", "INS-2", Outcome.FAIL, FAIL_EXCHANGE),
        )
    ]
    return RunResult(
        run_id="run-html",
        harness_version="0.1.0",
        started_at="2026-11-22T10:00:00+00:00",
        finished_at="2026-11-22T10:00:02+00:00",
        duration=2.0,
        sut={"name": "Mon DPI", "version": "1", "kind": "command", "actions": ["insi.search_by_traits"]},
        suites=["ins"],
        couloir=None,
        tests=tests,
        requirements=requirements,
        exchanges=[
            exchange(PASS_EXCHANGE, "a", "b", "MEUCIQD" + "x" * 80),
            exchange(FAIL_EXCHANGE, "d", "e", ""),
        ],
    )


@pytest.fixture
def result() -> RunResult:
    return build_result()


@pytest.fixture
def page(result):
    return lxml_html.fromstring(render(result))


def texts(element) -> str:
    return " ".join(element.text_content().split())


# -- the HTML -----------------------------------------------------------------------------


def test_exchange_rows_are_anchors_with_body_links_and_short_trace(result, page):
    for recorded in result.exchanges:
        row = page.get_element_by_id(f"x-{recorded['id']}")
        hrefs = [a.get("href") for a in row.iter("a")]
        assert hrefs == [
            f"evidence/blobs/{recorded['request_sha256']}",
            f"evidence/blobs/{recorded['response_sha256']}",
        ]
        assert "requête" in texts(row) and "réponse" in texts(row)
    signed = page.get_element_by_id(f"x-{PASS_EXCHANGE}").find_class("trace")[0]
    assert signed.get("title") == result.exchanges[0]["trace"]
    assert texts(signed) == result.exchanges[0]["trace"][:TRACE_SHOWN] + "…"
    assert "non signé" in texts(page.get_element_by_id(f"x-{FAIL_EXCHANGE}").find_class("trace")[0])


def test_every_fragment_link_lands_on_an_element(page):
    ids = {element.get("id") for element in page.iter() if element.get("id")}
    fragments = [a.get("href")[1:] for a in page.iter("a") if a.get("href", "").startswith("#")]
    assert fragments and set(fragments) <= ids
    failed = page.get_element_by_id("r-INS-2")
    finding_links = {a.get("href") for a in failed.find_class("findings")[0].iter("a")}
    assert finding_links == {f"#x-{FAIL_EXCHANGE}"}
    assert f"#x-{FAIL_EXCHANGE}" in {a.get("href") for a in failed.find_class("evidence")[0].iter("a")}
    assert f"#x-{PASS_EXCHANGE}" in {a.get("href") for a in page.get_element_by_id("r-INS-1").iter("a")}


def test_requirement_shows_statement_criticite_nature_reference_and_finding_cells(page):
    failed = page.get_element_by_id("r-INS-2")
    text = texts(failed)
    for expected in ("Énoncé de INS-2", "Critique", "exigence", "SEGUR-INS-2", "non conforme", "trait Sexe mal formé"):
        assert expected in text
    row = failed.find_class("finding")[0]
    cells = {cell.get("class"): texts(cell) for cell in row.iter("td")}
    french = {cell.get("class"): " ".join(texts(s) for s in cell.find_class("fr")) for cell in row.iter("td")}
    assert cells["rule"] == "insi.traits-format"
    assert (french["expected"], french["received"]) == ("M ou F", "1")
    assert "M or F" in cells["expected"], "the English value is in the page for the English view"
    assert cells["location"].startswith("/soap:Envelope/soap:Body/TraitsIdentite/Sexe, ligne")
    assert cells["location"].endswith(" 12")
    assert "conforme" in texts(page.get_element_by_id("r-INS-1"))


def test_pending_attestation_lists_the_evidence_to_attach_and_the_command(page):
    block = page.get_element_by_id("r-INS-15").find_class("attest")[0]
    text = texts(block)
    assert "À attester par le relecteur" in text
    assert SCREEN_CAPTURE_EVIDENCE in text
    assert "segur attest DOSSIER INS-15 --reviewer NOM --verdict pass|fail --file FICHIER" in text
    assert not block.find_class("attestation"), "nothing recorded yet"
    pending = page.get_element_by_id("summary").find_class("pending")[0]
    assert [a.get("href") for a in pending.iter("a")] == ["#r-INS-15"]


def test_recorded_attestation_shows_reviewer_verdict_date_file_and_digest(page):
    block = page.get_element_by_id("r-INS-16").find_class("attest")[0]
    assert "Attestation du relecteur" in texts(block)
    table = block.find_class("attestation")[0]
    cells = {cell.get("class"): cell for cell in table.iter("td")}
    assert texts(cells["reviewer"]) == "Camille Relectrice"
    assert "conforme" in texts(cells["attest_verdict"])
    assert texts(cells["date"]) == "2026-11-22T11:00:00+00:00"
    assert [a.get("href") for a in cells["file"].iter("a")] == ["attestations/0123456789ab-ecran-ins.png"]
    assert texts(cells["sha256"]) == "c" * 64
    assert texts(cells["comment"]) == "statut affiché en tête du dossier"
    assert "Vidéo de la saisie" in texts(block)


def test_hostile_strings_are_text_never_markup_or_links(result):
    result.requirements[0].statement = '<img src="http://evil.example/x.png" onerror="alert(1)">'
    result.requirements[3].attestation = {
        "reviewer": "<b onmouseover=alert(1)>x</b>",
        "verdict": "<i>pass</i>",
        "file": "javascript:alert(1)",
        "sha256": "../../etc/passwd",
        "at": "\x07",
        "comment": HOSTILE,
    }
    result.exchanges[0]["id"] = 'x" onclick="alert(1)'
    result.exchanges[0]["request_sha256"] = "../../../etc/passwd"
    result.exchanges[0]["response_sha256"] = "https://evil.example/"
    text = render(result)
    page = lxml_html.fromstring(text)
    assert HOSTILE not in text and "&lt;script&gt;" in text
    assert not page.xpath("//script | //img | //b | //i")
    assert not [e for e in page.iter() if any(name.startswith("on") for name in e.attrib)]
    assert not [a for a in page.iter("a") if "evil" in a.get("href", "") or "javascript" in a.get("href", "")]
    assert not [a for a in page.iter("a") if "passwd" in a.get("href", "")]
    assert "\x07" not in text


def test_both_languages_are_in_the_page_and_lang_picks_the_default(result):
    for lang, hidden in (("fr", "en"), ("en", "fr")):
        text = render(result, lang)
        page = lxml_html.fromstring(text)
        assert page.get("lang") == lang
        french, english = page.find_class("fr"), page.find_class("en")
        assert len(french) == len(english) > 50
        labels = " ".join(texts(e) for e in french), " ".join(texts(e) for e in english)
        assert "Non conforme" in labels[0] and "Preuve à joindre" in labels[0] and "Attendu" in labels[0]
        assert "Not conformant" in labels[1] and "Evidence to attach" in labels[1] and "Expected" in labels[1]
        style = page.find(".//style").text
        assert f"\n.{hidden}{{display:none}}" in style  # the default language is the one shown without a choice
        assert "#en:target .fr{display:none}" in style and "#lang-fr:checked~#fr .en{display:none}" in style
        assert {i.get("id") for i in page.iter("input")} == {"lang-fr", "lang-en"}
        assert page.get_element_by_id("fr") is not None and page.get_element_by_id("en") is not None
    assert not lxml_html.fromstring(render(result)).xpath("//script"), "the switch needs no JavaScript"


def test_summary_has_verdict_counts_and_domain_criticite_table(page):
    summary = page.get_element_by_id("summary")
    verdict = summary.find_class("verdict")[0]
    assert "fail" in verdict.get("class").split() and texts(verdict.find_class("fr")[0]) == "Non conforme"
    rows = [
        [texts(cell.find_class("fr")[0]) if cell.find_class("fr") else texts(cell) for cell in row]
        for row in summary.find_class("domains")[0].iter("tr")
    ]
    assert rows[0] == ["Domaine", "Criticité", "conforme", "non conforme", "non évalué", "non applicable", "erreur"]
    assert rows[1:] == [["INS", "Critique", "0", "1", "1", "0", "0"], ["INS", "Majeure", "2", "0", "1", "0", "0"]]


def test_same_result_gives_same_bytes(result, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = write(result, tmp_path / "a").read_bytes()
    second = write(build_result(), tmp_path / "b").read_bytes()
    assert first == second


def test_page_loads_nothing_from_elsewhere(result, tmp_path):
    text = write_reports(result, tmp_path, formats=("html",))["html"].read_text(encoding="utf-8")
    page = lxml_html.fromstring(text)
    targets = [e.get(name) for e in page.iter() for name in ("src", "href", "action", "data") if e.get(name)]
    assert targets
    for target in targets:
        assert not re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:|//", target), target  # relative paths and fragments only
        assert target.startswith(("#", "evidence/blobs/", "attestations/")), target
    style = page.find(".//style").text
    assert "url(" not in style and "@import" not in style and "@font-face" not in style
    csp = page.xpath("//meta[@http-equiv='Content-Security-Policy']/@content")
    assert csp == ["default-src 'none'; style-src 'unsafe-inline'"]


# -- headless Chromium --------------------------------------------------------------------


@dataclass(frozen=True)
class Screenshot:
    width: int
    height: int
    pixels: bytes  # RGB, row after row

    def colours(self) -> Counter[tuple[int, int, int]]:
        return Counter(zip(self.pixels[0::3], self.pixels[1::3], self.pixels[2::3], strict=True))

    def top(self, rows: int = STABLE_ROWS) -> bytes:
        return self.pixels[: rows * self.width * 3]

    def pixels_differing_from(self, other: Screenshot) -> int:
        mine, theirs = self.top(), other.top()
        return sum(1 for i in range(0, len(mine), 3) if mine[i : i + 3] != theirs[i : i + 3])


@dataclass(frozen=True)
class Rendered:
    dom: str
    shots: dict[str, Screenshot]


def chromium_path() -> Path:
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium and run the report render tests")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium): report not checked in a browser")
    return CHROMIUM


def run_chromium(workdir: Path, url: str, *action: str) -> bytes:
    """One headless Chromium run on a fresh profile, talking to no one (no sync, updates, QUIC...)."""
    profile = Path(tempfile.mkdtemp(prefix="profile-", dir=workdir))
    command = [
        str(chromium_path()),
        "--headless",
        "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--hide-scrollbars",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        *action,
        url,
    ]
    try:
        completed = subprocess.run(command, capture_output=True, timeout=CHROMIUM_TIMEOUT, check=False)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert completed.returncode == 0, completed.stderr.decode(errors="replace")[-2000:]
    return completed.stdout


def take_screenshot(workdir: Path, url: str, name: str) -> Screenshot:
    png = workdir / f"{name}.png"
    run_chromium(workdir, url, f"--screenshot={png}")
    return decode_png(png.read_bytes())


def decode_png(data: bytes) -> Screenshot:
    """An 8-bit truecolour PNG (colour type 2 or 6), non-interlaced, as RGB pixels."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    offset, compressed, header = 8, bytearray(), b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        chunk = data[offset + 8 : offset + 8 + length]
        offset += 12 + length  # length, type, data, CRC
        if kind == b"IHDR":
            header = chunk
        elif kind == b"IDAT":
            compressed += chunk
        elif kind == b"IEND":
            break
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, interlace) == (8, 0) and colour_type in (2, 6), (depth, colour_type, interlace)
    channels = 3 if colour_type == 2 else 4
    stride = width * channels
    raw = zlib.decompress(bytes(compressed))
    previous = bytes(stride)
    rows = []
    for row in range(height):
        start = row * (stride + 1)
        line = unfilter(raw[start], raw[start + 1 : start + 1 + stride], previous, channels)
        rows.append(line if channels == 3 else drop_alpha(line))
        previous = line
    return Screenshot(width, height, b"".join(rows))


def drop_alpha(rgba: bytes) -> bytes:
    rgb = bytearray(len(rgba) // 4 * 3)
    for channel in range(3):
        rgb[channel::3] = rgba[channel::4]
    return bytes(rgb)


def add_bytes(left: bytes, right: bytes) -> bytes:
    """Byte-wise sum modulo 256 of two rows, computed on two big integers.

    Carries must not cross bytes: add the low 7 bits (which cannot overflow a byte), then put
    the top bit back with an XOR. This keeps the "up" filter, the commonest in Chromium's
    screenshots, from costing a Python loop per byte.
    """
    size = len(left)
    low, high = int.from_bytes(b"\x7f" * size, "big"), int.from_bytes(b"\x80" * size, "big")
    x, y = int.from_bytes(left, "big"), int.from_bytes(right, "big")
    return (((x & low) + (y & low)) ^ ((x ^ y) & high)).to_bytes(size, "big")


def unfilter(kind: int, filtered: bytes, previous: bytes, channels: int) -> bytes:
    """One scanline with its PNG filter (0 none, 1 sub, 2 up, 3 average, 4 Paeth) undone."""
    if kind == 0:
        return filtered
    if kind == 2:
        return add_bytes(filtered, previous)
    line = bytearray(filtered)
    if kind == 1:
        for i in range(channels, len(line)):
            line[i] = (line[i] + line[i - channels]) & 0xFF
    elif kind == 3:
        for i in range(len(line)):
            left = line[i - channels] if i >= channels else 0
            line[i] = (line[i] + (left + previous[i]) // 2) & 0xFF
    elif kind == 4:
        for i in range(len(line)):
            left = line[i - channels] if i >= channels else 0
            up, up_left = previous[i], previous[i - channels] if i >= channels else 0
            if up == up_left:  # flat areas, most of a page: the predictor is "left", no arithmetic needed
                predictor = left
            else:
                to_left, to_up, to_up_left = abs(up - up_left), abs(left - up_left), abs(left + up - 2 * up_left)
                if to_left <= to_up and to_left <= to_up_left:
                    predictor = left
                else:
                    predictor = up if to_up <= to_up_left else up_left
            line[i] = (line[i] + predictor) & 0xFF
    else:
        raise AssertionError(f"unknown PNG filter {kind}")
    return bytes(line)


def encode_png(width: int, height: int, pixels: bytes, channels: int) -> bytes:
    """A PNG whose rows cycle through the five filters, computed forwards as the PNG spec states them."""

    def paeth_forward(a: int, b: int, c: int) -> int:
        p = a + b - c
        pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
        return a if pa <= pb and pa <= pc else b if pb <= pc else c

    stride = width * channels
    raw, previous = bytearray(), bytes(stride)
    for row in range(height):
        line = pixels[row * stride : (row + 1) * stride]
        kind = row % 5
        out = bytearray([kind])
        for i, value in enumerate(line):
            a = line[i - channels] if i >= channels else 0
            b, c = previous[i], previous[i - channels] if i >= channels else 0
            predictor = (0, a, b, (a + b) // 2, paeth_forward(a, b, c))[kind]
            out.append((value - predictor) & 0xFF)
        raw += out
        previous = line

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2 if channels == 3 else 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(raw))) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("channels", [3, 4])
def test_png_decoder_undoes_every_filter(channels):
    width, height = 7, 10  # every filter twice, with wrap-arounds and an odd width
    pixels = bytes((x * 37 + y * 101 + (x * y) ** 2) & 0xFF for y in range(height) for x in range(width * channels))
    shot = decode_png(encode_png(width, height, pixels, channels))
    expected = pixels if channels == 3 else bytes(b for i, b in enumerate(pixels) if i % 4 != 3)
    assert (shot.width, shot.height, shot.pixels) == (width, height, expected)


def test_missing_chromium_is_skipped_locally_but_fails_in_ci(monkeypatch, tmp_path):
    monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        chromium_path()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must install"):
        chromium_path()


def rgb(colour: str) -> tuple[int, int, int]:
    value = int(colour.lstrip("#"), 16)
    return value >> 16, (value >> 8) & 0xFF, value & 0xFF


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Rendered:
    """The report seen by Chromium: its DOM, and screenshots in French, switched to English, in English.

    The runs go in parallel (each Chromium mostly waits on its own start-up). "radio-en" is the
    French page with the EN radio checked, the state a reader's click on "EN" leaves.
    """
    chromium_path()
    workdir = tmp_path_factory.mktemp("chromium")
    for folder in ("fr", "en", "radio-en"):
        (workdir / folder).mkdir()
    french = write(build_result(), workdir / "fr")
    english = write(build_result(), workdir / "en", lang="en")
    clicked = workdir / "radio-en" / "report.html"
    clicked.write_text(
        french.read_text(encoding="utf-8").replace('id="lang-en"', 'id="lang-en" checked', 1), encoding="utf-8"
    )
    views = {
        "fr": french.as_uri(),
        "fr#en": french.as_uri() + "#en",
        "en": english.as_uri(),
        "radio-en": clicked.as_uri(),
    }
    with ThreadPoolExecutor(max_workers=3) as pool:
        dom = pool.submit(run_chromium, workdir, french.as_uri(), "--dump-dom")
        shots = {
            name: pool.submit(take_screenshot, workdir, url, name.replace("#", "-")) for name, url in views.items()
        }
        return Rendered(dom.result().decode("utf-8"), {name: shot.result() for name, shot in shots.items()})


def test_chromium_renders_the_french_report_with_status_colours(rendered):
    assert "Non conforme" in rendered.dom and "À attester par le relecteur" in rendered.dom
    shot = rendered.shots["fr"]
    assert (shot.width, shot.height) == WINDOW
    colours = shot.colours()
    assert len(colours) > 50, "a blank or nearly blank page"
    # The verdict banner and the "non conforme" badges are the fail colour; the pass badges the pass one.
    assert colours[rgb(COLOURS["fail"])] > 5000, colours.most_common(5)
    assert colours[rgb(COLOURS["pass"])] > 1000, colours.most_common(5)


def test_chromium_switches_to_english_without_javascript(rendered):
    french, switched = rendered.shots["fr"], rendered.shots["fr#en"]
    assert switched.pixels_differing_from(french) > 10_000, "report.html#en did not change the page"
    # Switched by the URL or by the EN radio, the French page looks exactly like the page written in English.
    assert switched.top() == rendered.shots["en"].top()
    assert rendered.shots["radio-en"].top() == rendered.shots["en"].top()


# -- one language per view ----------------------------------------------------------------
# Frequent function words and the report's own vocabulary: a handful of these in a view means
# text of the other language leaked into it. Names and codes (ids, rules, XPaths) contain none.
FRENCH_WORDS = {
    "le",
    "la",
    "les",
    "des",
    "du",
    "de",
    "est",
    "une",
    "et",
    "à",
    "aucun",
    "exigence",
    "exigences",
    "énoncé",
    "attendu",
    "reçu",
    "motif",
    "preuve",
    "relecteur",
    "requête",
    "réponse",
    "critique",
    "majeure",
    "évalué",
    "évaluées",
    "conforme",
    "non",
    "constats",
    "cause",
    "selon",
}
ENGLISH_WORDS = {
    "the",
    "is",
    "of",
    "and",
    "to",
    "by",
    "with",
    "expected",
    "received",
    "reason",
    "evidence",
    "reviewer",
    "request",
    "response",
    "critical",
    "major",
    "evaluated",
    "conformant",
    "not",
    "findings",
    "because",
    "statement",
}
# What people wrote, shown as they wrote it in both views: the reviewer's name and comment, the SUT's name.
USER_TEXT = ("Camille Relectrice", "statut affiché en tête du dossier", "Mon DPI")
VISIBLE_TEXT_SCRIPT = (
    "<script>addEventListener('load', () => document.documentElement.setAttribute('data-visible',"
    " document.body.innerText))</script></body>"
)


def other_language_words(text: str, lang: str) -> set[str]:
    for user_text in USER_TEXT:
        text = text.replace(user_text, " ")
    text = re.sub(r"--[\w-]+", " ", text)  # command-line options are names, like "--reviewer"
    words = {w.lower() for w in re.findall(r"[^\W\d_]+", text)}
    return words & (ENGLISH_WORDS if lang == "fr" else FRENCH_WORDS)


def test_the_word_lists_tell_the_languages_apart():
    french, english = render(build_result(), "fr"), render(build_result(), "en")
    both = " ".join(texts(e) for e in lxml_html.fromstring(french).iter("body"))
    assert len(other_language_words(both, "fr")) > 5 and len(other_language_words(both, "en")) > 5
    assert not other_language_words("Exigences : 5 conformes, la requête du produit", "fr")
    assert not other_language_words("Requirements: 5 pass, the product's request", "en")
    assert french != english


@pytest.fixture(scope="module")
def visible_texts(tmp_path_factory) -> dict[str, str]:
    """What a reader sees of the page (``innerText``, which leaves out hidden spans), per view.

    Chromium runs a copy of the page with a script that writes the visible text into an attribute
    of the document, which ``--dump-dom`` then prints; the real page carries no script at all.
    """
    chromium_path()
    workdir = tmp_path_factory.mktemp("visible")
    pages = {}
    for lang in ("fr", "en"):
        (workdir / lang).mkdir()
        text = render(build_result(), lang)
        text = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", text)
        pages[lang] = workdir / lang / "report.html"
        pages[lang].write_text(text.replace("</body>", VISIBLE_TEXT_SCRIPT, 1), encoding="utf-8")
    views = {"fr": pages["fr"].as_uri(), "fr#en": pages["fr"].as_uri() + "#en", "en": pages["en"].as_uri()}
    with ThreadPoolExecutor(max_workers=3) as pool:
        dumps = {name: pool.submit(run_chromium, workdir, url, "--dump-dom") for name, url in views.items()}
        return {
            name: lxml_html.fromstring(dump.result().decode("utf-8")).get("data-visible") or ""
            for name, dump in dumps.items()
        }


@pytest.mark.parametrize("view, lang", [("fr", "fr"), ("en", "en"), ("fr#en", "en")])
def test_each_view_shows_one_language_apart_from_names_and_codes(visible_texts, view, lang):
    shown = visible_texts[view]
    assert len(shown) > 1000, "the page rendered almost nothing"
    assert not other_language_words(shown, lang), shown
    expected = (
        ("Non conforme", "trait Sexe mal formé", "Critique")
        if lang == "fr"
        else (
            "Not conformant",
            "trait Sexe is badly formatted",
            "Critical",
        )
    )
    for text in expected:
        assert text in shown
