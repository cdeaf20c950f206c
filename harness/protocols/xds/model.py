"""The XDS.b model of a submission as sent: registry objects, their codes and the associations.

One model serves three readers: the DMP mock (which stores what it is sent), the strict
verifiers (which judge it) and the reference client (which builds it). Nothing is refused or
normalised here: unknown slots and classifications are kept, and each object keeps its element.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from harness.protocols.xds.names import DE_PATIENT_ID, DE_UNIQUE_ID, SS_PATIENT_ID, SS_UNIQUE_ID


@dataclass
class Classification:
    scheme: str | None
    node: str | None  # nodeRepresentation: the code
    classified_object: str | None
    slots: dict[str, list[str]]
    name: str | None
    classification_node: str | None = None

    @property
    def coding_scheme(self) -> str | None:
        values = self.slots.get("codingScheme") or []
        return values[0] if values else None


@dataclass
class RegistryObject:
    """An ExtrinsicObject (document entry) or RegistryPackage (submission set) as sent."""

    tag: str  # "ExtrinsicObject" or "RegistryPackage"
    id: str
    attributes: dict[str, str]
    slots: dict[str, list[str]]
    name: str | None
    description: str | None
    classifications: list[Classification]
    external_ids: dict[str, str]
    element: etree._Element = field(repr=False)

    def slot(self, name: str) -> str | None:
        values = self.slots.get(name) or []
        return values[0] if values else None

    def coded(self, scheme: str) -> list[Classification]:
        return [c for c in self.classifications if c.scheme == scheme]

    def codes(self, scheme: str) -> list[tuple[str, str | None]]:
        return [(c.node or "", c.coding_scheme) for c in self.coded(scheme)]

    def author(self, scheme: str) -> dict[str, list[str]]:
        found = self.coded(scheme)
        return found[0].slots if found else {}

    @property
    def unique_id(self) -> str | None:
        return self.external_ids.get(DE_UNIQUE_ID) or self.external_ids.get(SS_UNIQUE_ID)

    @property
    def patient_id(self) -> str | None:
        return self.external_ids.get(DE_PATIENT_ID) or self.external_ids.get(SS_PATIENT_ID)


@dataclass
class Association:
    id: str
    type: str
    source: str
    target: str
    slots: dict[str, list[str]]

    def slot(self, name: str) -> str | None:
        values = self.slots.get(name) or []
        return values[0] if values else None


@dataclass
class Submission:
    """The content of a SubmitObjectsRequest (ITI-41 or ITI-57)."""

    submission_sets: list[RegistryObject]
    documents: list[RegistryObject]
    associations: list[Association]
    element: etree._Element = field(repr=False)

    @property
    def submission_set(self) -> RegistryObject | None:
        return self.submission_sets[0] if len(self.submission_sets) == 1 else None

    def document(self, object_id: str) -> RegistryObject | None:
        return next((d for d in self.documents if d.id == object_id), None)

    def associations_of(self, kind: str) -> list[Association]:
        return [a for a in self.associations if a.type == kind]
