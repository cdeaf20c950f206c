"""Every finding and every catalog row can be read in French and in English.

(a) an AST scan: each ``Finding(...)`` built in harness/, mock_services/ or suites/ passes
``message_fr``, or is built inside a helper that takes the French as a parameter, and then every
call of that helper passes it; (b) every catalog row has its English statement and evidence;
(c) a word-frequency heuristic: the English columns read as English, the French ones as French;
(d) a failing verifier's finding reads French in French and differs from its English.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from harness.core import ins
from harness.core.catalog import default_catalog
from harness.core.recorder import Exchange

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("harness", "mock_services", "suites")
# Modules left out of the scan, each with why: none today.
NOT_YET_SCANNED: tuple[str, ...] = ()
FRENCH_KEYWORD = "message_fr"
# What carries a message into a Finding: Finding itself, and the FHIR engine's issue (its
# to_finding() hands message_fr on).
CARRIERS = {"Finding", "FhirIssue"}


@dataclass(frozen=True)
class Parameter:
    name: str
    position: int | None  # index among the positional parameters (self excluded), None if keyword-only
    optional: bool  # has a default


@dataclass(frozen=True)
class Helper:
    """A function building a Finding whose ``message_fr`` is made from some of its own parameters."""

    name: str
    parameters: tuple[Parameter, ...]
    french: tuple[Parameter, ...]  # the parameters message_fr is made from


def _python_files(root: Path) -> list[Path]:
    files = []
    for package in SCANNED:
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root).as_posix()
            if not relative.startswith(NOT_YET_SCANNED):
                files.append(path)
    return files


def _called_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _passes(call: ast.Call, keyword: str, position: int | None = None) -> bool:
    """Whether ``call`` gives ``keyword`` a value other than None (by name or by position)."""
    for item in call.keywords:
        if item.arg == keyword:
            return not (isinstance(item.value, ast.Constant) and item.value.value is None)
    if position is not None and len(call.args) > position:
        return not any(isinstance(arg, ast.Starred) for arg in call.args[: position + 1])
    return False


def _enclosing_functions(tree: ast.AST) -> dict[ast.Call, ast.FunctionDef | ast.AsyncFunctionDef]:
    """Each call mapped to the innermost function holding it."""
    owner: dict[ast.Call, ast.FunctionDef | ast.AsyncFunctionDef] = {}

    def visit(node: ast.AST, function: ast.FunctionDef | ast.AsyncFunctionDef | None) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else function
            if isinstance(child, ast.Call) and inner is not None:
                owner[child] = inner
            visit(child, inner)

    visit(tree, None)
    return owner


def _parameters(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[Parameter]:
    args = function.args
    positional = args.posonlyargs + args.args
    if positional and positional[0].arg in ("self", "cls"):
        positional = positional[1:]
    first_default = len(positional) - len(args.defaults)
    found = [Parameter(a.arg, i, i >= first_default) for i, a in enumerate(positional)]
    found += [Parameter(a.arg, None, d is not None) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)]
    return found


def _helper_of(call: ast.Call, function: ast.FunctionDef | ast.AsyncFunctionDef | None) -> Helper | None:
    """The helper ``function`` is, when ``call`` makes its message_fr from some of its parameters."""
    if function is None:
        return None
    value = next((k.value for k in call.keywords if k.arg == FRENCH_KEYWORD), None)
    if value is None:
        return None
    names = {node.id for node in ast.walk(value) if isinstance(node, ast.Name)}
    parameters = _parameters(function)
    french = tuple(p for p in parameters if p.name in names)
    if not french:
        return None
    return Helper(function.name, tuple(parameters), french)


def _could_call(call: ast.Call, helper: Helper) -> bool:
    """Whether ``call`` binds to the helper's signature once its French is left aside: helpers are
    found by name, and this tells a helper's call from a same-named one (``set.add``, ``Message.walk``)."""
    names = {p.name for p in helper.parameters}
    if any(k.arg is not None and k.arg not in names for k in call.keywords):
        return False
    if any(isinstance(arg, ast.Starred) for arg in call.args):
        return True
    if len(call.args) > sum(p.position is not None for p in helper.parameters):
        return False
    return all(
        _passes(call, p.name, p.position) for p in helper.parameters if not p.optional and p not in helper.french
    )


def _helper_call_offends(call: ast.Call, helper: Helper) -> bool:
    """A required French parameter not passed, or an optional one left out while another optional
    parameter (an English wording, most likely) is passed."""
    if any(k.arg is None for k in call.keywords):
        return False  # **kwargs forwarded by a wrapper: the wrapper's own callers are what count
    if not _could_call(call, helper):
        return False
    passes_optional = any(_passes(call, p.name, p.position) for p in helper.parameters if p.optional)
    return any(not _passes(call, p.name, p.position) for p in helper.french if not p.optional or passes_optional)


