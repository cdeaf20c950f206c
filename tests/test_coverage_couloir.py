"""`segur requirements --couloir X` on a catalog where one requirement is for DPI only.

test_requirements_couloir.py checks the selection on the real catalog; these tests pin the
coverage shown for the selected requirements, and that the default output is unchanged.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json

import pytest

from harness import cli
from harness.core import coverage
from harness.core.catalog import COULOIRS, Catalog, load_catalog
from harness.core.paths import suites_dir


@pytest.fixture
def dpi_only_catalog(monkeypatch) -> Catalog:
    """The real catalog with every requirement for every couloir but INS-01 (automated, cited by suite
    tests), for DPI only."""
    every = tuple(sorted(COULOIRS))
    requirements = [
        dataclasses.replace(req, couloirs=("DPI",) if req.id == "INS-01" else every) for req in load_catalog()
    ]
    catalog = Catalog(requirements)
    monkeypatch.setattr(coverage, "default_catalog", lambda: catalog)
    return catalog


def requirements(capsys, *argv: str) -> tuple[int, str, str]:
    status = cli.main(["requirements", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_a_dpi_only_requirement_is_listed_for_dpi_with_its_coverage(capsys, dpi_only_catalog):
    status, out, _ = requirements(capsys, "--couloir", "DPI", "--format", "json")
    rows = {row["id"]: row for row in json.loads(out)["requirements"]}
    assert status == 0 and len(rows) == len(dpi_only_catalog)
    assert rows["INS-01"]["couloirs"] == "DPI" and rows["INS-01"]["coverage"] == "automated"
    assert rows["INS-01"]["tests"] and all(test.startswith("ins/") for test in rows["INS-01"]["tests"])


def test_a_dpi_only_requirement_is_absent_for_lgc(capsys, dpi_only_catalog):
    status, out, _ = requirements(capsys, "--couloir", "LGC", "--format", "csv")
    listed = {row["id"] for row in csv.DictReader(io.StringIO(out))}
    assert status == 0 and "INS-01" not in listed
    assert listed == {req.id for req in dpi_only_catalog} - {"INS-01"}


def test_the_text_summary_names_the_couloir(capsys, dpi_only_catalog):
    _, out, _ = requirements(capsys, "--couloir", "LGC")
    assert out.rstrip().endswith("requirements automated or attested for couloir LGC")
    assert "INS-01" not in out and "INS-02" in out


def test_without_couloir_the_csv_is_the_committed_coverage_matrix(capsys):
    status, out, _ = requirements(capsys, "--format", "csv")
    assert status == 0 and out == (suites_dir() / coverage.COVERAGE_FILE).read_text(encoding="utf-8")
