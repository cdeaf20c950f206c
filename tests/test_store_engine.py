"""The PostgreSQL pass's choice of tests (tests/store_engine.py): what opens a store is found, what does not is left."""

from __future__ import annotations

import subprocess

import pytest
import store_engine

from harness.content.cda import validate_cda
from harness.core.recorder import ExchangeStore


def _content_only() -> object:
    return validate_cda(b"<x/>")


def _opens_a_store() -> object:
    return ExchangeStore()


def _through_a_helper() -> object:
    return _opens_a_store()


def _imports_the_cli_inside() -> object:
    from harness.cli import main

    return main


def _starts_a_process() -> object:
    return subprocess.run(["true"], check=False)


@pytest.mark.parametrize(
    ("code", "uses"),
    [
        (_content_only, False),
        (_opens_a_store, True),
        (_through_a_helper, True),
        (_imports_the_cli_inside, True),
        (_starts_a_process, True),
    ],
)
def test_code_that_may_open_a_store_is_found(code, uses):
    assert store_engine.code_uses_store(code) is uses


def test_this_module_s_tests_are_marked_from_their_code(request):
    # This test names nothing that opens a store: not marked. The one above names the classifier, whose
    # module opens PostgreSQL databases: marked (the rule is coarse on the safe side).
    assert request.node.get_closest_marker("uses_store") is None
    marked = {item.originalname for item in request.session.items if item.get_closest_marker("uses_store")}
    assert "test_code_that_may_open_a_store_is_found" in marked


def test_an_unknown_engine_is_refused():
    with pytest.raises(ValueError, match="expected one of sqlite, postgresql"):
        store_engine.chosen_engine("mysql")
    assert store_engine.chosen_engine(None) in store_engine.ENGINES
