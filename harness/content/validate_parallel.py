"""How ``segur validate --jobs N`` spreads the files over workers; results keep the files' order.

- FHIR is judged by pure Python: forked processes, after the first file is judged here so that
  the children inherit the loaded profiles and models.
- CDA with the ANS kit: spawned processes, each building the kit once (``KitRecipe``) from the
  XSLT generated here, so a worker pays Saxon's compile and not the project compiler's. Threads
  would not do: a saxonche transform holds the GIL (measured with saxonche 13.1.1: a Python thread
  ran 46,000 loop turns a second during a transform, 16 million without one, and two threads
  running two executables took as long as one after the other). Workers are spawned, not forked:
  Saxon is a GraalVM native image with threads of its own, which a fork would not carry over.
- The rest (CDA own rules, XDS, XDM): threads, lxml parsing and validating outside the GIL.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO

if TYPE_CHECKING:
    from harness.content.cda.kit import KitRecipe

# harness.content.validate.ValidateOptions: not imported, as that module imports this one.
ValidateOptions = Any
Validator = Callable[[Path, ValidateOptions], dict[str, Any]]


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


class Progress(Protocol):
    def worker_ready(self, pid: int, wall: float, cpu: float) -> None: ...

    def judged(self, done: int) -> None: ...


class StreamProgress:
    """Progress of a long run on a stream (stderr): each worker when ready, then the count of files
    judged, at most once every ``interval`` seconds and once at the end."""

    def __init__(self, stream: TextIO, total: int, interval: float = 2.0):
        self.stream, self.total, self.interval = stream, total, interval
        self.started = self._last = time.monotonic()
        self.workers: dict[int, tuple[float, float]] = {}  # pid -> seconds to get ready (wall, CPU)

    def worker_ready(self, pid: int, wall: float, cpu: float) -> None:
        self.workers[pid] = (wall, cpu)
        self.stream.write(
            f"segur validate: worker {len(self.workers)} ready in {wall:.1f} s ({cpu:.1f} s CPU): "
            "the ANS kit built from the XSLT generated once\n"
        )

    def judged(self, done: int) -> None:
        now = time.monotonic()
        if done == self.total or now - self._last >= self.interval:
            self._last = now
            self.stream.write(f"segur validate: {done}/{self.total} files judged ({now - self.started:.0f} s)\n")
            self.stream.flush()


def serially(validator: Validator, files: list[Path], options: ValidateOptions, progress: Progress | None) -> list:
    results = []
    for path in files:
        results.append(validator(path, options))
        if progress is not None:
            progress.judged(len(results))
    return results


def in_threads(validator: Validator, files: list[Path], options: ValidateOptions) -> list[dict[str, Any]]:
    with ThreadPoolExecutor(max_workers=options.jobs) as pool:
        return list(pool.map(lambda f: validator(f, options), files))


def in_forked_processes(validator: Validator, files: list[Path], options: ValidateOptions) -> list[dict[str, Any]]:
    """The results in the files' order, from ``options.jobs`` worker processes. The first file is
    judged here, which loads the profiles and models; on Linux the workers are forked, so they
    inherit them instead of loading them again each."""
    first = validator(files[0], options)
    files = files[1:]
    workers = min(options.jobs, len(files))
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() and sys.platform == "linux" else "spawn"
    # Chunks of files per task: one file a task would spend more on the pipe than on the resource.
    chunk = max(1, min(64, len(files) // (workers * 4)))
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method)) as pool:
        return [first, *pool.map(validator, files, itertools.repeat(options), chunksize=chunk)]


# -- the ANS kit in worker processes --------------------------------------------------------------
def with_kit_workers(
    validator: Validator, files: list[Path], options: ValidateOptions, progress: Progress | None
) -> list[dict[str, Any]]:
    """The results in the files' order, from ``options.jobs`` spawned processes each holding the
    kit. The XSLT of every schematron the files need is generated (or read from the cache) here
    first, in the order a serial run meets them, so the kit's diagnostics are the same."""
    kit = options.kit
    assert kit is not None
    needed = list(schematrons_needed(kit, files, options.volet))
    if not needed:  # no file is a CDA the kit can run on: no worker is worth its Saxon compile
        return serially(validator, files, options, progress)
    recipe = kit.recipe(needed)
    workers = min(options.jobs, len(files))
    # A document costs 0.1 to 2 s of Saxon: small chunks keep every worker busy to the end.
    chunk = max(1, min(4, len(files) // (workers * 8)))
    results: list[dict[str, Any]] = []
    seen: set[int] = set()
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_kit_worker,
        initargs=(recipe, dataclasses.replace(options, kit=None), validator),
    ) as pool:
        for pid, ready_wall, ready_cpu, result in pool.map(_judge_in_kit_worker, files, chunksize=chunk):
            if pid not in seen:
                seen.add(pid)
                if progress is not None:
                    progress.worker_ready(pid, ready_wall, ready_cpu)
            results.append(result)
            if progress is not None:
                progress.judged(len(results))
    return results


def schematrons_needed(kit: Any, files: list[Path], volet: str | None) -> Iterator[str]:
    """Each schematron path (under ``schematrons/``) the files' runs use, first use first. A file
    that cannot be read as a CDA is skipped: its result says so without the kit."""
    from harness.content.cda import NotACda, read_cda

    seen: set[str] = set()
    for path in files:
        try:
            raw = path.read_bytes()
            doc = read_cda(raw)
        except (NotACda, OSError):
            continue
        for relative, _ in kit.runs_for(doc, raw, volet):
            if relative not in seen:
                seen.add(relative)
                yield relative


_worker: tuple[Validator, ValidateOptions, float, float] | None = None  # this kit worker's state


def _start_kit_worker(recipe: KitRecipe, options: ValidateOptions, validator: Validator) -> None:
    """Build the kit once in this worker and compile its XSD and profile schematrons now, so the
    time to get ready is measured apart from the documents (a volet compiles on first use)."""
    global _worker
    from harness.content.cda.kit import PROFILES
    from harness.content.schematron import SchematronError

    wall, cpu = time.perf_counter(), time.process_time()
    kit = recipe.build()
    kit.xml_schema()
    for _, relative, _ in PROFILES:
        with contextlib.suppress(SchematronError):  # each document's run reports it, as in one process
            kit.schematron(relative)
    options = dataclasses.replace(options, kit=kit)
    _worker = (validator, options, time.perf_counter() - wall, time.process_time() - cpu)


def _judge_in_kit_worker(path: Path) -> tuple[int, float, float, dict[str, Any]]:
    assert _worker is not None, "the kit worker was not started"
    validator, options, ready_wall, ready_cpu = _worker
    return os.getpid(), ready_wall, ready_cpu, validator(path, options)
