"""The default of the harness's own test runs: two processes per core (tests/conftest.py), unless told otherwise."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from tests.conftest import default_workers, pytest_cmdline_main


def fake_config(*, xdist: bool = True, worker: bool = False, **options):
    values = {"numprocesses": None, "dist": "no", "usepdb": False, "collectonly": False, **options}
    config = SimpleNamespace(
        option=SimpleNamespace(**values),
        pluginmanager=SimpleNamespace(hasplugin=lambda name: xdist and name == "xdist"),
    )
    if worker:
        config.workerinput = {}
    return config


def test_a_plain_run_uses_two_processes_per_core_with_work_stealing():
    config = fake_config()
    pytest_cmdline_main(config)
    assert (config.option.numprocesses, config.option.dist) == (default_workers(), "worksteal")
    assert default_workers() == 2 * len(os.sched_getaffinity(0))


@pytest.mark.parametrize(
    "options",
    [{"numprocesses": 0}, {"numprocesses": 2, "dist": "load"}, {"usepdb": True}, {"collectonly": True}],
    ids=["-n 0", "-n 2 --dist load", "--pdb", "--collect-only"],
)
def test_what_the_command_line_says_wins(options):
    config = fake_config(**options)
    pytest_cmdline_main(config)
    expected = {"numprocesses": None, "dist": "no", **options}
    assert (config.option.numprocesses, config.option.dist) == (expected["numprocesses"], expected["dist"])


@pytest.mark.parametrize("kind", ["without xdist (-p no:xdist)", "in an xdist worker"])
def test_nothing_changes_without_the_plugin_or_in_a_worker(kind):
    config = fake_config(xdist=kind.startswith("in"), worker=kind.startswith("in"))
    pytest_cmdline_main(config)
    assert (config.option.numprocesses, config.option.dist) == (None, "no")
