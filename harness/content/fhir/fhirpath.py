"""FHIRPath invariants through fhirpathpy: each expression compiled once per process.

fhirpathpy lacks ``hasValue()``; it is added here with the specification's meaning (a single
primitive that has a value). Evaluation errors become a processing issue, never a crash.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import fhirpathpy
from fhirpathpy.models import models

from harness.content.fhir import fastpath


def _has_value(inputs: list[Any]) -> list[bool]:
    return [len(inputs) == 1 and inputs[0] is not None and not isinstance(inputs[0], (dict, list))]


_OPTIONS = {"userInvocationTable": {"hasValue": {"fn": _has_value, "arity": {0: []}}}}
_COMPILED: dict[str, Callable[..., list[Any]]] = {}
_FAST: dict[str, fastpath.Compiled | None] = {}
_LOCK = threading.Lock()
USE_FAST_PATH = True  # tests turn it off to compare the two evaluators


class FhirPathError(RuntimeError):
    pass


def compiled(expression: str) -> Callable[..., list[Any]]:
    function = _COMPILED.get(expression)
    if function is None:
        with _LOCK:
            function = _COMPILED.get(expression)
            if function is None:
                try:
                    function = fhirpathpy.compile(expression, models["r4"], _OPTIONS)
                except Exception as exc:  # the parser raises several unrelated types
                    raise FhirPathError(f"cannot compile {expression!r}: {exc}") from exc
                _COMPILED[expression] = function
    return function


def _fast(expression: str) -> fastpath.Compiled | None:
    if expression not in _FAST:
        try:
            _FAST[expression] = fastpath.compile_expression(expression)
        except fastpath.Unsupported:
            _FAST[expression] = None
        except Exception:  # a syntax error: fhirpathpy will say it in its own words
            _FAST[expression] = None
    return _FAST[expression]


def evaluate(expression: str, node: Any, resource: Any | None = None) -> list[Any]:
    resource = resource if resource is not None else node
    fast = _fast(expression) if USE_FAST_PATH else None
    if fast is not None:
        try:
            return fast([node], {"resource": resource})
        except fastpath.Unsupported:
            pass  # a case the subset does not cover at run time: the full engine decides
    try:
        return compiled(expression)(node, {"resource": resource})
    except FhirPathError:
        raise
    except Exception as exc:
        raise FhirPathError(f"cannot evaluate {expression!r}: {exc}") from exc


def holds(expression: str, node: Any, resource: Any | None = None) -> bool:
    """An invariant holds unless it evaluates to false (empty counts as true, as in FHIR)."""
    result = evaluate(expression, node, resource)
    return not (len(result) == 1 and result[0] is False)
