"""The official ANS kit mode: warm ms per document over the kit's examples, and the cold start.

Warm: every schematron the examples need compiled first, each document validated once to warm
up, then twice more, the faster kept; median, p95 and max over the documents, in wall time and in
CPU time of the process (the CPU figure is what a loaded machine does not inflate).
Cold: a fresh process builds the kit and compiles the XSD and the five profile schematrons, then
validates one document; without the XSLT cache, with an empty cache (filled on the way), and
with the filled cache.
Jobs (``--jobs N``): every example through ``segur validate``'s code with ``--jobs 1`` (the kit in
this process) and ``--jobs N`` (N worker processes, each building the kit from the XSLT generated
here), both from a filled XSLT cache: wall and CPU time (this process and its workers), each
worker's time to get ready, the machine's load, and whether both gave the same results.
Usage: python -m benchmarks.cda_kit_mode [KIT_DIR] [--verdicts OUT.json] [--skip-cold] [--skip-warm]
  [--jobs N] (KIT_DIR default ../shared/reference/ans-cda-kit). ``--verdicts`` writes the failed
assertions of every document, to compare two versions of the code.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

COLD = """
import resource, sys, time
started = time.perf_counter()
from pathlib import Path
from harness.content.cda import read_cda
from harness.content.cda.kit import PROFILES, OfficialKit
cache = sys.argv[2]
try:
    kit = OfficialKit(sys.argv[1], cache_dir=False if cache == "off" else cache)
except TypeError:  # a version without the cache
    kit = OfficialKit(sys.argv[1])
kit.xml_schema()
for _, relative, _ in PROFILES:
    kit.schematron(relative)
