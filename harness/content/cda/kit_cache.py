"""The kit's generated XSLT kept across processes, keyed by the digest of the kit's files.

Saxon-HE cannot export a compiled stylesheet (``export_stylesheet`` needs Saxon-EE), so what is
kept is the project compiler's output: the XSLT text, pattern labels, diagnostics and the list of
documents the rules read, one JSON file per schematron. The key covers every file under the
kit's ``schematrons/`` and ``jeuxDeValeurs/`` (names and bytes), the kit's absolute path (the
XSLT names its files by absolute URI) and the compiler's own source, so any change of one of them
selects another folder. Entries are written to a temporary file then renamed (concurrent writers
each rename a whole file; the last one wins, and both wrote the same content); an entry that does
not parse, whose checksum does not match its text, or that names a document that no longer exists
is ignored and rebuilt.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from functools import cached_property
from pathlib import Path

from harness.content.schematron import CompiledSchematron, Diagnostic
from harness.content.schematron import compiler as _compiler
from harness.content.schematron import documents as _documents

FORMAT = 1
ENVIRONMENT = "SEGUR_KIT_CACHE"  # a folder, or "off"
_DIGESTED_FOLDERS = ("schematrons", "jeuxDeValeurs")


def default_cache_root() -> Path | None:
    """``$SEGUR_KIT_CACHE`` ("off": no cache), else the user cache folder (XDG)."""
    configured = os.environ.get(ENVIRONMENT)
    if configured is not None:
        return None if configured.strip().lower() in {"", "off", "no", "0"} else Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "segur-harness" / "cda-kit"


def kit_digest(root: Path) -> str:
    digest = hashlib.sha256(f"segur kit cache {FORMAT}\0{root}\0".encode())
    for module in (_compiler, _documents):
        digest.update(Path(str(module.__file__)).read_bytes())
    for folder in _DIGESTED_FOLDERS:
        for path in sorted((root / folder).rglob("*")):
            if path.is_file():
                digest.update(path.relative_to(root).as_posix().encode() + b"\0")
                digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def write_atomically(target: Path, data: bytes) -> None:
    """Write ``target`` whole or not at all: a temporary file in the same folder, then a rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        Path(temporary).replace(target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class XsltCache:
    """One kit's folder in the cache: ``<root>/<kit digest>/``."""

    def __init__(self, cache_root: Path, kit_root: Path):
        self._cache_root = Path(cache_root).resolve()
        self._kit_root = kit_root
        self.rebuilt: list[str] = []  # entries found unusable and compiled again (for tests, reports)

    @cached_property
    def folder(self) -> Path:
        """Digested on first use (about 0.25 s for the 30 MB kit): a kit object that compiles
        nothing does not pay it."""
        return self._cache_root / kit_digest(self._kit_root)[:32]

    @property
    def substitutes(self) -> Path:
        """Where rebuilt value-set files go: they are named by the cached XSLT, so they stay."""
        return self.folder / "substitutes"

    def _entry(self, relative: str, phase: str | None) -> Path:
        name = hashlib.sha256(f"{relative}\0{phase or ''}".encode()).hexdigest()[:32]
        return self.folder / "xslt" / f"{name}.json"

    def load(self, relative: str, phase: str | None = None) -> CompiledSchematron | None:
        entry = self._entry(relative, phase)
        try:
            data = json.loads(entry.read_bytes())
            xslt = data["xslt"]
            if data["format"] != FORMAT or data["relative"] != relative:
                raise ValueError("another entry")
            if hashlib.sha256(xslt.encode()).hexdigest() != data["sha256"]:
                raise ValueError("checksum")
            documents = [Path(p) for p in data["documents"]]
            if not all(p.is_file() for p in documents):
                raise ValueError("a document it names is gone")
            return CompiledSchematron(
                source=Path(data["source"]),
                phase=data["phase"],
                xslt=xslt,
                patterns=list(data["patterns"]),
                diagnostics=[Diagnostic(**d) for d in data["diagnostics"]],
                documents=documents,
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):  # json.JSONDecodeError is a ValueError
            self.rebuilt.append(relative)
            return None

    def store(self, relative: str, compiled: CompiledSchematron, phase: str | None = None) -> None:
        data = {
            "format": FORMAT,
            "relative": relative,
            "source": str(compiled.source),
            "phase": compiled.phase,
            "patterns": compiled.patterns,
            "diagnostics": [vars(d) for d in compiled.diagnostics],
            "documents": [str(p) for p in compiled.documents],
            "sha256": hashlib.sha256(compiled.xslt.encode()).hexdigest(),
            "xslt": compiled.xslt,
        }
        with contextlib.suppress(OSError):  # a read-only or full cache costs speed only
            write_atomically(self._entry(relative, phase), json.dumps(data, ensure_ascii=False).encode())
