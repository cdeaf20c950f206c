"""The stylesheet of report.html: status colours, layout, and the language switch that needs no JavaScript."""

from __future__ import annotations

from harness.evidence.reports.html_labels import LANGUAGES

# Status colours; tests/test_html_report.py looks for the pass and fail ones in a screenshot.
COLOURS = {
    "pass": "#1e7b34",
    "fail": "#b3261e",
    "skip": "#6b6b6b",
    "omit": "#8a8a8a",
    "error": "#6a1b9a",
    "incomplete": "#a15c00",
}

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


def style(default: str) -> str:
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