ready = time.perf_counter()
raw = Path(sys.argv[3]).read_bytes()
kit.validate(read_cda(raw), raw)
done = time.perf_counter()
usage = resource.getrusage(resource.RUSAGE_SELF)
print(ready - started, done - started, usage.ru_utime + usage.ru_stime)
"""


def best_warm_ms(kit: Any, doc: Any, raw: bytes, runs: int = 2) -> tuple[float, float]:
    """The best wall and CPU milliseconds of ``runs`` validations of one document by a warm kit."""
    best_wall = best_cpu = float("inf")
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        kit.validate(doc, raw)
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return best_wall * 1000, best_cpu * 1000


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def summary(label: str, values: list[float]) -> str:
    return (
        f"{label}: median {statistics.median(values):.1f} ms, p95 {percentile(values, 0.95):.1f} ms, "
        f"max {max(values):.1f} ms"
    )


def warm(folder: Path, examples: list[Path], verdicts_out: Path | None) -> None:
    from harness.content.cda import read_cda
    from harness.content.cda.kit import OfficialKit
    from harness.core.results import Severity

    try:
        kit = OfficialKit(folder, cache_dir=False)  # type: ignore[call-arg]
    except TypeError:
        kit = OfficialKit(folder)
    started, cpu_started = time.perf_counter(), time.process_time()
    documents = [(path, path.read_bytes()) for path in examples]
    parsed = [(path, raw, read_cda(raw)) for path, raw in documents]
    verdicts = {}
    for path, raw, doc in parsed:  # compiles what each document needs, and warms it up
        report = kit.validate(doc, raw)
        verdicts[path.name] = sorted(f.rule for f in report.findings if f.severity is Severity.ERROR)
    print(
        f"compile + first run of {len(parsed)} documents: {time.perf_counter() - started:.1f} s wall, "
        f"{time.process_time() - cpu_started:.1f} s CPU"
    )
    walls, cpus = [], []
    for path, raw, doc in parsed:
        wall_ms, cpu_ms = best_warm_ms(kit, doc, raw)
        walls.append(wall_ms)
        cpus.append(cpu_ms)
        print(f"  {path.name[:60]:60} {walls[-1]:8.1f} ms wall {cpus[-1]:8.1f} ms CPU", flush=True)
    print(f"\nwarm, {len(parsed)} documents")
    print(summary("  wall", walls))
    print(summary("  CPU ", cpus))
    slowest = max(range(len(parsed)), key=lambda i: walls[i])
    print(f"  slowest: {parsed[slowest][0].name}")
    if verdicts_out:
        verdicts_out.write_text(json.dumps(verdicts, indent=1, ensure_ascii=False, sort_keys=True), encoding="utf-8")
        print(f"verdicts (error rules per document) written to {verdicts_out}")


def cold(folder: Path, example: Path) -> None:
    project = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="segur-kit-cache-bench-") as cache:
        for label, setting in (("no cache", "off"), ("empty cache", cache), ("filled cache", cache)):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            output = subprocess.run(
                [sys.executable, "-c", COLD, str(folder), setting, str(example)],
                cwd=project,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            ready, first, _ = (float(v) for v in output[-3:])
            cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
            print(
                f"cold, {label:12}: kit ready (XSD + 5 profiles) {ready:5.1f} s wall; with a first document "
                f"{first:5.1f} s wall, {cpu:5.1f} s CPU"
            )


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def jobs(folder: Path, examples: list[Path], workers: int) -> None:
    from harness.content.cda.kit import PROFILES, OfficialKit
    from harness.content.validate import ValidateOptions, validate_files
    from harness.content.validate_parallel import StreamProgress, schematrons_needed

    print(f"load average before: {' '.join(f'{v:.1f}' for v in os.getloadavg())} ({os.cpu_count()} cores)")
    outputs = {}
    with tempfile.TemporaryDirectory(prefix="segur-kit-jobs-bench-") as cache:
        filling = OfficialKit(folder, cache_dir=cache)
        filling.prepare(schematrons_needed(filling, examples, None))  # both runs start from a filled cache
        for n in (1, workers):
            kit = OfficialKit(folder, cache_dir=cache)
            progress = StreamProgress(io.StringIO(), len(examples))
            wall, cpu, children = time.perf_counter(), _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
            if n == 1:  # what a worker does first, timed the same way
                kit.xml_schema()
                for _, relative, _ in PROFILES:
                    kit.schematron(relative)
                ready = (time.perf_counter() - wall, _cpu(resource.RUSAGE_SELF) - cpu)
            results = validate_files("cda", examples, ValidateOptions(kit=kit, jobs=n), progress)
            wall = time.perf_counter() - wall
            own, spent = _cpu(resource.RUSAGE_SELF) - cpu, _cpu(resource.RUSAGE_CHILDREN) - children
            outputs[n] = json.dumps(results, ensure_ascii=False)
            print(
                f"--jobs {n}: {len(examples)} documents in {wall:6.1f} s wall, {own + spent:6.1f} s CPU "
                f"(this process {own:.1f} s, workers {spent:.1f} s)"
            )
            readiness = [ready] if n == 1 else [progress.workers[pid] for pid in sorted(progress.workers)]
            for index, (ready_wall, ready_cpu) in enumerate(readiness, 1):
                where = "in this process" if n == 1 else f"worker {index}"
                print(f"  kit ready {where}: {ready_wall:.1f} s wall, {ready_cpu:.1f} s CPU")
    print(f"load average after: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    same = outputs[1] == outputs[workers]
    print(f"results of --jobs 1 and --jobs {workers}: {'identical' if same else 'DIFFERENT'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kit", nargs="?", type=Path)
    parser.add_argument("--verdicts", type=Path)
    parser.add_argument("--skip-cold", action="store_true")
    parser.add_argument("--skip-warm", action="store_true")
    parser.add_argument("--jobs", type=int, metavar="N", help="also time every example with --jobs 1 and --jobs N")
    args = parser.parse_args()
    if args.jobs is not None and args.jobs < 2:
        parser.error("--jobs N compares N workers with one: give 2 or more")
    folder = args.kit or Path(__file__).resolve().parents[2] / "shared" / "reference" / "ans-cda-kit"
    examples = sorted((folder / "ExemplesCDA").glob("*.xml"))
    if not examples:
        print(f"no examples under {folder}/ExemplesCDA", file=sys.stderr)
        return 2
    if not args.skip_cold:
        cold(folder, folder / "ExemplesCDA" / "LDL-SES_2022.01.xml")
    if not args.skip_warm:
        warm(folder, examples, args.verdicts)
    if args.jobs:
        jobs(folder, examples, args.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
