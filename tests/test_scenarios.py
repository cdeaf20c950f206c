"""Per-session scenarios: validation and isolation."""

from __future__ import annotations

import pytest

from mock_services.common import Scenario, ScenarioStore


def test_unknown_keys_and_faults_are_refused_not_ignored():
    with pytest.raises(ValueError, match="unknown scenario keys"):
        Scenario.from_dict({"fualt": "technical"})
    with pytest.raises(ValueError, match="unknown fault"):
        Scenario.from_dict({"fault": "explode"})
    with pytest.raises(ValueError, match="latency_ms"):
        Scenario(latency_ms=-1)


def test_sessions_are_isolated_and_cleared():
    store = ScenarioStore()
    store.update("a", fault="technical")
    assert store.get("a").fault == "technical"
    assert store.get("b") == Scenario()
    store.clear("a")
    assert store.get("a") == Scenario()
