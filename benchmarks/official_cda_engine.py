"""The official TestContenuCDA engine, run the kit's way: one JVM per step, as its scripts do.

``schematrons/moteur/compilverif.bat`` upstream compiles each schematron with ISO's three
stylesheets (``iso_dsdl_include.xsl``, ``iso_abstract_expand.xsl``, ``iso_svrl_for_xslt2.xsl``: one
``java net.sf.saxon.Transform`` each), then checks the document with one more JVM per schematron
(``-s:doc -xsl:compiled.xsl``), after an XSD check by the kit's own ``XSDValidator`` class. Here the
compile is done once per schematron (the kit's scripts redo it for every document; that time is
reported apart as the official cold start), and every document costs the XSD JVM plus one JVM per
schematron, as the scripts' verification lines.

For the verdicts of many documents, ``check_documents_batch`` runs the same compiled stylesheets
with one JVM each for all the documents they check (Saxon's command line with a folder as source
and output: the stylesheet loaded once, one transformation per document), and the kit's
``XSDValidator`` in one JVM for all (a small driver calling its own methods): the verdicts of the
kit's way at a fraction of its cost; the benchmark checks on a sample that both agree.

The kit's engine jar (``schematrons/moteur/saxon9he.jar``) is used when the checkout has it; public
snapshots often lack it (a large binary), then any Saxon-HE jar works, e.g. Debian's
``libsaxonhe-java`` (``/usr/share/java/Saxon-HE.jar``).

The kit was written on Windows: some includes name files with other letter case. The scripts
are run on a copy of the kit in which those names are made to resolve (a symbolic link per
mismatched name), as they do on a case-insensitive file system; nothing is written into the
checkout itself.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

ENGINE = Path("schematrons/moteur")
KIT_JAR = ENGINE / "saxon9he.jar"
DEBIAN_JAR = Path("/usr/share/java/Saxon-HE.jar")
PIPELINE = ("iso_dsdl_include.xsl", "iso_abstract_expand.xsl", "iso_svrl_for_xslt2.xsl")
COPIED = ("ExemplesCDA", "infrastructure", "jeuxDeValeurs", "schematrons")
SVRL = "{http://purl.oclc.org/dsdl/svrl}"
_INCLUDE = re.compile(r"""<(?:sch:|iso:)?include\s+href=["']([^"']+)["']""")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


@dataclass
class Timed:
    wall: float = 0.0
    cpu: float = 0.0

    def add(self, other: Timed) -> None:
        self.wall += other.wall
        self.cpu += other.cpu


@dataclass
class OfficialDocument:
    xsd_valid: bool
    results: dict[str, list[dict[str, str]]] = field(default_factory=dict)  # stem -> SVRL results
    time: Timed = field(default_factory=Timed)
    errors: list[str] = field(default_factory=list)


def find_jar(checkout: Path, explicit: Path | None) -> tuple[Path | None, str]:
    """The Saxon jar to run, and where it came from."""
    if explicit is not None:
        return (explicit, "given with --saxon-jar") if explicit.is_file() else (None, f"{explicit} is missing")
    if (checkout / KIT_JAR).is_file():
        return checkout / KIT_JAR, "the kit's own schematrons/moteur/saxon9he.jar"
    if DEBIAN_JAR.is_file():
        return DEBIAN_JAR.resolve(), "Debian's libsaxonhe-java (the checkout lacks saxon9he.jar)"
    return None, "no Saxon jar: the checkout lacks saxon9he.jar and libsaxonhe-java is not installed"


def saxon_version(jar: Path) -> str:
    done = subprocess.run(
        ["java", "-cp", str(jar), "net.sf.saxon.Transform", "-t"], capture_output=True, text=True, check=False
    )
    first = (done.stderr or done.stdout).strip().splitlines()
    return first[0] if first else "unknown"


def run_java(arguments: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess[str], Timed]:
    """One JVM; its own CPU time (os.wait4), so parallel runs do not mix their figures."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(["java", *arguments], cwd=cwd, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        done = subprocess.CompletedProcess(
            process.args,
            process.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
        )
    return done, Timed(wall, usage.ru_utime + usage.ru_stime)


