"""Named value checks the profile data refers to with ``"check"``: rules on identifier values
that a StructureDefinition cannot express as data. Each returns a list of problems ([] = fine)."""

from __future__ import annotations

import re
from collections.abc import Callable

from harness.core.ins import cog_problems, matricule_problems


def _digits(count: int, label: str) -> Callable[[str], list[str]]:
    pattern = re.compile(rf"^\d{{{count}}}$")

    def check(value: str) -> list[str]:
        return [] if pattern.match(value) else [f"{label} has {count} digits, received {value!r}"]

    return check


def _idnatps(value: str) -> list[str]:
    # facts §6 (FR Core idNatPs): "8" + RPPS (11 digits) or "0" + ADELI (9 characters).
    if value.startswith("8"):
        return [] if re.match(r"^8\d{11}$", value) else [f"an idNatPs for an RPPS is 8 + 11 digits, received {value!r}"]
    if value.startswith("0"):
        return (
            [] if re.match(r"^0\w{9}$", value) else [f"an idNatPs for an ADELI is 0 + 9 characters, received {value!r}"]
        )
    return [f"an idNatPs starts with 8 (RPPS) or 0 (ADELI), received {value!r}"]


def _ins_matricule(value: str) -> list[str]:
    return matricule_problems(value)


CHECKS: dict[str, Callable[[str], list[str]]] = {
    "ins-matricule": _ins_matricule,
    "idnatps": _idnatps,
    "rpps": _digits(11, "an RPPS number"),  # facts §6: rpps slice, 11 digits
    "adeli": lambda v: [] if re.match(r"^\w{9}$", v) else [f"an ADELI number has 9 characters, received {v!r}"],
    # The idNatSt carries a type prefix and a FINESS, SIRET or RPPS-based number: its length varies,
    # so only "non-empty, no spaces" is checked (our reading; the exact grammar is not in the facts).
    "idnatst": lambda v: [] if re.match(r"^\S+$", v) else [f"an idNatSt has no spaces, received {v!r}"],
    # FINESS: 9 characters, the first two a department code (2A/2B for Corsica); the check
    # digit's algorithm is not in the facts, so it is not computed.
    "finess": lambda v: (
        []
        if re.match(r"^(\d{2}|2A|2B)\d{7}$", v)
        else [f"a FINESS number is a department code + 7 digits, received {v!r}"]
    ),
    "siret": _digits(14, "a SIRET number"),
    "siren": _digits(9, "a SIREN number"),
    "insee-cog": cog_problems,
}


def run_check(name: str, value: object) -> list[str]:
    check = CHECKS.get(name)
    if check is None:
        return [f"unknown check {name!r} in the profile data"]
    if not isinstance(value, str):
        return [f"expected a string, received {type(value).__name__}"]
    return check(value)
