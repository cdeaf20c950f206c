"""Why a test could not judge its requirement: skips that say why, in both languages, and who is to blame.

A suite test raises :class:`NotEvaluated` (a pytest skip carrying a :class:`SkipKind`, the reason
in English and French, and the requirements that blocked it); the plugin reads those fields
into the report. :func:`blocked_by` is the precondition of a test that needs the national
service's answer: when the product's own request was refused, the requirement that judges that
request is named, never the test data. :class:`HarnessDataError` is for the other case, where
the harness's own data or mock is wrong: the outcome is ``error``, never the product's fault.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pytest

from harness.core.results import Finding, Severity, SkipKind


class NotEvaluated(pytest.skip.Exception):  # type: ignore[name-defined]
    """A skip with its kind, its reason in English and French, and the requirements to blame."""

    def __init__(self, kind: SkipKind, en: str, fr: str, blocked_by: Iterable[str] = ()):
        super().__init__(msg=en, pytrace=False)
        self.kind, self.en, self.fr = kind, en, fr
        self.blocked_by = list(blocked_by)


class HarnessDataError(Exception):
    """The harness's own test data or mock is inconsistent: the outcome is ``error``, exit status 3."""


def blocked_by(gates: Mapping[str, Iterable[Finding]], requirement: str) -> None:
    """Raise :class:`NotEvaluated` (``blocked``) when a gate requirement other than ``requirement`` has an error.

    ``gates`` maps each requirement that judges the product's request to its findings on the
    exchanges of this test. The first error of each is quoted, so the report says at a glance
    what the product did wrong.
    """
    failing: dict[str, Finding] = {}
    for req, findings in gates.items():
        errors = [f for f in findings if f.severity is Severity.ERROR]
        if req != requirement and errors:
            failing[req] = errors[0]
    if not failing:
        return
    names = ", ".join(failing)
    first_en = "; ".join(f"{req}: {f.text('en')[0]}" for req, f in failing.items())
    first_fr = "; ".join(f"{req} : {f.text('fr')[0]}" for req, f in failing.items())
    raise NotEvaluated(
        SkipKind.BLOCKED,
        f"not evaluable because of {names}: the product's request got no usable answer ({first_en})",
        f"non évaluable à cause de {names} : la requête du produit n'a pas obtenu de réponse exploitable ({first_fr})",
        blocked_by=failing,
    )
