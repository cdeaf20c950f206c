"""SUT adapters without servers: the command adapter's contract, the reference defects, load_sut."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.run.sut import SutConfigError, SutContext, SutFailure, load_sut
from harness.run.sut.base import ActionNotSupported
from harness.run.sut.command import load_command_sut
from harness.run.sut.manual import ManualSut
from tests.conftest import sut_context

ECHO = (
    "import json, os, sys; p = json.loads(os.environ['SEGUR_PARAMS']); "
    "print('log line'); print(json.dumps({'outcome': 'found', 'identity': None, 'argv': sys.argv[1:], "
    "'url': os.environ['SEGUR_INSI_URL'], 'action': os.environ['SEGUR_ACTION'], 'params': p}))"
)


@pytest.fixture
def context(tmp_path: Path) -> SutContext:
    return sut_context(tmp_path, "k1")


def write_sut(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "sut.toml"
    path.write_text('[sut]\nname = "demo"\n' + body, encoding="utf-8")
    return path


def action(command: str, extra: str = "") -> str:
    return f'[actions."insi.search_by_traits"]\ncommand = {command}\n{extra}'


def test_command_receives_parameters_safely_and_answers_json(tmp_path, context):
    path = write_sut(tmp_path, action(json.dumps(["{segur_python}", "-c", ECHO, "{nom_naissance}", "{prenoms}"])))
    result = load_command_sut(path).perform(
        "insi.search_by_traits", {"nom_naissance": "X; rm -rf /", "prenoms": ["A", "B"]}, context
    )
    assert result.data["argv"] == ["X; rm -rf /", "A B"]  # one argument each, never shell syntax
    assert result.data["url"] == context.endpoints["insi"]
    assert result.data["action"] == "insi.search_by_traits"
    assert result.exit_status == 0 and "log line" in result.stdout


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("import sys; sys.exit(3)", "exit status 3"),
        ("print('not json')", "must be a JSON object"),
        ('print(\'{"outcome": "maybe"}\')', "outcome 'maybe'"),
        ("import time; time.sleep(5)", "did not finish"),
    ],
)
def test_command_failures_are_product_failures_with_the_reason(tmp_path, context, script, message):
    path = write_sut(tmp_path, action(json.dumps(["{segur_python}", "-c", script]), "timeout = 0.5"))
    with pytest.raises(SutFailure, match=message):
        load_command_sut(path).perform("insi.search_by_traits", {}, context)


def test_unmapped_action_is_not_supported(tmp_path, context):
    path = write_sut(tmp_path, "")
    with pytest.raises(ActionNotSupported):
        load_command_sut(path).perform("insi.verify_identity", {}, context)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[actions."insi.nope"]\ncommand = "x"\n', "unknown action"),
        ('[actions."insi.search_by_traits"]\ncommnd = "x"\n', "needs 'command'"),
        ("not toml [", "not valid TOML"),
    ],
)
def test_bad_sut_files_are_usage_errors(tmp_path, body, message):
    with pytest.raises(SutConfigError, match=message):
        load_command_sut(write_sut(tmp_path, body))


def test_unknown_placeholder_names_the_parameters(tmp_path, context):
    path = write_sut(tmp_path, action('["echo", "{nom}"]'))
    with pytest.raises(SutConfigError, match=r"placeholder \{nom\}"):
        load_command_sut(path).perform("insi.search_by_traits", {"nom_naissance": "X"}, context)


def test_load_sut_rejects_unknown_defects_with_a_suggestion():
    with pytest.raises(SutConfigError, match="did you mean ignores_cr02"):
        load_sut("reference", frozenset({"ignore_cr02"}))


def test_load_sut_rejects_defects_for_other_suts_and_bad_paths():
    with pytest.raises(SutConfigError):
        load_sut("manual", frozenset({"ignores_cr02"}))
    with pytest.raises(SutConfigError, match="does not exist"):
        load_sut("missing.toml")
    with pytest.raises(SutConfigError, match="reference"):
        load_sut("something")


def test_manual_sut_without_a_terminal_is_skipped_not_failed(context, tmp_path):
    stdin = (tmp_path / "in.txt").open("w+")
    with pytest.raises(ActionNotSupported, match="terminal"):
        ManualSut(stdin=stdin).perform("insi.search_by_traits", {}, context)
    stdin.close()