def find_offenders(root: Path = ROOT) -> list[str]:
    """``file:line`` of each Finding (or FhirIssue) built without French, and of each helper call not passing it."""
    trees = {path: ast.parse(path.read_text(encoding="utf-8"), filename=str(path)) for path in _python_files(root)}
    offenders: list[str] = []
    helpers: dict[str, Helper] = {}
    for path, tree in trees.items():
        owner = _enclosing_functions(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or _called_name(node) not in CARRIERS:
                continue
            if not _passes(node, FRENCH_KEYWORD):
                offenders.append(f"{path.relative_to(root).as_posix()}:{node.lineno}")
                continue
            helper = _helper_of(node, owner.get(node))
            if helper is not None:
                helpers[helper.name] = helper
    # Helpers are matched by name over the whole tree: a same-named function elsewhere is checked
    # too, which can only be stricter.
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            helper = helpers.get(_called_name(node) or "")
            if helper is None:
                continue
            if _helper_call_offends(node, helper):
                offenders.append(f"{path.relative_to(root).as_posix()}:{node.lineno} ({helper.name})")
    return sorted(offenders)


def test_every_finding_is_built_with_its_french():
    offenders = find_offenders()
    assert not offenders, "Finding built without message_fr:\n" + "\n".join(offenders)


# -- (b), (c): the catalog in both languages ------------------------------------------------------


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Frequent words found in one language only (tool words, and the verbs the catalog uses most).
ENGLISH_WORDS = _word_set(
    """the a an of and or is are be with to in for its it by on not no each every which that this when
    from as must one any all than at has have was were who whose their they can may only into under
    without after before other recorded request requests answer answers sent received sends receives
    software product keeps kept shows reads writes"""
)
FRENCH_WORDS = _word_set(
    """le la les l un une des du de d et ou est sont être avec à au aux pour par sur dans ne pas n
    chaque qui que son sa ses leur leurs tout toute tous toutes ce cette ces se s lorsqu lorsque quand
    sans après avant autre entre enregistré enregistrée enregistrés enregistrées requête requêtes
    réponse réponses envoyé envoyée reçu reçue logiciel produit conserve affiche lit écrit"""
)
WORD = re.compile(r"[a-zà-öø-ÿœ]+", re.IGNORECASE)
ACCENT = re.compile(r"[àâçéèêëîïôûùüÿœ]")


def language_scores(text: str) -> tuple[int, int]:
    """(French, English) evidence in ``text``: marker words of each, and accented words for French."""
    words = [w.lower() for w in WORD.findall(text.replace("’", "'"))]
    french = sum(w in FRENCH_WORDS for w in words) + sum(bool(ACCENT.search(w)) for w in words)
    return french, sum(w in ENGLISH_WORDS for w in words)


def reads_as(text: str) -> str | None:
    french, english = language_scores(text)
    return "fr" if french > english else "en" if english > french else None


def missing_english(requirements) -> list[str]:
    return [
        f"{r.id}: {name}"
        for r in requirements
        for name in ("statement_en", "evidence_en")
        if not getattr(r, name).strip()
    ]


def catalog_language_problems(requirements) -> list[str]:
    problems = []
    for requirement in requirements:
        for name, language in (
            ("statement", "fr"),
            ("evidence", "fr"),
            ("statement_en", "en"),
            ("evidence_en", "en"),
        ):
            text = getattr(requirement, name)
            if text.strip() and reads_as(text) != language:
                problems.append(f"{requirement.id}: {name} does not read as {language}: {text!r}")
    return problems


def test_every_catalog_row_has_its_english():
    empty = missing_english(default_catalog())
    assert not empty, "catalog rows without English: " + ", ".join(empty)


def test_catalog_columns_read_in_their_language():
    problems = catalog_language_problems(default_catalog())
    assert not problems, "\n".join(problems)


def test_the_language_heuristic_tells_the_languages_apart():
    assert reads_as("Le logiciel conserve l'identité renvoyée par INSi.") == "fr"
    assert reads_as("The software keeps the identity INSi returned.") == "en"
    assert reads_as("INSi") is None  # no evidence either way: the catalog check then fails


# -- (d): a failing verifier speaks French in French ----------------------------------------------


def _authorize_without_state_or_nonce() -> Exchange:
    return Exchange(
        service="psc",
        session_key="k",
        operation="authorize",
        outcome="ok",
        request_body=b"",
        response_body=b"",
        started_at=0.0,
        finished_at=0.0,
        request_meta={"method": "GET", "query": "response_type=code&client_id=c&state=short"},
        id="e1",
    )


def failing_findings():
    from harness.run.verify import fhir, psc

    yield "psc", psc.check_state_and_nonce([_authorize_without_state_or_nonce()])
    patient = {"resourceType": "Patient", "identifier": [{"system": f"urn:oid:{ins.OID_INS_NIR}", "value": "x"}]}
    yield "fhir", fhir.no_ins_without_qualification(patient, "PROV")


def test_a_failing_verifier_speaks_french_in_french():
    for name, findings in failing_findings():
        assert findings, f"{name}: the verifier should have failed"
        for finding in findings:
            french, english = finding.text("fr")[0], finding.text("en")[0]
            assert french != english, f"{name}: {finding.rule} has no French message"
            assert reads_as(french) == "fr", f"{name}: {french!r} does not read as French"
            assert reads_as(english) == "en", f"{name}: {english!r} does not read as English"


def test_every_vihf_problem_code_has_its_french():
    from harness.protocols.vihf import PROBLEM_CODES
    from harness.run.verify.dmp.transport import VIHF_PROBLEM_FR

    assert set(PROBLEM_CODES) <= set(VIHF_PROBLEM_FR), set(PROBLEM_CODES) - set(VIHF_PROBLEM_FR)
