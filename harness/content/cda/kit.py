"""The official ANS CDA kit (TestContenuCDA layout) run in-process: XSD, then its schematrons.

Order, as the kit's own script: ``CDA_extended.xsd`` with lxml, then IHE, terminologies,
modèles de contenus, structuration minimale, modèles ANS, then the volet schematron of the
document (the order changes no verdict: each schematron is independent). Each schematron is
compiled once per process by the project's compiler and Saxon, then reused; ``KitRecipe`` builds
the same kit in a worker process from the XSLT the parent already holds. Kit defects are
diagnosed, not hidden: includes found only case-insensitively, missing includes, and value-set
files the rules read that are absent (the ART-DECOR ``voc-<OID>-DYNAMIC.xml`` form is rebuilt
from the kit's SVS file of the same OID).
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from harness.content.cda.kit_cache import XsltCache, default_cache_root, write_atomically
from harness.content.schematron import CompiledSchematron, Diagnostic, SchematronError, compile_schematron
from harness.content.schematron.saxon import DocumentPool, ParsedDocument, SaxonSchematron, SvrlResult
from harness.core.errors import UsageError
from harness.core.results import Finding, Severity
from harness.protocols.cda_document import HL7, CdaDocument

XSD = Path("infrastructure/cda/CDA_extended.xsd")
SCHEMATRONS = Path("schematrons")
VALUE_SETS = Path("jeuxDeValeurs")
# (label, path under schematrons/, requirement the findings support), in the order of the kit's
# own script (schematrons/moteur/compilverif.bat upstream); the volet schematron comes last.
PROFILES = [
    ("IHE", "profils/IHE.sch", "CDA-01"),
    ("terminologies", "profils/terminologies/schematron/terminologie.sch", "CDA-06"),
    ("modèles de contenus", "profils/CI-SIS_ModelesDeContenusCDA.sch", "CDA-09"),
    ("structuration minimale", "profils/structurationMinimale/ASIP-STRUCT-MIN-StrucMin.sch", "CDA-01"),
    ("modèles ANS", "profils/CI-SIS_Modeles_ANS.sch", "CDA-09"),
]
VOLET_REQUIREMENT = "CDA-09"
_ROLES = {"error": Severity.ERROR, "fatal": Severity.ERROR, "warning": Severity.WARNING, "warn": Severity.WARNING}
_SVS = "{urn:ihe:iti:svs:2008}"
_VOC_NAME = re.compile(r"voc-(?P<oid>[0-9.]+)-DYNAMIC\.xml$")
_PI_SCHEMA = re.compile(r"""SCHSchema=["'](?P<href>[^"']+)["']""")
_DOCUMENT_TEMPLATE = re.compile(r"1\.2\.250\.1\.213\.1\.1\.1\.\d+(?:\.\d+)*")
_VOLET_FILE = re.compile(r"^CI-SIS_(?P<name>.+)_(?P<version>\d{4}\.\d{2}|\d\.\d(?:_\d{4}\.\d{2})?)\.sch$")


class KitError(UsageError):
    """The folder is not laid out like the ANS TestContenuCDA kit."""


@dataclass
class KitReport:
    findings: list[Finding] = field(default_factory=list)
    schematrons: list[str] = field(default_factory=list)
    volet: str | None = None


class OfficialKit:
    """One ANS kit folder; thread-safe; compiled schematrons are kept for the life of the object.

    ``cache_dir``: where the generated XSLT is kept across processes (see kit_cache); None for
    ``$SEGUR_KIT_CACHE`` or the user cache folder, False for no cache. ``prepared``: generated
    XSLT by schematron path under the kit root (``prepare``'s answer), used before the cache.
    """

    def __init__(
        self,
        root: Path | str,
        cache_dir: Path | str | bool | None = None,
        prepared: Mapping[str, CompiledSchematron] | None = None,
    ):
        self.root = Path(root).resolve()
        self._cache_dir = cache_dir
        for needed in (XSD, SCHEMATRONS / PROFILES[0][1]):
            if not (self.root / needed).is_file():
                raise KitError(f"{self.root} is not an ANS CDA kit folder: {needed} is missing")
        cache_root = default_cache_root() if cache_dir is None or cache_dir is True else None
        if isinstance(cache_dir, (str, Path)):
            cache_root = Path(cache_dir)
        if cache_root is not None and cache_root.resolve().is_relative_to(self.root):
            raise KitError(f"the kit cache {cache_root} must not be inside the kit folder {self.root}")
        self.cache = XsltCache(cache_root, self.root) if cache_root is not None else None
        self.version = f"{self.root.name} (schematrons sha256 {self._fingerprint()[:12]})"
        self.diagnostics: list[Diagnostic] = []
        self._lock = threading.Lock()
        self._compiled: dict[Path, SaxonSchematron] = {}
        self._prepared: dict[str, CompiledSchematron] = dict(prepared or {})
        # Terminologies and value sets the rules read, parsed once for every schematron and run.
        self.documents = DocumentPool()
        self._schema: etree.XMLSchema | None = None
        self._volet_index: dict[str, list[tuple[str, Path]]] | None = None
        self._temporary_substitutes: Path | None = None

    def _fingerprint(self) -> str:
        digest = hashlib.sha256()
        for path in sorted((self.root / SCHEMATRONS).rglob("*.sch")):
            digest.update(path.relative_to(self.root).as_posix().encode())
            digest.update(path.read_bytes())
        return digest.hexdigest()

    # -- compilation and diagnosis ------------------------------------------------------------
    def _substitute_value_set(self, href: str) -> Path | None:
        """Rebuild an absent ART-DECOR ``voc-<OID>-DYNAMIC.xml`` from the kit's SVS value set."""
        match = _VOC_NAME.search(href)
        if not match:
            return None
        if self.cache is not None:
            folder = self.cache.substitutes  # named by the cached XSLT: they must last as long
        else:
            if self._temporary_substitutes is None:
                self._temporary_substitutes = Path(tempfile.mkdtemp(prefix="segur-kit-voc-"))
            folder = self._temporary_substitutes
        target = folder / Path(href).name
        if target.is_file():
            return target
        for svs in sorted((self.root / VALUE_SETS).glob("*.xml")):
            with svs.open("rb") as handle:
                head = handle.read(4096)
            if f'id="{match["oid"]}"'.encode() not in head:
                continue
            tree = etree.parse(str(svs), etree.XMLParser(resolve_entities=False, no_network=True))
            value_sets = etree.Element("valueSets")
            value_set = etree.SubElement(value_sets, "valueSet", id=match["oid"], name=svs.stem)
            concepts = etree.SubElement(value_set, "conceptList")
            for concept in tree.iter(f"{_SVS}Concept"):
                etree.SubElement(concepts, "concept", {k: v for k, v in concept.attrib.items()})
            write_atomically(target, etree.tostring(value_sets, xml_declaration=True, encoding="UTF-8"))
            return target
        return None

    def schematron(self, relative: str) -> SaxonSchematron:
        path = (self.root / SCHEMATRONS / relative).resolve()
        with self._lock:
            if path not in self._compiled:
                compiled = self._generated_xslt(path)
                self._compiled[path] = SaxonSchematron(compiled, self.documents)
            return self._compiled[path]

    def _generated_xslt(self, path: Path) -> CompiledSchematron:
        """The project compiler's XSLT of one schematron: prepared, else cached, else compiled now
        (no Saxon). Called under the lock; its diagnostics join the kit's in the order met."""
        key = path.relative_to(self.root).as_posix()
        compiled = self._prepared.get(key)
        if compiled is None:
            compiled = self.cache.load(key) if self.cache else None
            if compiled is None:
                compiled = compile_schematron(path, substitute_missing=self._substitute_value_set)
                if self.cache:
                    self.cache.store(key, compiled)
            self._prepared[key] = compiled
        self.diagnostics.extend(d for d in compiled.diagnostics if d not in self.diagnostics)
        return compiled

    def prepare(self, relatives: Iterable[str]) -> dict[str, CompiledSchematron]:
        """The generated XSLT of these schematrons (paths under ``schematrons/``), read from the
        cache or compiled now, without Saxon, for worker processes to start from. One that does
        not compile is left out: each run of it then reports the error, as without preparing."""
        relatives = list(relatives)  # before the lock: a generator may call volets(), which takes it
        with self._lock:
            for relative in relatives:
                try:
                    self._generated_xslt((self.root / SCHEMATRONS / relative).resolve())
                except SchematronError:
                    continue
            return dict(self._prepared)

    def recipe(self, relatives: Iterable[str]) -> KitRecipe:
        """What a worker process needs to build this kit again, these schematrons prepared."""
        return KitRecipe(self.root, self._cache_dir, self.prepare(relatives))

    def diagnose(self) -> list[Diagnostic]:
        """Every kit defect the compiler sees in the profiles and the volet schematrons (no Saxon)."""
        found: list[Diagnostic] = []
        files = [self.root / SCHEMATRONS / p for _, p, _ in PROFILES]
        files += sorted((self.root / SCHEMATRONS).glob("CI-SIS_*.sch"))
        for path in files:
            try:
                compiled = compile_schematron(path, substitute_missing=self._substitute_value_set)
            except SchematronError as exc:
                found.append(Diagnostic("error", str(exc), str(path)))
                continue
            found.extend(d for d in compiled.diagnostics if d not in found)
        return found

    def xml_schema(self) -> etree.XMLSchema:
        with self._lock:
            if self._schema is None:
                self._schema = etree.XMLSchema(etree.parse(str(self.root / XSD)))
            return self._schema

    # -- choosing the volet -------------------------------------------------------------------
    def volets(self) -> dict[str, list[tuple[str, Path]]]:
        """Document templateId -> [(version, volet schematron)], read from the volet schematrons."""
        with self._lock:
            if self._volet_index is None:
                index: dict[str, list[tuple[str, Path]]] = {}
                for path in sorted((self.root / SCHEMATRONS).glob("CI-SIS_*.sch")):
                    match = _VOLET_FILE.match(path.name)
                    if not match:
                        continue
                    text = _expanded_text(path)
                    for template in set(_DOCUMENT_TEMPLATE.findall(text)) - {"1.2.250.1.213.1.1.1.1"}:
                        index.setdefault(template, []).append((match["version"], path))
                self._volet_index = index
            return self._volet_index

    def volet_for(self, doc: CdaDocument, raw: bytes, explicit: str | None = None) -> Path | None:
        """The volet schematron: ``explicit`` (file name), the document's oxygen SCHSchema
        processing instruction naming a kit volet, else its templateId and version."""
        folder = self.root / SCHEMATRONS
        if explicit:
            name = explicit if explicit.endswith(".sch") else f"{explicit}.sch"
            path = folder / Path(name).name
            if not path.is_file():
                raise KitError(f"no volet schematron {path.name} in {folder}")
            return path
        for href in _PI_SCHEMA.findall(raw[:8192].decode("utf-8", "replace")):
            candidate = folder / Path(href).name
            if Path(href).name.startswith("CI-SIS_") and candidate.is_file() and "profils" not in href:
                return candidate
        templates = {t.get("root"): t.get("extension") for t in doc.findall("c:templateId")}
        candidates = [
            (version, path, templates[root])
            for root, entries in self.volets().items()
            if root in templates
            for version, path in entries
        ]
        exact = [path for version, path, extension in candidates if extension and version == extension]
        if exact:
            return exact[0]
        return max(candidates, key=lambda c: c[0])[1] if candidates else None

    # -- validation ---------------------------------------------------------------------------
    def runs_for(self, doc: CdaDocument, raw: bytes, volet: str | None = None) -> list[tuple[str, str]]:
        """(schematron path under ``schematrons/``, requirement) of each run, in the kit's order."""
        runs = [(p, r) for _, p, r in PROFILES]
        volet_path = self.volet_for(doc, raw, volet)
        if volet_path is not None:
            runs.append((volet_path.relative_to(self.root / SCHEMATRONS).as_posix(), VOLET_REQUIREMENT))
        return runs

    def validate(self, doc: CdaDocument, raw: bytes, volet: str | None = None) -> KitReport:
        report = KitReport()
        cda_bytes = raw if doc.wrapper is None else etree.tostring(doc.root, encoding="UTF-8", xml_declaration=True)
        schema = self.xml_schema()
        with self._lock:  # the parsed tree is validated as is: lines are the file's, wrapper or not
            valid = schema.validate(doc.root)
            errors = list(schema.error_log) if not valid else []
        for error in errors:
            report.findings.append(
                Finding(
                    rule="kit:CDA_extended.xsd",
                    message=error.message,
                    # libxml2 words its schema errors in English only: the French view quotes it.
                    message_fr=f"non conforme au schéma CDA_extended.xsd du kit : {error.message}",
                    severity=Severity.ERROR,
                    requirement="CDA-01",
                    line=error.line,
                    location=error.path or None,
                    evidence=(f"kit {self.version}",),
                )
            )
        runs = self.runs_for(doc, raw, volet)
        if len(runs) > len(PROFILES):
            report.volet = Path(runs[-1][0]).name
        parsed = ParsedDocument(cda_bytes)  # once for the six schematrons
        for relative, requirement in runs:
            schematron = self.schematron(relative)
            report.schematrons.append(Path(relative).name)
            for result in schematron.run(parsed):
                report.findings.append(self._finding(doc, Path(relative).stem, result, requirement))
        return report

    def _finding(self, doc: CdaDocument, stem: str, result: SvrlResult, requirement: str) -> Finding:
        severity = _ROLES.get((result.role or "error").lower(), Severity.INFO)
        location, line = readable_location(doc, result.location)
        return Finding(
            rule=f"kit:{stem}:{result.id or result.pattern}",
            message=result.text,
            # The kit's schematron assertion text is official (ANS, in French): kept as is in both views.
            message_fr=result.text,
            severity=severity,
            requirement=requirement,
            location=location,
            line=line,
            expected=result.test,
            evidence=(f"kit {self.version}",),
        )


@dataclass(frozen=True)
class KitRecipe:
    """A kit to build again in another process (picklable): its folder, its cache setting and the
    XSLT already generated, so that a worker pays Saxon's compile only, not the project compiler's."""

    root: Path
    cache_dir: Path | str | bool | None
    prepared: dict[str, CompiledSchematron]

    def build(self) -> OfficialKit:
        return OfficialKit(self.root, self.cache_dir, self.prepared)


def _expanded_text(path: Path) -> str:
    """The schematron's text with its includes (one level is enough for the volets' Entete)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    for href in re.findall(r'<include\s+href="([^"]+)"', text):
        included = path.parent / href
        if included.is_file():
            text += included.read_text(encoding="utf-8", errors="replace")
    return text


_STEP = re.compile(r"Q\{(?P<ns>[^}]*)\}(?P<name>[\w.\-]+)(?P<pos>\[\d+\])?")


def readable_location(doc: CdaDocument, svrl_path: str) -> tuple[str | None, int | None]:
    """``/Q{urn:hl7-org:v3}ClinicalDocument[1]/Q{…}code[1]/@code`` -> ``/ClinicalDocument/code/@code``
    and the line of that element in the file (also inside a signed or autoprésentable wrapper)."""
    if not svrl_path:
        return None, None
    readable = _STEP.sub(lambda m: m["name"] + (m["pos"] or ""), svrl_path).replace("[1]", "")
    steps = [s for s in svrl_path.split("/") if s][1:]  # drop ClinicalDocument: evaluated from doc.root
    xpath_steps = []
    for step in steps:
        match = _STEP.fullmatch(step)
        if match is None:
            break  # @attribute, text() ...: the element before it is what has a line
        prefix = "c:" if match["ns"] == HL7 else ("" if not match["ns"] else None)
        if prefix is None:
            break
        xpath_steps.append(f"{prefix}{match['name']}{match['pos'] or ''}")
    line = doc.root.sourceline
    if xpath_steps:
        found = doc.root.xpath("/".join(xpath_steps), namespaces={"c": HL7})
        if found and isinstance(found[0], etree._Element):
            line = found[0].sourceline
    return readable, line
