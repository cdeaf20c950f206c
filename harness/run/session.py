"""What the segur pytest plugin keeps during one session: its state object and the stash keys.

The hooks (``harness.run.plugin``) and the fixtures (``harness.run.fixtures``) share these; the
runner reads the finished :class:`SegurSession` result through ``session_state_key``.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.core.catalog import Catalog, load_catalog
from harness.core.results import RunResult, TestRecord
from harness.core.signing import Signer
from harness.evidence import pack as evidence
from harness.run.replay import InteractionLog, Replayer

if TYPE_CHECKING:
    from harness.run.environment import HarnessEnvironment

OMIT_PREFIX = "omit: "
session_state_key = pytest.StashKey["SegurSession"]()
evidence_key = pytest.StashKey[list[str]]()
interactions_key = pytest.StashKey[InteractionLog]()
session_key_stash = pytest.StashKey[str]()
replayer_key = pytest.StashKey[Replayer]()


@dataclass
class SegurSession:
    """What the plugin gathers during one pytest session."""

    config: pytest.Config
    records: dict[str, TestRecord] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    result: RunResult | None = None
    sut_description: dict[str, Any] | None = None
    environment: HarnessEnvironment | None = None
    exchanges: list[dict[str, Any]] = field(default_factory=list)
    signer: Signer | None = None  # the evidence-pack key of this run's PKI, kept past the environment
    interactions: dict[str, dict[str, Any]] = field(default_factory=dict)  # nodeid -> evidence/tests.json entry
    _catalog: Catalog | None = None
    _replay: dict[str, Any] | None = None

    @property
    def report_dir(self) -> Path | None:
        option = self.config.getoption("--segur-report-dir")
        return Path(option) if option else None

    @property
    def replay_dir(self) -> Path | None:
        option = self.config.getoption("--segur-replay")
        return Path(option) if option else None

    def recorded_tests(self) -> dict[str, Any]:
        """The pack's evidence/tests.json, when replaying."""
        if self._replay is None:
            assert self.replay_dir is not None
            self._replay = json.loads((self.replay_dir / evidence.TESTS).read_text(encoding="utf-8"))
        return self._replay

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            option = self.config.getoption("--segur-catalog")
            self._catalog = load_catalog(Path(option) if option else None)
        return self._catalog
