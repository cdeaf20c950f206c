"""The values a profile walk reads: repetitions of an element in an instance's JSON, values at a
relative path, FHIR pattern matching, the type a choice element's key names, codings of a value."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any


def show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def children(parent: Any, name: str) -> list[tuple[str, str, Any]]:
    """(JSON key, expression suffix, value) of every repetition of ``name`` in ``parent``."""
    if not isinstance(parent, dict):
        return []
    if name.endswith("[x]"):
        prefix = name[:-3]
        keys = [k for k in parent if k.startswith(prefix) and len(k) > len(prefix) and k[len(prefix)].isupper()]
    elif name in parent:
        keys = [name]
    elif f"_{name}" in parent:  # a primitive with only an extension is present
        return [(name, name, None)]
    else:
        return []
    out: list[tuple[str, str, Any]] = []
    for key in keys:
        value = parent[key]
        if isinstance(value, list):
            out.extend((key, f"{key}[{i}]", item) for i, item in enumerate(value))
        else:
            out.append((key, key, value))
    return out


def values_at(value: Any, path: str) -> list[Any]:
    """Every value at a dotted relative path, lists flattened (``type.coding.system``)."""
    current = [value]
    if path in ("$this", ""):
        return current
    for name in path.split("."):
        nxt: list[Any] = []
        for item in current:
            for _, _, child in children(item, name):
                nxt.append(child)
        current = nxt
    return current


def matches_pattern(value: Any, pattern: Any) -> bool:
    """FHIR pattern semantics: every element of the pattern is present in the value."""
    if isinstance(pattern, dict):
        if not isinstance(value, dict):
            return False
        return all(key in value and matches_pattern(value[key], sub) for key, sub in pattern.items())
    if isinstance(pattern, list):
        if not isinstance(value, list):
            return False
        return all(any(matches_pattern(item, sub) for item in value) for sub in pattern)
    return value == pattern


def type_of_key(node_name: str, key: str) -> str:
    """``valueCodeableConcept`` under ``value[x]`` → ``CodeableConcept``; ``valueString`` → ``string``."""
    suffix = key[len(node_name) - 3 :]
    primitive = suffix[0].lower() + suffix[1:]
    return primitive if primitive in _PRIMITIVES else suffix


_PRIMITIVES = frozenset(
    {
        "base64Binary",
        "boolean",
        "canonical",
        "code",
        "date",
        "dateTime",
        "decimal",
        "id",
        "instant",
        "integer",
        "markdown",
        "oid",
        "positiveInt",
        "string",
        "time",
        "unsignedInt",
        "uri",
        "url",
        "uuid",
    }
)


def coding_pairs(value: Any) -> Iterator[tuple[str | None, str | None]]:
    if isinstance(value, str):
        yield None, value
    elif isinstance(value, dict):
        if "coding" in value:
            for coding in value.get("coding") or []:
                if isinstance(coding, dict):
                    yield coding.get("system"), coding.get("code")
        elif "code" in value:
            yield value.get("system"), value.get("code")
