"""The StrucMin schematron's element paths, evaluated in Python where their shape allows.

Its rule contexts and counted children are child steps ``prefix:name[predicate]...`` (or unions
of them) whose predicates are attribute tests, child tests, ``not``, ``and`` and ``or``: those
are compiled into Python functions, as one lxml XPath call costs more than a whole step here.
Any other step is evaluated with lxml (XPath 1.0); an XPath 2.0 one raises :class:`NotXPath1`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from lxml import etree

Namespaces = tuple[tuple[str, str], ...]
Predicate = Callable[[etree._Element], bool]
Index = dict[etree._Element, dict[Any, list[etree._Element]]]
_NAME = re.compile(r"^(?P<prefix>[\w-]+):(?P<local>[\w.-]+)\s*(?P<predicates>\[.*\])?\s*$", re.S)
_ATTRIBUTE_TEST = re.compile(r"^@(?P<a>[\w-]+)\s*(?P<op>!?=)\s*'(?P<v>[^']*)'$")


class NotXPath1(Exception):
    """A StrucMin path in XPath 2.0: its rule is not evaluated by the own rules."""


def split_top(text: str, separator: str) -> list[str]:
    """``text`` split at ``separator`` outside brackets, parentheses and quotes."""
    parts, depth, quote, start, i = [], 0, "", 0, 0
    while i < len(text):
        char = text[i]
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        elif depth == 0 and text.startswith(separator, i):
            parts.append(text[start:i])
            i += len(separator)
            start = i
            continue
        i += 1
    parts.append(text[start:])
    return parts


def split_steps(path: str) -> list[str]:
    """``a[x/y]/b`` -> ``['a[x/y]', 'b']``."""
    return split_top(path, "/")


def _bracketed(text: str) -> list[str] | None:
    """``[a][b[c]]`` -> ``['a', 'b[c]']``; None when ``text`` is not only predicates."""
    out, depth, quote, start = [], 0, "", 0
    for i, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "[":
            if depth == 0:
                start = i + 1
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                out.append(text[start:i])
        elif depth == 0 and not char.isspace():
            return None
    return out


def _predicate(text: str, namespaces: dict[str, str]) -> Predicate | None:
    text = text.strip()
    for separator, combine in ((" or ", any), (" and ", all)):
        parts = split_top(text, separator)
        if len(parts) > 1:
            functions = [_predicate(p, namespaces) for p in parts]
            if any(f is None for f in functions):
                return None
            return lambda n, fs=functions, c=combine: c(f(n) for f in fs)  # type: ignore[misc]
    negated = _wrapped(text, "not(")
    if negated is not None:
        inner = _predicate(negated, namespaces)
        return None if inner is None else (lambda n: not inner(n))
    grouped = _wrapped(text, "(")
    if grouped is not None:
        return _predicate(grouped, namespaces)
    if re.fullmatch(r"@[\w-]+", text):
        name = text[1:]
        return lambda n: n.get(name) is not None
    test = _ATTRIBUTE_TEST.match(text)
    if test:
        a, value = test["a"], test["v"]
        if test["op"] == "=":
            return lambda n: n.get(a) == value
        return lambda n: n.get(a) is not None and n.get(a) != value
    child = _member(text, namespaces)
    if child is not None:
        tag, predicates = child
        return lambda n: any(c.tag == tag and all(p(c) for p in predicates) for c in n)
    return None


def _wrapped(text: str, opening: str) -> str | None:
    """``not(x)`` -> ``x`` when the parenthesis ``opening`` ends with closes at the very end."""
    if not (text.startswith(opening) and text.endswith(")")):
        return None
    depth, quote = 0, ""
    for i in range(len(opening) - 1, len(text)):
        char = text[i]
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0 and i < len(text) - 1:
                return None
    return text[len(opening) : -1]


def _member(text: str, namespaces: dict[str, str]) -> tuple[str, list[Predicate]] | None:
    """``prefix:name[p]...`` -> (Clark tag, predicate functions); None if not of that shape."""
    match = _NAME.match(text.strip())
    if not match or match["prefix"] not in namespaces:
        return None
    predicates = _bracketed(match["predicates"] or "")
    if predicates is None:
        return None
    functions = [_predicate(p, namespaces) for p in predicates]
    if any(f is None for f in functions):
        return None
    return f"{{{namespaces[match['prefix']]}}}{match['local']}", functions  # type: ignore[return-value]


@cache
def xpath(expression: str, namespaces: Namespaces) -> etree.XPath:
    return etree.XPath(expression, namespaces=dict(namespaces))


@dataclass(frozen=True)
class Step:
    expression: str
    members: tuple[tuple[str, tuple[Predicate, ...]], ...] | None  # None: lxml evaluates it
    compiled: etree.XPath | None  # None: XPath 2.0


@cache
def step(expression: str, namespaces: Namespaces) -> Step:
    mapping = dict(namespaces)
    members = [_member(m, mapping) for m in split_top(expression, "|")]
    if all(m is not None for m in members):
        return Step(expression, tuple((tag, tuple(p)) for tag, p in members), None)  # type: ignore[misc]
    try:
        return Step(expression, None, xpath(expression, namespaces))
    except etree.XPathSyntaxError:
        return Step(expression, None, None)


def select(node: etree._Element, path: Step, index: Index) -> list[etree._Element]:
    """The children of ``node`` the step selects, in document order (``index``: children by tag)."""
    if path.members is not None:
        by_tag = index.get(node)
        if by_tag is None:
            by_tag = index[node] = {}
            for child in node:
                by_tag.setdefault(child.tag, []).append(child)
        if len(path.members) == 1:
            tag, predicates = path.members[0]
            return [c for c in by_tag.get(tag, ()) if all(p(c) for p in predicates)]
        return [c for c in node if any(c.tag == t and all(p(c) for p in ps) for t, ps in path.members)]
    if path.compiled is None:
        raise NotXPath1(path.expression)
    return [n for n in path.compiled(node) if isinstance(n, etree._Element)]