def prepare_copy(checkout: Path, work: Path) -> tuple[Path, list[str]]:
    """A copy of the kit's folders (no jars) with case aliases for the includes; the aliases made."""
    kit = work / "TestContenuCDA"
    for name in COPIED:
        shutil.copytree(checkout / name, kit / name, ignore=shutil.ignore_patterns("*.jar"), symlinks=True)
    aliases: list[str] = []
    for sch in sorted((kit / "schematrons").rglob("*.sch")):
        text = sch.read_text(encoding="utf-8", errors="replace")
        for href in _INCLUDE.findall(text):
            alias = _alias_case(sch.parent, href)
            if alias:
                aliases.append(f"{alias.relative_to(kit)} -> {alias.readlink()}")
    return kit, sorted(set(aliases))


def provide_missing_value_sets(kit: Path, roots: list[Path], substitute: Callable[[str], Path | None]) -> list[str]:
    """Put in the copy, where the rules read them, the value sets absent upstream that our kit mode
    rebuilds (``voc-<OID>-DYNAMIC.xml`` from the kit's SVS file): without them the official
    StrucMin stops on every document, with them both engines read the same file. Which ones: those
    the project's compiler finds missing for each root schematron (a name is relative to the
    compiled stylesheet, that is to the root schematron, not to the included file)."""
    from harness.content.schematron import compile_schematron

    provided = []
    for root in roots:
        wanted: dict[str, Path] = {}

        def remember(href: str, wanted: dict[str, Path] = wanted) -> Path | None:
            rebuilt = substitute(href)
            if rebuilt is not None:
                wanted[href] = rebuilt
            return rebuilt

        compile_schematron(root, substitute_missing=remember)
        for href, rebuilt in sorted(wanted.items()):
            target = (root.parent / href).resolve()
            if target.is_relative_to(kit) and not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(rebuilt, target)
                provided.append(str(target.relative_to(kit)))
    return provided


def _alias_case(base: Path, href: str) -> Path | None:
    """Make ``base/href`` resolve as on a case-insensitive file system; the link made, if any."""
    current = base
    made = None
    for part in Path(href).parts:
        if part in (".", ""):
            continue
        if part == "..":
            current = current.parent
            continue
        candidate = current / part
        if not candidate.exists() and current.is_dir():
            match = next((c for c in current.iterdir() if c.name.lower() == part.lower()), None)
            if match is None:
                return made  # really missing: the scripts report it, as upstream
            candidate.symlink_to(match.name)
            made = candidate
        current = candidate
    return made


def compile_schematron(jar: Path, kit: Path, relative: str, scratch: Path) -> tuple[Path, Timed, str]:
    """``schematrons/<relative>.sch`` -> ``<same folder>/<stem>.xsl`` (the scripts write it there, so
    the rules' relative doc() names resolve from it); the time and Saxon's messages."""
    engine = kit / ENGINE
    source = kit / "schematrons" / relative
    target = source.with_suffix(".xsl")
    steps = [source, scratch / f"{source.stem}.colle.sch", scratch / f"{source.stem}.concret.sch", target]
    total = Timed()
    messages = []
    for stylesheet, (step_in, step_out) in zip(PIPELINE, itertools.pairwise(steps), strict=True):
        done, took = run_java(
            ["-cp", str(jar), "net.sf.saxon.Transform", f"-s:{step_in}", f"-xsl:{stylesheet}", f"-o:{step_out}"],
            engine,
        )
        total.add(took)
        messages.append(done.stderr.strip())
        if done.returncode != 0:
            raise RuntimeError(f"official compile of {relative} failed at {stylesheet}: {done.stderr[-2000:]}")
    return target, total, "\n".join(m for m in messages if m)


