"""Read the official DSR requirement export and map its requirements onto the catalog.

ANS publishes each DSR's requirements as a spreadsheet made by its Squash TM plugin
("convergence-export", sheet ``Exigences``): one row per (requirement, scenario, proof), the
requirement's columns repeated on each row. Plugin versions name the columns differently ("ID" or
"N° exigence", "Exigence" or "Énoncé") and people re-save the file as CSV, so the header row is
searched for among the first rows and columns are matched by a folded form of their name.

An official requirement is mapped to catalog requirements through the catalog's ``official_ref``
and through a mapping file (``official_ref,requirement_id,note``). Its status is ``automated`` when
one of them is cited by a suite test, ``attested`` when the only coverage is an attestation, and
``not covered`` otherwise: an automated catalog requirement that no test cites covers nothing.

The package reads the file (``read``: .xlsx or CSV; ``table``: header row and rows), maps it onto
the catalog (``mapping``) and renders the report (``render``); ``model`` holds what they share.
"""

from harness.core.dsr_import.mapping import MAPPING_FILE, default_mapping_path, import_report, load_mapping, map_export
from harness.core.dsr_import.model import (
    STATUSES,
    DsrImportError,
    ImportReport,
    Link,
    MappingEntry,
    OfficialCoverage,
    OfficialExport,
    OfficialRequirement,
    Scenario,
)
from harness.core.dsr_import.read import read_export
from harness.core.dsr_import.render import NOT_IN_EXPORT, render_report
from harness.core.dsr_import.table import COLUMN_ALIASES, REQUIRED_COLUMNS, fold_header

__all__ = [
    "COLUMN_ALIASES",
    "MAPPING_FILE",
    "NOT_IN_EXPORT",
    "REQUIRED_COLUMNS",
    "STATUSES",
    "DsrImportError",
    "ImportReport",
    "Link",
    "MappingEntry",
    "OfficialCoverage",
    "OfficialExport",
    "OfficialRequirement",
    "Scenario",
    "default_mapping_path",
    "fold_header",
    "import_report",
    "load_mapping",
    "map_export",
    "read_export",
    "render_report",
]
