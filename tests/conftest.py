"""Shared fixtures of the harness's own tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.core.paths import reference_dir

pytest_plugins = ["pytester"]


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Run on every core by default (pytest-xdist's ``-n auto --dist worksteal``).

    Set here rather than in ``addopts`` so that ``-p no:xdist`` still works (an ``-n`` in addopts
    is an unknown option without the plugin); an explicit ``-n``/``--dist`` (``-n 0``: one process)
    wins, and so do ``--pdb`` and ``--collect-only``, which want one process. This hook runs before
    xdist's own, which turns the option into workers; the workers themselves are left alone.
    """
    option = config.option
    if not config.pluginmanager.hasplugin("xdist") or hasattr(config, "workerinput"):
        return
    if option.numprocesses is not None or option.usepdb or option.collectonly:
        return
    option.numprocesses = "auto"
    if option.dist == "no":
        option.dist = "worksteal"


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    """A test IGC-Santé PKI of the module's own (servers' and clients' certificates)."""
    from harness.core import pki

    return pki.init_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def reference() -> Path:
    """The shared reference corpus; tests that need it skip with the reason when it is absent."""
    found = reference_dir()
    if found is None:
        pytest.skip("shared reference corpus not found: set SEGUR_REFERENCE_DIR or place it at ../shared/reference")
    return found