def check_document(jar: Path, kit: Path, document: Path, stylesheets: dict[str, Path], out: Path) -> OfficialDocument:
    """The XSD JVM, then one Saxon JVM per compiled schematron (stem -> .xsl)."""
    engine = kit / ENGINE
    xsd = kit / "infrastructure" / "cda" / "CDA_extended.xsd"
    done, took = run_java(["-Duser.language=en", "-cp", str(engine), "XSDValidator", str(document), str(xsd)], engine)
    report = OfficialDocument(xsd_valid='result="OK"' in done.stdout, time=took)
    if "<xsd-validation" not in done.stdout:
        report.errors.append(f"XSDValidator: {done.stderr.strip()[-500:]}")
    for stem, stylesheet in stylesheets.items():
        target = out / f"{document.stem}.{stem}.svrl.xml"
        done, took = run_java(
            ["-cp", str(jar), "net.sf.saxon.Transform", f"-s:{document}", f"-xsl:{stylesheet}", f"-o:{target}"], engine
        )
        report.time.add(took)
        if done.returncode != 0 or not target.is_file():
            report.errors.append(f"{stem}: {done.stderr.strip()[-500:]}")
            continue
        report.results[stem] = read_svrl(target.read_bytes())
    return report


# The kit's XSDValidator keeps its errors in a private static list and prints them from main(), so
# the scripts run one JVM per document; this driver calls the same validate() and xmlOutput() for
# several documents in one JVM, emptying that list in between (all a fresh JVM gives it).
XSD_BATCH_DRIVER = """\
import java.lang.reflect.Field;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;

public class XsdBatch {
    public static void main(String[] args) throws Exception {
        Field errors = XSDValidator.class.getDeclaredField("errorList");
        errors.setAccessible(true);
        Path out = Paths.get(args[1]);
        for (int i = 2; i < args.length; i++) {
            ((List<?>) errors.get(null)).clear();
            XSDValidator.validate(args[0], args[i]);
            String name = Paths.get(args[i]).getFileName() + ".xsd.xml";
            Files.write(out.resolve(name), XSDValidator.xmlOutput().getBytes(StandardCharsets.UTF_8));
        }
    }
}
"""


@dataclass
class BatchRun:
    """Official verdicts of many documents: per document its XSD verdict and SVRL results, and the
    time of every JVM (label -> time), which belongs to no single document."""

    documents: dict[str, OfficialDocument] = field(default_factory=dict)  # document name -> verdicts
    jvms: dict[str, Timed] = field(default_factory=dict)

    def total(self) -> Timed:
        summed = Timed()
        for took in self.jvms.values():
            summed.add(took)
        return summed


