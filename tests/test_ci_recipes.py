"""The CI recipes in docs/ci/ call the real ``segur`` command line: every option they use parses."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harness.cli import build_parser

RECIPES = sorted((Path(__file__).resolve().parent.parent / "docs" / "ci").glob("*.yml"))
SHELL_KEYS = {"run", "script", "before_script", "after_script"}
# A segur call ends where the shell takes over again.
SHELL_OPERATOR = re.compile(r"\s(?:\|\||&&|\||>|2>|&)(?:\s|$)|;")


def shell_texts(node: object) -> Iterator[str]:
    """Every shell script of a workflow: GitHub's ``run`` steps, GitLab's ``script`` lists."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in SHELL_KEYS and isinstance(value, str):
                yield value
            elif key in SHELL_KEYS and isinstance(value, list):
                yield from (v for v in value if isinstance(v, str))
            else:
                yield from shell_texts(value)
    elif isinstance(node, list):
        for value in node:
            yield from shell_texts(value)


def segur_calls(script: str) -> list[list[str]]:
    """The argument lists of the ``segur`` calls in a shell script (after ``segur``)."""
    calls = []
    for line in script.replace("\\\n", " ").splitlines():
        match = re.search(r"(?:^|[\s;(])(?:\S*/)?segur\s+(.*)$", line.strip())
        if match is None:
            continue
        command = SHELL_OPERATOR.split(" " + match.group(1) + " ", maxsplit=1)[0]
        calls.append(shlex.split(command))
    return calls


def parse_error(argv: list[str]) -> str | None:
    """None when the real ``segur`` parser accepts ``argv``, else what it printed."""
    printed = io.StringIO()
    try:
        with contextlib.redirect_stderr(printed), contextlib.redirect_stdout(printed):
            build_parser().parse_args(argv)
    except SystemExit as exc:
        return printed.getvalue().strip() or f"exit {exc.code}"
    return None


def test_there_are_recipes_for_github_and_gitlab():
    assert {p.name for p in RECIPES} >= {"github-actions.yml", "gitlab-ci.yml"}


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_every_segur_command_of_a_recipe_parses(recipe):
    document = yaml.safe_load(recipe.read_text(encoding="utf-8"))
    calls = [call for script in shell_texts(document) for call in segur_calls(script)]
    subcommands = {tuple(c[:2]) if c[0] == "report" else (c[0],) for c in calls}
    assert {("run",), ("report", "diff"), ("report", "verify")} <= subcommands, calls
    problems = {shlex.join(call): parse_error(call) for call in calls}
    assert {k: v for k, v in problems.items() if v} == {}


def test_a_bogus_option_is_caught():
    script = 'segur run --sut "http://127.0.0.1:8089/segur" --suites ins || status=$?\n'
    (call,) = segur_calls(script)
    assert call == ["run", "--sut", "http://127.0.0.1:8089/segur", "--suites", "ins"]
    assert "unrecognized arguments: --suites" in (parse_error(call) or "")
    assert parse_error(["report", "diff", "--strickt", "a", "b"])
    assert parse_error(["run", "--sut", "x", "--suite", "ins"]) is None


def test_segur_calls_are_found_in_continued_lines_and_after_paths():
    script = (
        "status=0\n.segur-venv/bin/segur report verify \\\n  reports/x > out.txt\nif true; then segur sut actions; fi\n"
    )
    assert segur_calls(script) == [["report", "verify", "reports/x"], ["sut", "actions"]]


DEPLOY = Path(__file__).resolve().parent.parent / "docs" / "deploy"


def test_the_systemd_unit_and_the_container_recipe_start_a_serve_that_parses():
    unit = (DEPLOY / "segur-serve.service").read_text(encoding="utf-8")
    (exec_start,) = [line.removeprefix("ExecStart=") for line in unit.splitlines() if line.startswith("ExecStart=")]
    (unit_call,) = segur_calls(exec_start)
    containerfile = (DEPLOY / "Containerfile").read_text(encoding="utf-8")
    (cmd,) = [line.removeprefix("CMD ") for line in containerfile.splitlines() if line.startswith("CMD ")]
    container_call = json.loads(cmd)
    assert container_call[0] == "segur"
    for call in (unit_call, container_call[1:]):
        assert call[0] == "serve" and "--ports" in call and "--workers" in call
        assert parse_error(call) is None, call
    # and a parse error would show: the same call with a misspelt option
    assert parse_error([*unit_call, "--portz", "insi=1"])
