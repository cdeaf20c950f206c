"""A compiled subset of FHIRPath for the invariants of the French profiles.

fhirpathpy interprets its syntax tree on every call (about 0.5 ms for fr-core-1, half of a
patient's whole validation). This module compiles the same tree, once, into Python closures for
the subset the profiles use: member navigation (choice elements included), ``where``,
``exists``, ``all``, ``empty``, ``count``, ``not``, ``first``, ``hasValue``, ``startsWith``,
``extension(url)``, ``$this``, ``%resource``, literals, ``=``/``!=``, ``and``/``or``/``xor``/
``implies`` with FHIRPath's three-valued logic. Anything else raises ``Unsupported`` at compile
time and the caller falls back to fhirpathpy; tests compare both on every profile and example.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fhirpathpy.parser import parse

Collection = list[Any]
Compiled = Callable[[Collection, dict[str, Any]], Collection]


class Unsupported(ValueError):
    pass


def compile_expression(expression: str) -> Compiled:
    tree = parse(expression)
    return _compile(tree["children"][0])


def _children(node: dict[str, Any]) -> list[dict[str, Any]]:
    return node.get("children") or []


def _truth(collection: Collection) -> bool | None:
    """FHIRPath singleton evaluation in a boolean context: empty → unknown."""
    if not collection:
        return None
    if len(collection) > 1:
        raise Unsupported("a collection of several items in a boolean context")
    item = collection[0]
    return item if isinstance(item, bool) else True


def _member(focus: Collection, name: str) -> Collection:
    out: Collection = []
    for item in focus:
        if not isinstance(item, dict):
            continue
        if name in item:
            value = item[name]
        elif item.get("resourceType") == name:
            out.append(item)
            continue
        else:
            # A choice element is named without its type (value → valueCoding).
            value = next(
                (v for k, v in item.items() if k.startswith(name) and len(k) > len(name) and k[len(name)].isupper()),
                None,
            )
        if value is None:
            continue
        if isinstance(value, list):
            out.extend(v for v in value if v is not None)
        else:
            out.append(value)
    return out


def _compile(node: dict[str, Any]) -> Compiled:
    kind = node.get("type")
    children = _children(node)
    if kind in ("TermExpression", "InvocationTerm", "LiteralTerm"):
        return _compile(children[0])
    if kind == "ParenthesizedTerm":
        return _compile(children[0])
    if kind == "ExternalConstantTerm":
        constant = children[0]
        name = _children(constant)[0].get("text", "") if _children(constant) else ""
        if name != "resource":
            raise Unsupported(f"%{name}")
        return lambda focus, env: [env["resource"]]
    if kind == "ThisInvocation":
        return lambda focus, env: focus
    if kind == "StringLiteral":
        text = node["text"][1:-1].replace("\\'", "'")
        return lambda focus, env: [text]
    if kind == "BooleanLiteral":
        value = node["text"] == "true"
        return lambda focus, env: [value]
    if kind == "NumberLiteral":
        number = float(node["text"]) if "." in node["text"] else int(node["text"])
        return lambda focus, env: [number]
    if kind == "MemberInvocation":
        name = children[0]["text"]
        return lambda focus, env: _member(focus, name)
    if kind == "InvocationExpression":
        source, step = _compile(children[0]), children[1]
        if step["type"] == "MemberInvocation":
            name = _children(step)[0]["text"]
            return lambda focus, env: _member(source(focus, env), name)
        if step["type"] == "FunctionInvocation":
            function = _function(step)
            return lambda focus, env: function(source(focus, env), env)
        raise Unsupported(step["type"])
    if kind == "FunctionInvocation":
        return _function(node)
    if kind == "EqualityExpression":
        return _equality(node)
    if kind in ("AndExpression", "OrExpression", "ImpliesExpression"):
        return _logic(node)
    raise Unsupported(str(kind))


def _function(node: dict[str, Any]) -> Compiled:
    functn = _children(node)[0]
    parts = _children(functn)
    name = parts[0]["text"]
    params = [_compile(p) for p in _children(parts[1])] if len(parts) > 1 else []

    def criterion(focus: Collection, env: dict[str, Any]) -> list[bool | None]:
        return [_truth(params[0]([item], env)) for item in focus]

    if name == "where" and len(params) == 1:
        return lambda focus, env: [item for item, ok in zip(focus, criterion(focus, env), strict=True) if ok]
    if name == "exists":
        if params:
            return lambda focus, env: [any(criterion(focus, env))]
        return lambda focus, env: [bool(focus)]
    if name == "all" and len(params) == 1:
        return lambda focus, env: [all(criterion(focus, env))]
    if name == "empty" and not params:
        return lambda focus, env: [not focus]
    if name == "count" and not params:
        return lambda focus, env: [len(focus)]
    if name == "first" and not params:
        return lambda focus, env: focus[:1]
    if name == "not" and not params:
        return lambda focus, env: [] if _truth(focus) is None else [not _truth(focus)]
    if name == "hasValue" and not params:
        return lambda focus, env: [len(focus) == 1 and not isinstance(focus[0], (dict, list))]
    if name == "startsWith" and len(params) == 1:

        def starts_with(focus: Collection, env: dict[str, Any]) -> Collection:
            prefix = params[0](focus, env)
            if not focus or not prefix:
                return []
            if len(focus) > 1:
                raise Unsupported("startsWith on several items")
            return [isinstance(focus[0], str) and focus[0].startswith(str(prefix[0]))]

        return starts_with
    if name == "extension" and len(params) == 1:

        def extension(focus: Collection, env: dict[str, Any]) -> Collection:
            urls = params[0](focus, env)
            return [e for e in _member(focus, "extension") if isinstance(e, dict) and e.get("url") in urls]

        return extension
    raise Unsupported(f"function {name}")


def _equality(node: dict[str, Any]) -> Compiled:
    operator = node["terminalNodeText"][0]
    if operator not in ("=", "!="):
        raise Unsupported(operator)
    left, right = (_compile(c) for c in _children(node))

    def equal(focus: Collection, env: dict[str, Any]) -> Collection:
        a, b = left(focus, env), right(focus, env)
        if not a or not b:
            return []
        same = len(a) == len(b) and all(
            x == y and isinstance(x, bool) == isinstance(y, bool) for x, y in zip(a, b, strict=True)
        )
        return [same if operator == "=" else not same]

    return equal


def _logic(node: dict[str, Any]) -> Compiled:
    operator = node["terminalNodeText"][0]
    left, right = (_compile(c) for c in _children(node))

    def combine(focus: Collection, env: dict[str, Any]) -> Collection:
        a = _truth(left(focus, env))
        if operator == "and" and a is False:
            return [False]
        if operator == "or" and a is True:
            return [True]
        if operator == "implies" and a is False:
            return [True]
        b = _truth(right(focus, env))
        if operator == "and":
            result = False if b is False else (None if a is None or b is None else True)
        elif operator == "or":
            result = True if b is True else (None if a is None or b is None else False)
        elif operator == "xor":
            result = None if a is None or b is None else a != b
        elif operator == "implies":
            result = True if (b is True) else (None if a is None else (False if b is False else None))
        else:
            raise Unsupported(operator)
        return [] if result is None else [result]

    return combine
