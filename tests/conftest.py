"""Shared fixtures of the harness's own tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.core.paths import reference_dir

pytest_plugins = ["pytester"]


@pytest.fixture(scope="session")
def reference() -> Path:
    """The shared reference corpus; tests that need it skip with the reason when it is absent."""
    found = reference_dir()
    if found is None:
        pytest.skip("shared reference corpus not found: set SEGUR_REFERENCE_DIR or place it at ../shared/reference")
    return found
