"""Running compiled schematrons with Saxon (saxonche), and reading their SVRL output."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from lxml import etree

from harness.content.schematron.compiler import SVRL, CompiledSchematron, SchematronError
from harness.content.schematron.documents import POOL_PARAMETER, pool_keys

_SVRL = f"{{{SVRL}}}"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


@dataclass(frozen=True)
class SvrlResult:
    kind: str  # "failed-assert" or "successful-report"
    pattern: str
    id: str | None
    role: str | None
    location: str
    test: str
    text: str
    see: str | None


@cache
def _processor() -> Any:
    try:
        from saxonche import PySaxonProcessor
    except ImportError as exc:  # pragma: no cover - saxonche is a dependency; this is for broken installs
        raise SchematronError("the official-kit mode needs saxonche (pip install saxonche)") from exc
    return PySaxonProcessor(license=False)


class DocumentPool:
    """Files the rules read, each parsed once by Saxon and shared by every schematron and run
    (a parsed tree is read-only, so sharing it between executables and threads is safe)."""

    def __init__(self) -> None:
        self._nodes: dict[Path, Any] = {}
        self._lock = threading.Lock()
        self.unreadable: dict[Path, str] = {}

    def node(self, path: Path) -> Any | None:
        """The parsed document, or None when Saxon cannot parse it (the rules' own doc() call
        then reports it as it always did)."""
        from saxonche import PySaxonApiError

        with self._lock:
            if path not in self._nodes and path not in self.unreadable:
                try:
                    self._nodes[path] = _processor().parse_xml(xml_file_name=str(path))
                except PySaxonApiError as exc:
                    self.unreadable[path] = str(exc)
            return self._nodes.get(path)

    def parameter(self, paths: list[Path]) -> Any:
        """The stylesheet parameter: a map from each file's URIs to its document node."""
        processor = _processor()
        entries = {}
        for path in paths:
            node = self.node(path)
            if node is not None:
                for key in pool_keys(path):
                    entries[processor.make_string_value(key)] = node
        return processor.make_map(entries)

    def __len__(self) -> int:
        return len(self._nodes)


class SaxonSchematron:
    """One compiled schematron, ready to run on many documents, one run at a time (the lock). Saxonica
    documents an executable as usable from several threads, but a saxonche transform holds the GIL,
    so overlapping runs would gain nothing: ``segur validate --jobs`` runs the kit in processes. With a
    ``pool``, the documents the rules read are parsed once and served from memory to every run."""

    def __init__(self, compiled: CompiledSchematron, pool: DocumentPool | None = None):
        from saxonche import PySaxonApiError

        self.compiled = compiled
        processor = _processor()
        try:
            self._executable = processor.new_xslt30_processor().compile_stylesheet(
                stylesheet_text=compiled.xslt, encoding="UTF-8"
            )
        except PySaxonApiError as exc:
            raise SchematronError(f"Saxon cannot compile {compiled.source.name}: {exc}") from None
        if pool is not None and compiled.documents:
            self._executable.set_parameter(POOL_PARAMETER, pool.parameter(compiled.documents))
        self._lock = threading.Lock()

    def run(self, document: bytes | ParsedDocument) -> list[SvrlResult]:
        """The SVRL results on ``document``: its bytes, or the same document parsed once by
        ``ParsedDocument`` for several schematrons."""
        from saxonche import PySaxonApiError

        with self._lock:
            try:
                node = (document if isinstance(document, ParsedDocument) else ParsedDocument(document)).node
                output = self._executable.transform_to_string(xdm_node=node)
            except PySaxonApiError as exc:
                raise SchematronError(f"{self.compiled.source.name} failed on this document: {exc}") from None
        if output is None:
            raise SchematronError(f"{self.compiled.source.name} produced no SVRL output")
        return parse_svrl(output.encode("utf-8"))


class ParsedDocument:
    """A document parsed once by Saxon, to run several schematrons on (a read-only tree)."""

    def __init__(self, document: bytes):
        from saxonche import PySaxonApiError

        try:
            self.node = _processor().parse_xml(xml_text=_as_text(document), encoding="UTF-8")
        except PySaxonApiError as exc:
            raise SchematronError(f"Saxon cannot read this document: {exc}") from None


def _as_text(document: bytes) -> str:
    """The document as text for Saxon: without a byte-order mark, re-encoded when not UTF-8."""
    try:
        return document.decode("utf-8-sig")
    except UnicodeDecodeError:
        tree = etree.fromstring(document, etree.XMLParser(resolve_entities=False, no_network=True))
        return etree.tostring(tree, encoding="unicode")


def parse_svrl(data: bytes) -> list[SvrlResult]:
    results = []
    pattern = ""
    for element in etree.fromstring(data, _PARSER):
        if element.tag == f"{_SVRL}active-pattern":
            pattern = element.get("id", "")
        elif element.tag in (f"{_SVRL}failed-assert", f"{_SVRL}successful-report"):
            text_element = element.find(f"{_SVRL}text")
            text = " ".join("".join(text_element.itertext()).split()) if text_element is not None else ""
            results.append(
                SvrlResult(
                    kind=etree.QName(element).localname,
                    pattern=pattern,
                    id=element.get("id"),
                    role=element.get("role"),
                    location=element.get("location", ""),
                    test=element.get("test", ""),
                    text=text,
                    see=element.get("see"),
                )
            )
    return results
