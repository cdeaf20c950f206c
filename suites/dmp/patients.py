"""Test patients of the DMP mock (fixtures/dmp/patients.toml), as SUT parameters."""

from __future__ import annotations

from functools import cache
from typing import Any

from mock_services.dmp.patients import DmpPatient, PatientBase


@cache
def _base() -> PatientBase:
    return PatientBase.load()


def patient(key: str) -> DmpPatient:
    return _base()[key]


def identity(key: str) -> dict[str, Any]:
    """The ``patient`` parameter of the dmp.* actions for this test patient."""
    return patient(key).identity()
