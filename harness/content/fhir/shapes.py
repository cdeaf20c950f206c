"""A quick "certainly valid" pass over a resource's JSON form, read from the same R4 element
definitions the fhir.resources models hold (names, cardinality, types, required elements, choice
groups), so that the pydantic model only runs when there may be something to explain.

``certainly_valid`` answers True only when the model would accept the resource: every key is an
element of its type, every complex value has the JSON shape the model expects, every required
element is there, at most one type of each choice is given, and each primitive value is one the
model's own validator for that primitive type accepted (asked once per value, then remembered).
Anything unusual (null, empty object or array, an unknown or nested resource type it cannot
resolve, a key the model knows only by its Python name) answers False, and the caller asks the
model, whose findings are the ones reported: the quick pass never adds nor removes a finding
(tests/test_fhir_structure.py compares both on every example and broken variant).
"""

from __future__ import annotations

import functools
import types
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter

MAX_DEPTH = 128  # deeper input goes to the model, which reports what it reports
PRIMITIVE_CACHE_SIZE = 65_536  # distinct (type, value) pairs remembered before the memo starts again
CACHED_LENGTH = 256  # longer values (Binary.data, narrative) are checked each time, not kept

COMPLEX, RESOURCE, PRIMITIVE, BOOLEAN = 0, 1, 2, 3
SCALARS = frozenset({str, int, float, bool})  # what json.loads gives for a primitive


@dataclass(frozen=True, slots=True)
class Element:
    kind: int  # COMPLEX | RESOURCE (any resource, by its resourceType) | PRIMITIVE | BOOLEAN
    many: bool
    target: Any  # COMPLEX: the model class; PRIMITIVE: a Primitive; else None


@dataclass(slots=True)
class Shape:
    """The JSON form of one model class: its elements by JSON name, what must be present."""

    elements: dict[str, Element]
    required: tuple[str, ...]
    choices: tuple[tuple[tuple[str, ...], bool], ...]  # (JSON names of the types, one required)
    resource_type: str | None  # a resource: the resourceType it must carry


class Primitive:
    """A primitive type's own pydantic validator, remembered per value."""

    __slots__ = ("adapter", "memo")

    def __init__(self, annotation: Any) -> None:
        self.adapter = TypeAdapter(annotation)
        self.memo: dict[tuple[type, Any], bool] = {}

    def accepts(self, value: Any) -> bool:
        kind = type(value)
        if kind not in SCALARS:
            return False  # an object or array where a primitive is expected: the model explains
        if kind is str and len(value) > CACHED_LENGTH:
            return self._ask(value)
        key = (kind, value)  # the type too: True == 1 but a boolean is not an integer
        known = self.memo.get(key)
        if known is None:
            if len(self.memo) >= PRIMITIVE_CACHE_SIZE:
                self.memo.clear()
            known = self.memo[key] = self._ask(value)
        return known

    def _ask(self, value: Any) -> bool:
        try:
            self.adapter.validate_python(value)
        except Exception:  # fhir_core's validators slip (an int given to a url): the model explains
            return False
        return True


def _without_none(annotation: Any) -> Any:
    while typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) != 1:
            return None
        annotation = args[0]
    return annotation


@functools.cache
def _primitive(annotation: Any) -> Primitive:
    return Primitive(annotation)


def _element(annotation: Any) -> Element | None:
    from fhir_core.types import FhirBase, FhirElementOrResourceBase

    item = _without_none(annotation)
    many = typing.get_origin(item) is list
    if many:
        item = _without_none(typing.get_args(item)[0])
    if item is None:
        return None
    if isinstance(item, type) and issubclass(item, FhirBase):
        if issubclass(item, FhirElementOrResourceBase):
            if item.get_model_klass().__name__ != "Resource":
                return None  # an Element-polymorphic slot: none in R4B, so not read here
            return Element(RESOURCE, many, item)
        return Element(COMPLEX, many, item.get_model_klass())
    if item is bool:
        return Element(BOOLEAN, many, None)
    if typing.get_origin(item) is list or (isinstance(item, type) and issubclass(item, dict)):
        return None
    return Element(PRIMITIVE, many, _primitive(item))


@functools.cache
def shape(model: Any) -> Shape | None:
    """None when a model cannot be read as data: every resource of that type goes to the model."""
    elements: dict[str, Element] = {}
    required: list[str] = []
    for name, info in model.model_fields.items():
        alias = info.alias or name
        if name == "fhir_comments":
            continue
        element = _element(info.annotation)
        if element is None or info.metadata:
            return None
        elements[alias] = element
        if info.is_required():
            required.append(alias)
    try:
        primitive_required = model.get_required_fields(None)
        one_of_many = model.get_one_of_many_fields(None)
    except Exception:  # a model whose rules need an instance is judged by the model only
        return None
    fields = model.model_fields
    for field_name, _ in primitive_required:
        key = model.get_alias_mapping().get(field_name, field_name)
        required.append(fields[key].alias or key)
    choices = []
    for names in one_of_many.values():
        extra = fields[names[0]].json_schema_extra or {}
        choices.append((tuple(fields[n].alias or n for n in names), extra.get("one_of_many_required") is True))
    has_resource_base = model.has_resource_base()
    return Shape(elements, tuple(required), tuple(choices), model.get_resource_type() if has_resource_base else None)


def _resource_model(slot: Any, resource_type: Any) -> Any:
    """The model pydantic would pick for a nested resource (contained, entry.resource)."""
    from fhir_core.constraints import FHIR_TYPES_MAPS
    from pydantic._internal._validators import import_string

    if type(resource_type) is not str:
        return None
    path = FHIR_TYPES_MAPS.get(slot._prefix + resource_type + "Type")
    if path is None:
        return None
    model = import_string(path)
    return model if model.has_resource_base() else None


def certainly_valid(resource: dict[str, Any], model: Any) -> bool:
    """True only when ``model.model_validate(resource)`` would accept ``resource``."""
    return _complex(resource, model, 0)


def _complex(data: Any, model: Any, depth: int) -> bool:
    if type(data) is not dict or not data or depth > MAX_DEPTH:
        return False
    described = shape(model)
    if described is None:
        return False
    elements = described.elements
    for key, value in data.items():
        element = elements.get(key)
        if element is None:
            if key == "resourceType" and described.resource_type is not None and value == described.resource_type:
                continue
            return False
        if element.many:
            if type(value) is not list or not value:
                return False
            for item in value:
                if not _value(item, element, depth):
                    return False
        elif not _value(value, element, depth):
            return False
    for key in described.required:
        if key not in data:
            return False
    for names, one_required in described.choices:
        given = sum(1 for name in names if name in data)
        if given > 1 or (one_required and given == 0):
            return False
    return True


def _value(value: Any, element: Element, depth: int) -> bool:
    kind = element.kind
    if kind == BOOLEAN:
        return type(value) is bool
    if kind == PRIMITIVE:
        return element.target.accepts(value)
    if kind == COMPLEX:
        return _complex(value, element.target, depth + 1)
    if type(value) is not dict:
        return False
    nested = _resource_model(element.target, value.get("resourceType"))
    return nested is not None and _complex(value, nested, depth + 1)
