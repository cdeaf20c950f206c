"""Our kit mode against the official TestContenuCDA engine, on the same examples in the same run.

Usage: python -m benchmarks.cda_kit_vs_official DIR [--batch] [--limit N] [--jobs N] [--saxon-jar JAR]
                                                   [--skip-cold] [--out FILE.json]

DIR is a checkout of the ANS kit, which the project does not ship (the reference folder's
MANIFEST names the commit its copy comes from)::

    git clone https://github.com/ansforge/TestContenuCDA-3-0 /tmp/TestContenuCDA-3-0
    git -C /tmp/TestContenuCDA-3-0 checkout 7cd489b39368809df9bcf2cfef5e5d6354438a02

Java is needed, and a Saxon-HE jar when the checkout lacks ``schematrons/moteur/saxon9he.jar``
(``apt-get install libsaxonhe-java``, or ``--saxon-jar``). Without them the benchmark says so and
exits 0 (skipped).

Both engines run on one copy of the kit in a temporary folder (see official_cda_engine for the
case aliases) and check each document against the same six schematrons: the five profiles and
the volet our kit mode picks. Figures per document, median/p95/max, wall and CPU time:
- official: the kit's way, one JVM for the XSD and one per schematron (compiled once before,
  that compile being the official cold start);
- ours, warm: ``OfficialKit.validate`` in this process, best of two runs after a first one;
- ours, cold: a fresh process that compiles and validates every document, without the XSLT
  cache and with a filled one.
Then, per document, the SVRL results of both (kind, role, test, location in one notation)
compared as multisets; every document that differs is listed with what only one side found.
``--jobs N`` runs N official JVMs at once (the CPU figures stay per JVM).

The kit's way costs about 50 s of CPU per document (seven JVMs, each compiling its stylesheet), so
without ``--batch`` it runs on every example only with hours to spare, and ``--limit N`` takes an
evenly spread sample. ``--batch`` takes the official verdicts of every example from
``official_cda_engine.check_documents_batch`` instead: the same compiled stylesheets, one Saxon JVM
per stylesheet for all the documents it checks and one JVM of the kit's ``XSDValidator`` for all;
the kit's way then runs on the ``--limit`` sample only (3 by default), for its per-document timing
and to show that both modes give the same XSD verdict and the same SVRL results, in full and in
order, on every document both ran (printed). The output says which figures come from which mode:
the per-document official timings and the ratio always from the kit's way, on its sample; the
batch gives a total per JVM only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks import official_cda_engine as official
from benchmarks.cda_kit_mode import best_warm_ms

HOW_TO_OBTAIN = __doc__.split("DIR is")[1].split("Both engines")[0].strip()

COLD = """
import json, resource, sys, time
started = time.perf_counter()
from pathlib import Path
from harness.content.cda import read_cda
from harness.content.cda.kit import OfficialKit
kit_dir, cache, names = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
kit = OfficialKit(kit_dir, cache_dir=False if cache == "off" else cache)
for name in names:
    raw = (Path(kit_dir) / "ExemplesCDA" / name).read_bytes()
    kit.validate(read_cda(raw), raw)
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"wall": time.perf_counter() - started, "cpu": usage.ru_utime + usage.ru_stime}))
"""


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def figures(values: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "p95": percentile(values, 0.95),
        "max": max(values),
        "mean": statistics.fmean(values),
    }


def line(label: str, values: list[float]) -> str:
    f = figures(values)
    return (
        f"{label}: median {f['median']:8.1f} ms  p95 {f['p95']:8.1f} ms  max {f['max']:8.1f} ms  "
        f"mean {f['mean']:8.1f} ms"
    )


def sample(examples: list[Path], limit: int | None) -> list[Path]:
    if not limit or limit >= len(examples):
        return examples
    step = len(examples) / limit
    return [examples[int(i * step)] for i in range(limit)]


def our_results(kit, doc, raw: bytes, runs: list[str]) -> dict[str, list[dict[str, str]]]:  # type: ignore[no-untyped-def]
    from lxml import etree

    from harness.content.schematron.saxon import ParsedDocument

    cda_bytes = raw if doc.wrapper is None else etree.tostring(doc.root, encoding="UTF-8", xml_declaration=True)
    parsed = ParsedDocument(cda_bytes)
    return {
        Path(relative).stem: [
            {"kind": r.kind, "role": r.role or "", "test": r.test, "location": r.location, "text": r.text}
            for r in kit.schematron(relative).run(parsed)
        ]
        for relative in runs
    }


def compare(ours: dict[str, list[dict[str, str]]], theirs: dict[str, list[dict[str, str]]]) -> dict[str, list]:
    mine = Counter(official.assertion_key(stem, r) for stem, results in ours.items() for r in results)
    other = Counter(official.assertion_key(stem, r) for stem, results in theirs.items() for r in results)
    return {
        "only_ours": sorted(map(list, (mine - other).elements())),
        "only_official": sorted(map(list, (other - mine).elements())),
    }


def cold_runs(kit_dir: Path, names: list[str]) -> dict[str, dict[str, float]]:
    project = Path(__file__).resolve().parents[1]
    found = {}
    with tempfile.TemporaryDirectory(prefix="segur-kit-vs-official-cache-") as cache:
        for label, setting in (("no cache", "off"), ("empty cache", cache), ("filled cache", cache)):
            done = subprocess.run(
                [sys.executable, "-c", COLD, str(kit_dir), setting, json.dumps(names)],
                cwd=project,
                capture_output=True,
                text=True,
                check=True,
            )
            found[label] = json.loads(done.stdout.strip().splitlines()[-1])
            print(
                f"ours, cold ({label:12}): {len(names)} documents in {found[label]['wall']:6.1f} s wall, "
                f"{found[label]['cpu']:6.1f} s CPU (process start, compile and every document)",
                flush=True,
            )
    return found


def same_verdicts(kit_way: official.OfficialDocument, batch: official.OfficialDocument) -> list[str]:
    """How the batch run's verdicts on one document differ from the kit's way's (empty: none); the
    SVRL results are compared in full (test, location, text, in order), not only their keys."""
    found = []
    if kit_way.xsd_valid != batch.xsd_valid:
        found.append(f"XSD verdict {kit_way.xsd_valid} (kit's way) vs {batch.xsd_valid} (batch)")
    for stem in sorted(set(kit_way.results) | set(batch.results)):
        if kit_way.results.get(stem) != batch.results.get(stem):
            found.append(f"{stem}: {len(kit_way.results.get(stem, []))} vs {len(batch.results.get(stem, []))} results")
    failed = [{error.split(":")[0] for error in side.errors} for side in (kit_way, batch)]
    if failed[0] != failed[1]:  # the steps that failed, not Saxon's wording, which differs by mode
        found.append(f"failed steps: {sorted(failed[0])} (kit's way), {sorted(failed[1])} (batch)")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path, nargs="?", help="a checkout of ansforge/TestContenuCDA-3-0")
    parser.add_argument("--saxon-jar", type=Path, help="the Saxon-HE jar, when the checkout lacks saxon9he.jar")
    parser.add_argument(
        "--limit",
        type=int,
        help="run the kit's way on an evenly spread sample of N examples (default: all; with --batch: 3, 0 for none)",
    )
    parser.add_argument(
        "--batch",
        action="store_true",
        help="official verdicts of every example with one JVM per schematron (and one for the XSD) for all of "
        "them; the kit's way, one JVM per document, only on the --limit sample, for its timing and to show both "
        "give the same SVRL",
    )
    parser.add_argument("--jobs", type=int, default=1, help="official JVMs run at once")
    parser.add_argument("--skip-cold", action="store_true", help="leave out our cold runs")
    parser.add_argument("--out", type=Path, help="write every figure and difference as JSON")
    args = parser.parse_args()
    if args.limit is not None and args.limit < (0 if args.batch else 1):
        parser.error("--limit must be at least 1 (0 is allowed with --batch)")
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    checkout = args.checkout
    if checkout is None or not (checkout / official.ENGINE / official.PIPELINE[2]).is_file():
        print(f"skipped: {checkout} is not a TestContenuCDA checkout with schematrons/moteur/. {HOW_TO_OBTAIN}")
        return 0
    jar, origin = official.find_jar(checkout, args.saxon_jar)
    if jar is None or subprocess.run(["java", "-version"], capture_output=True, check=False).returncode != 0:
        print(f"skipped: {origin if jar is None else 'no java on PATH'}")
        return 0
    limit = (3 if args.limit is None else args.limit) if args.batch else args.limit

    from harness.content.cda import read_cda
    from harness.content.cda.kit import PROFILES, SCHEMATRONS, OfficialKit

    with tempfile.TemporaryDirectory(prefix="segur-kit-vs-official-") as scratch:
        work = Path(scratch)
        kit_dir, aliases = official.prepare_copy(checkout.resolve(), work)
        print(f"Saxon: {official.saxon_version(jar)} ({jar}, {origin})")
        print(f"case aliases made in the copy, as on the kit's case-insensitive file system: {len(aliases)}")
        examples = sorted((kit_dir / "ExemplesCDA").glob("*.xml"))
        kit_way_names = {p.name for p in sample(examples, limit)} if limit != 0 else set()
        if not args.batch:
            examples = [p for p in examples if p.name in kit_way_names]
        kit = OfficialKit(kit_dir, cache_dir=work / "cache")
        documents = []
        for path in examples:
            raw = path.read_bytes()
            doc = read_cda(raw)
            volet = kit.volet_for(doc, raw)
            runs = [p for _, p, _ in PROFILES]
            if volet is not None:
                runs.append(volet.relative_to(kit_dir / SCHEMATRONS).as_posix())
            documents.append((path, raw, doc, runs))
        needed = sorted({r for *_, runs in documents for r in runs})
        provided = official.provide_missing_value_sets(
            kit_dir,
            [kit_dir / SCHEMATRONS / r for r in needed],
            OfficialKit(kit_dir, cache_dir=False)._substitute_value_set,
        )
        print(f"value sets absent upstream, rebuilt from the kit's SVS files for both engines: {provided}")

        # -- official: compile once, then the kit's JVMs per document ------------------------------
        print(f"official compile of {len(needed)} schematrons (3 JVMs each) ...", flush=True)
        (work / "official").mkdir()
        with ThreadPoolExecutor(args.jobs) as pool:
            compiled = dict(
                zip(
                    needed,
                    pool.map(lambda r: official.compile_schematron(jar, kit_dir, r, work / "official"), needed),
                    strict=True,
                )
            )
        compile_time = official.Timed()
        for _, took, _ in compiled.values():
            compile_time.add(took)
        print(f"official compile: {compile_time.wall:.1f} s wall summed over JVMs, {compile_time.cpu:.1f} s CPU")

        def stylesheets(runs: list[str]) -> dict[str, Path]:
            return {Path(r).stem: compiled[r][0] for r in runs}

        def check(entry):  # type: ignore[no-untyped-def]
            path, _, _, runs = entry
            return official.check_document(jar, kit_dir, path, stylesheets(runs), work / "official")

        kit_way_documents = [d for d in documents if d[0].name in kit_way_names]
        print(
            f"official check, the kit's way, of {len(kit_way_documents)} documents (1 + 6 JVMs each, "
            f"{args.jobs} at once) ...",
            flush=True,
        )
        started = time.perf_counter()
        with ThreadPoolExecutor(args.jobs) as pool:
            kit_way = {
                d[0].name: found for d, found in zip(kit_way_documents, pool.map(check, kit_way_documents), strict=True)
            }
        print(f"official check, the kit's way: {time.perf_counter() - started:.1f} s wall elapsed", flush=True)

        batch = None
        batch_checks: dict[str, list[str]] = {}
        if args.batch:
            print(
                f"official check, batch, of {len(documents)} documents (one JVM per schematron, one for the XSD, "
                f"{args.jobs} at once) ...",
                flush=True,
            )
            started = time.perf_counter()
            batch = official.check_documents_batch(
                jar, kit_dir, {path: stylesheets(runs) for path, _, _, runs in documents}, work / "batch", args.jobs
            )
            print(f"official check, batch: {time.perf_counter() - started:.1f} s wall elapsed", flush=True)
            batch_checks = {name: same_verdicts(kit_way[name], batch.documents[name]) for name in sorted(kit_way)}
            theirs = [batch.documents[path.name] for path, *_ in documents]
        else:
            theirs = [kit_way[path.name] for path, *_ in documents]

        # -- ours -------------------------------------------------------------------------------------
        cold = {} if args.skip_cold else cold_runs(kit_dir, [p.name for p, *_ in documents])
        for _path, raw, doc, _ in documents:  # compiles (cache) and warms up
            kit.validate(doc, raw)
        walls, cpus, ours = [], [], []
        for _path, raw, doc, runs in documents:
            wall_ms, cpu_ms = best_warm_ms(kit, doc, raw)
            walls.append(wall_ms)
            cpus.append(cpu_ms)
            ours.append(our_results(kit, doc, raw, runs))

    # -- report ---------------------------------------------------------------------------------------
    report: dict[str, object] = {"saxon": str(jar), "documents": [p.name for p, *_ in documents]}
    in_sample = [i for i, (path, *_) in enumerate(documents) if path.name in kit_way]
    print(f"\n{len(documents)} documents; timings per document")
    print(line("  ours warm, wall (every document)", walls))
    print(line("  ours warm, CPU  (every document)", cpus))
    report["ours_warm_ms"] = {"wall": walls, "cpu": cpus}
    report["ours_cold_s"] = cold
    report["official_compile_s"] = vars(compile_time)
    if in_sample:
        official_walls = [kit_way[documents[i][0].name].time.wall * 1000 for i in in_sample]
        official_cpus = [kit_way[documents[i][0].name].time.cpu * 1000 for i in in_sample]
        sample_walls = [walls[i] for i in in_sample]
        sample_cpus = [cpus[i] for i in in_sample]
        print(f"  the kit's way (one JVM per document and step), on {len(in_sample)} documents:")
        print(line("    official, wall", official_walls))
        print(line("    official, CPU ", official_cpus))
        print(line("    ours warm, wall (same documents)", sample_walls))
        print(line("    ours warm, CPU  (same documents)", sample_cpus))
        ratio_wall = statistics.median(official_walls) / statistics.median(sample_walls)
        ratio_cpu = statistics.median(official_cpus) / statistics.median(sample_cpus)
        total_ratio = sum(official_cpus) / sum(sample_cpus)
        print(
            f"    ratio official/ours (medians): {ratio_wall:.1f}x wall, {ratio_cpu:.1f}x CPU; "
            f"totals CPU {total_ratio:.1f}x"
        )
        report["official_ms"] = {"wall": official_walls, "cpu": official_cpus, "documents": sorted(kit_way)}
        report["ratio_median"] = {"wall": ratio_wall, "cpu": ratio_cpu}
    if batch is not None:
        total = batch.total()
        print(
            f"  official batch (one JVM per schematron for every document; no per-document figure): "
            f"{len(batch.jvms)} JVMs, {total.cpu:.1f} s CPU in all, {total.cpu / len(documents) * 1000:.1f} ms "
            f"CPU per document on average (ours warm: {statistics.fmean(cpus):.1f} ms)"
        )
        for label, took in sorted(batch.jvms.items(), key=lambda item: -item[1].cpu)[:6]:
            print(f"    {label}: {took.cpu:.1f} s CPU, {took.wall:.1f} s wall")
        agreeing = sum(not found for found in batch_checks.values())
        print(
            f"  batch against the kit's way, on the {len(batch_checks)} documents both ran: "
            f"{agreeing} with the same XSD verdict and the same SVRL results (in full, in order)"
        )
        for name, found in batch_checks.items():
            print(f"    {name}: {'same' if not found else '; '.join(found)}")
        report["official_batch_s"] = {label: vars(took) for label, took in sorted(batch.jvms.items())}
        report["batch_vs_kit_way"] = batch_checks
    differences = {}
    xsd_differences = []
    for (path, _, doc, _), mine, other in zip(documents, ours, theirs, strict=True):
        found = compare(mine, other.results)
        if found["only_ours"] or found["only_official"] or other.errors:
            differences[path.name] = {**found, "official_errors": other.errors, "wrapped": doc.wrapper is not None}
        if kit.xml_schema().validate(doc.root) != other.xsd_valid:
            xsd_differences.append(path.name)
    source = "batch" if batch is not None else "the kit's way"
    compared = Counter(r["kind"] for other in theirs for results in other.results.values() for r in results)
    with_results = sum(any(other.results.values()) for other in theirs)
    print(
        f"  official SVRL results compared: {compared['failed-assert']} failed asserts and "
        f"{compared['successful-report']} successful reports, on {with_results} of {len(documents)} documents"
    )
    report["official_results"] = {**compared, "documents_with_results": with_results}
    print(
        f"  verdicts (official from {source}): documents whose SVRL results differ: "
        f"{len(differences)} of {len(documents)}"
    )
    for name, found in differences.items():
        print(
            f"    {name}: {len(found['only_ours'])} only ours, {len(found['only_official'])} only official"
            + (f", official errors {found['official_errors']}" if found["official_errors"] else "")
            + (" (wrapped document: ours checks the inner ClinicalDocument)" if found["wrapped"] else "")
        )
        for key in found["only_ours"][:3]:
            print(f"      only ours: {key}")
        for key in found["only_official"][:3]:
            print(f"      only official: {key}")
    print(f"  documents whose XSD verdict differs: {len(xsd_differences)} {xsd_differences}")
    if args.out:
        report.update(
            {
                "official_verdicts_from": source,
                "differences": differences,
                "xsd_differences": xsd_differences,
                "case_aliases": aliases,
                "provided_value_sets": provided,
            }
        )
        args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
