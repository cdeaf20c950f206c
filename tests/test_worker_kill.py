"""kill -9 of a worker in the middle of a burst of DMP submissions and MSSanté deliveries: nothing acknowledged is lost.

The burst and the checks are benchmarks/shared_host.py's (its kill -9 rounds), here one bounded
round on a test database. Why it would fail if a worker answered before committing: the kill
lands while clients are sending, on the worker holding the most of their connections, so
whatever that worker had acknowledged but not yet committed dies with it and is missing from
the store. The negative test makes that defect real (a worker whose DMP registry writes a
submission a few seconds after answering it) and shows the same check reporting the loss.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from benchmarks.shared_host import ServedHost, one_round

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc to find and kill the workers"),
]

# Acknowledged before committed: what the negative test gives every process of segur serve.
ANSWER_BEFORE_COMMIT = textwrap.dedent(
    """
    import threading

    from mock_services.dmp import registry

    _store = registry.DmpRegistry.store


    def _store_later(self, *args, **kwargs):
        threading.Timer(3.0, _store, (self, *args), kwargs).start()


    registry.DmpRegistry.store = _store_later
    """
)


def test_a_worker_killed_mid_burst_loses_nothing_it_acknowledged(tmp_path: Path, pg_url: str):
    host = ServedHost(pg_url, 2, tmp_path)
    try:
        result = one_round(host, 1, submissions=10, messages=10, clients=3)
    finally:
        err = host.stop()
    assert result.killed and "ended with status -9" in err
    assert result.acknowledged >= 7  # some before the kill (a third), the rest after it
    assert result.retries > 0  # the kill cut connections the clients were using
    assert result.lost == [] and result.found == result.acknowledged
    assert result.problems == [] and result.traces_verified == result.exchanges >= result.acknowledged


def test_the_check_reports_what_a_worker_acknowledged_before_committing(tmp_path: Path, pg_url: str):
    patch = tmp_path / "answer-before-commit"
    patch.mkdir()
    (patch / "sitecustomize.py").write_text(ANSWER_BEFORE_COMMIT, encoding="utf-8")
    path = os.pathsep.join(filter(None, [str(patch), os.environ.get("PYTHONPATH")]))
    host = ServedHost(pg_url, 2, tmp_path, env={"PYTHONPATH": path})
    try:
        # Both workers killed at once: every submission acknowledged in the 3 s before dies unwritten;
        # the check waits for the new workers' own late writes first, so only those are missing.
        result = one_round(host, 1, submissions=10, messages=4, clients=3, kill=host.kill_all, settle_s=4.0)
    finally:
        host.stop()
    assert result.lost and all(item.kind == "dmp" for item in result.lost)  # mail was untouched: all there