def check_documents_batch(
    jar: Path, kit: Path, runs: dict[Path, dict[str, Path]], work: Path, jobs: int = 1
) -> BatchRun:
    """The same verdicts as ``check_document`` for every document of ``runs`` (document -> stem ->
    compiled .xsl), with one JVM per stylesheet instead of one per stylesheet and document: Saxon's
    command line given a folder for ``-s:`` and ``-o:`` loads the stylesheet once and runs one
    transformation per file (each its own document pool, as in a JVM of its own), and the XSD check
    is one JVM for every document (``XSD_BATCH_DRIVER``). Each stylesheet's folder holds symbolic
    links to the documents it checks (the rules resolve their doc() names from the stylesheet, not
    from the document); a document whose output is missing gets the JVM's messages as error."""
    engine = kit / ENGINE
    names = {document.name for document in runs}
    if len(names) != len(runs):
        raise ValueError("batch mode needs distinct document file names")
    batch = BatchRun({document.name: OfficialDocument(xsd_valid=False) for document in runs})
    groups: dict[Path, list[Path]] = {}
    stems: dict[Path, str] = {}
    for document, stylesheets in runs.items():
        for stem, stylesheet in stylesheets.items():
            groups.setdefault(stylesheet, []).append(document)
            stems[stylesheet] = stem

    def xsd() -> None:
        driver, out = work / "xsd-driver" / "XsdBatch.java", work / "xsd"
        driver.parent.mkdir(parents=True)
        out.mkdir()
        driver.write_text(XSD_BATCH_DRIVER, encoding="utf-8")
        schema = kit / "infrastructure" / "cda" / "CDA_extended.xsd"
        documents = [str(d) for d in runs]
        done, batch.jvms["XSDValidator"] = run_java(
            ["-Duser.language=en", "-cp", str(engine), str(driver), str(schema), str(out), *documents], engine
        )
        for document in runs:
            report = out / f"{document.name}.xsd.xml"
            text = report.read_text(encoding="utf-8") if report.is_file() else ""
            batch.documents[document.name].xsd_valid = 'result="OK"' in text
            if "<xsd-validation" not in text:
                batch.documents[document.name].errors.append(f"XSDValidator: {done.stderr.strip()[-500:]}")

    def schematron(stylesheet: Path) -> None:
        label = stylesheet.relative_to(kit).as_posix()
        source, out = work / "in" / label, work / "out" / label
        source.mkdir(parents=True)
        out.mkdir(parents=True)
        for document in groups[stylesheet]:
            (source / document.name).symlink_to(document)
        done, batch.jvms[label] = run_java(
            ["-cp", str(jar), "net.sf.saxon.Transform", f"-s:{source}", f"-xsl:{stylesheet}", f"-o:{out}"], engine
        )
        for document in groups[stylesheet]:
            target = out / document.name
            if not target.is_file():
                batch.documents[document.name].errors.append(f"{stems[stylesheet]}: {done.stderr.strip()[-500:]}")
                continue
            batch.documents[document.name].results[stems[stylesheet]] = read_svrl(target.read_bytes())

    # the costly stylesheets first, so that N jobs end together
    order = sorted(groups, key=lambda s: (-len(groups[s]) * s.stat().st_size, str(s)))
    with ThreadPoolExecutor(jobs) as pool:
        for future in [pool.submit(xsd), *(pool.submit(schematron, s) for s in order)]:
            future.result()
    return batch


def read_svrl(data: bytes) -> list[dict[str, str]]:
    found = []
    for element in etree.fromstring(data, _PARSER).iter(f"{SVRL}failed-assert", f"{SVRL}successful-report"):
        text = element.find(f"{SVRL}text")
        found.append(
            {
                "kind": etree.QName(element).localname,
                "role": element.get("role") or "",
                "test": element.get("test") or "",
                "location": element.get("location") or "",
                "text": " ".join("".join(text.itertext()).split()) if text is not None else "",
            }
        )
    return found


_OFFICIAL_ELEMENT = re.compile(r"\*:([\w.\-]+)\[namespace-uri\(\)='[^']*'\]")
_OFFICIAL_ATTRIBUTE = re.compile(r"@\*\[local-name\(\)='([\w.\-]+)' and namespace-uri\(\)='[^']*'\]")
_OFFICIAL_XSLT1_ELEMENT = re.compile(r"\*\[local-name\(\)='([\w.\-]+)'\]")
_EQNAME = re.compile(r"Q\{[^}]*\}")


def normal_location(location: str) -> str:
    """Both notations (ISO skeleton's ``*:x[namespace-uri()='…'][1]``, XPath 3 ``path()``'s
    ``Q{…}x[1]``, and its XSLT 1 form ``*[local-name()='x']`` that leaves out ``[1]``) as ``/x/y[2]/@z``."""
    location = _OFFICIAL_ATTRIBUTE.sub(r"@\1", _OFFICIAL_ELEMENT.sub(r"\1", location))
    location = _OFFICIAL_XSLT1_ELEMENT.sub(r"\1", _EQNAME.sub("", location))
    return location.replace("[1]", "")


def assertion_key(stem: str, result: dict[str, str]) -> tuple[str, str, str, str, str]:
    """What both engines must agree on: the message, not the test (the ISO skeleton leaves @test
    out for some volets)."""
    return (stem, result["kind"], (result["role"] or "").lower(), result["text"], normal_location(result["location"]))
