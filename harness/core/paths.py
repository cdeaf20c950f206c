"""Where the harness finds its data folders and the shared reference corpus.

In a source checkout the data folders (profiles/, fixtures/, reports/) sit beside the
packages; in an installed wheel they are under ``segur_data/`` next to ``harness/``.
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_PARENT = Path(__file__).resolve().parents[2]  # harness/core/paths.py -> the project root

REFERENCE_ENV = "SEGUR_REFERENCE_DIR"


def data_dir(name: str) -> Path:
    """Return the folder holding one of the data trees: ``profiles``, ``fixtures`` or ``reports``."""
    for candidate in (_PACKAGE_PARENT / "segur_data" / name, _PACKAGE_PARENT / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"data folder {name!r} not found beside {_PACKAGE_PARENT}; is the install complete?")


def suites_dir() -> Path:
    """The folder of the conformance suites (an importable package, installed with the harness)."""
    return _PACKAGE_PARENT / "suites"


def available_suites() -> list[str]:
    """The suites installed: the folders of ``suites/`` that hold tests."""
    return sorted(p.name for p in suites_dir().iterdir() if p.is_dir() and any(p.glob("test_*.py")))


def reference_dir() -> Path | None:
    """The shared reference corpus (official artefacts), or None when this machine has none.

    Looked up in ``$SEGUR_REFERENCE_DIR``, then ``../shared/reference`` from the project root
    and from the current directory.
    """
    env = os.environ.get(REFERENCE_ENV)
    candidates = [Path(env)] if env else []
    candidates += [
        _PACKAGE_PARENT.parent / "shared" / "reference",
        Path.cwd().parent / "shared" / "reference",
    ]
    for candidate in candidates:
        if (candidate / "MANIFEST.md").is_file():
            return candidate
    return None
