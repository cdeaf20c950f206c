"""The PostgreSQL pass's choice of tests (tests/store_engine.py): what opens a store is found, what does not is left."""

from __future__ import annotations

import subprocess

import pytest
import store_engine

from harness.content.cda import validate_cda
from harness.core.recorder import ExchangeStore
from harness.protocols.cda_document import NotACda


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


@pytest.fixture
def opened_store():
    store = ExchangeStore()
    yield store
    store.close()


def test_a_store_opened_by_a_fixture(opened_store):
    assert opened_store.exchanges() == []


def test_a_document_that_is_no_cda_is_refused():
    with pytest.raises(NotACda, match="not an HL7 CDA ClinicalDocument"):
        validate_cda(b"<x/>")


def test_tests_are_classified_from_their_code_and_their_fixtures(request):
    items = {item.name: item for item in request.session.items if item.path == request.node.path}
    assert store_engine.item_uses_store(items["test_a_store_opened_by_a_fixture"]) is True
    content_only = "test_a_document_that_is_no_cda_is_refused"
    if store_engine.chosen_engine(request.config.getoption("--store-engine")) == "postgresql":
        assert content_only not in items  # deselected by the PostgreSQL pass
    else:
        assert store_engine.item_uses_store(items[content_only]) is False


def test_an_unknown_engine_is_refused():
    with pytest.raises(ValueError, match="expected one of sqlite, postgresql"):
        store_engine.chosen_engine("mysql")
    assert store_engine.chosen_engine(None) in store_engine.ENGINES
