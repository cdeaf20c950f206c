"""The document flow of a couloir: which document type its product shares and sends.

Read from ``suites/couloir-flows.toml``; the suites pass ``document_type`` to the product's
``dmp.feed_document`` and ``mss.send_document`` actions, so that a laboratory system is judged on the
biology reports it really shares and a RIS on its imaging reports.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from harness.core.catalog import COULOIRS
from harness.core.errors import UsageError
from harness.core.paths import suites_dir


@dataclass(frozen=True)
class CouloirFlow:
    couloir: str | None
    document_code: str
    document_display: str

    def document_type(self) -> dict[str, str]:
        """The ``document_type`` action parameter."""
        return {"code": self.document_code, "display": self.document_display}

    def document_type_pair(self) -> tuple[str, str]:
        return self.document_code, self.document_display


@lru_cache(maxsize=4)
def _load(path: Path) -> dict[str, CouloirFlow]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{path}: {exc}") from None
    unknown = set(data) - COULOIRS - {"default"}
    if unknown:
        raise UsageError(f"{path}: unknown couloirs {sorted(unknown)}; known: {sorted(COULOIRS)}")
    flows = {}
    for name, table in data.items():
        try:
            kind = table["document_type"]
            flows[name] = CouloirFlow(None if name == "default" else name, kind["code"], kind["display"])
        except (KeyError, TypeError):
            raise UsageError(f"{path}: [{name}] needs document_type = {{ code = ..., display = ... }}") from None
    if "default" not in flows:
        raise UsageError(f"{path}: a [default] table is required")
    return flows


def flow_for(couloir: str | None, path: Path | None = None) -> CouloirFlow:
    flows = _load(path or suites_dir() / "couloir-flows.toml")
    return flows.get(couloir or "default", flows["default"])
