"""`segur requirements --couloir X`: the requirements that apply to a couloir, with their coverage."""

from __future__ import annotations

import csv
import io
import json

import pytest

from harness import cli
from harness.core.catalog import COULOIRS, default_catalog


def requirements(capsys, *argv: str) -> tuple[int, str, str]:
    status = cli.main(["requirements", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.parametrize("couloir", sorted(COULOIRS))
def test_each_couloir_lists_exactly_the_requirements_that_apply_to_it(capsys, couloir):
    status, out, _ = requirements(capsys, "--couloir", couloir, "--format", "json")
    listed = {row["id"] for row in json.loads(out)["requirements"]}
    expected = {req.id for req in default_catalog() if couloir in req.couloirs}
    assert status == 0 and listed == expected


def test_a_requirement_outside_a_couloir_is_left_out(capsys):
    outside = [(req.id, c) for req in default_catalog() for c in sorted(COULOIRS) if c not in req.couloirs]
    assert outside, "the catalog has requirements that do not apply to every couloir"
    req_id, couloir = outside[0]
    _, out, _ = requirements(capsys, "--couloir", couloir, "--format", "csv")
    assert req_id not in {row["id"] for row in csv.DictReader(io.StringIO(out))}
    _, everything, _ = requirements(capsys, "--format", "csv")
    assert req_id in {row["id"] for row in csv.DictReader(io.StringIO(everything))}


def test_an_unknown_couloir_is_a_usage_error_naming_the_known_ones(capsys):
    status, _, err = requirements(capsys, "--couloir", "HOPITAL")
    assert status == 2 and "unknown couloir 'HOPITAL'" in err and "DPI" in err
