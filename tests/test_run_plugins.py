"""`segur run` loads the harness's pytest plugin and pytest's own, never the plugins installed beside it:
one that reorders, reruns or times out tests would change a verdict."""

from __future__ import annotations

import importlib.metadata

import pytest

from harness.run.runner import RunOptions, pytest_arguments


def test_a_run_loads_none_of_the_pytest_plugins_installed_beside_it(tmp_path):
    installed = {entry.name for entry in importlib.metadata.entry_points(group="pytest11")} - {"segur"}
    assert {"xdist", "benchmark"} <= installed, "the test extras install pytest plugins to be left out"
    seen: dict[str, object] = {}

    class Probe:
        def pytest_configure(self, config: pytest.Config) -> None:
            seen["names"] = {name for name, _ in config.pluginmanager.list_name_plugin()}
            seen["segur"] = config.pluginmanager.has_plugin("harness.run.plugin")

    options = RunOptions(suites="cda", report_dir=tmp_path / "r", data_dir=tmp_path / "d")
    arguments = [*pytest_arguments(options, ["cda"]), "--collect-only"]
    assert pytest.main(arguments, plugins=[Probe()]) == pytest.ExitCode.OK
    assert seen["segur"] is True
    assert installed & seen["names"] == set()  # type: ignore[operator]
