"""Reading the official export file: an .xlsx workbook or a CSV, streamed, with clear errors for bad files.

The Squash plugin writes the sheet ``Exigences``, which is tried first; people re-save the file
as CSV with ``;``, ``,`` or tab separators. Encrypted workbooks, legacy .xls, damaged archives,
binary files and non-UTF-8 text are refused with a message that says what to do.
"""

from __future__ import annotations

import csv
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from harness.core.dsr_import.model import DsrImportError, OfficialExport
from harness.core.dsr_import.table import NoHeader, fold_header, parse_table

CSV_DELIMITERS = (";", ",", "\t")
REQUIREMENTS_SHEET = "exigences"  # folded name of the sheet the Squash plugin writes

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # encrypted OOXML and legacy .xls are OLE files
_ZIP_MAGIC = b"PK\x03\x04"


def _guarded(rows: Iterable[Any], path: Path, what: str) -> Iterator[Any]:
    """Turn a reader's failure in the middle of the file into a usage error naming the file."""
    iterator = iter(rows)
    while True:
        try:
            row = next(iterator)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:
            raise DsrImportError(
                f"{path}: not UTF-8 text (byte {exc.start}); save the export as CSV UTF-8 or give the .xlsx"
            ) from None
        except Exception as exc:  # openpyxl and csv raise many types on a damaged file; all mean "bad input"
            raise DsrImportError(f"{path}: {what} ({type(exc).__name__}: {exc})") from None
        yield row


def _read_xlsx(path: Path) -> OfficialExport:
    from openpyxl import load_workbook

    # A file object, not a name: openpyxl refuses names without an Excel extension.
    with path.open("rb") as handle, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # openpyxl warns about styles and extensions it does not read
        try:
            workbook = load_workbook(handle, read_only=True, data_only=True)
        except Exception as exc:  # BadZipFile, KeyError, InvalidFileException, XML errors...
            raise DsrImportError(
                f"{path}: not a readable .xlsx workbook ({type(exc).__name__}: {exc}); "
                "open it in a spreadsheet program and save it again as .xlsx, or export CSV"
            ) from None
        try:
            sheets = sorted(workbook.worksheets, key=lambda s: fold_header(s.title) != REQUIREMENTS_SHEET)
            failures: list[NoHeader] = []
            for sheet in sheets:
                sheet.reset_dimensions()  # a wrong declared size would cut rows or columns in read-only mode
                rows = _guarded(enumerate(sheet.iter_rows(min_row=1, values_only=True), 1), path, "damaged workbook")
                try:
                    return parse_table(rows, f"{path} (sheet {sheet.title!r})")
                except NoHeader as exc:
                    failures.append(exc)
            if not failures:
                raise DsrImportError(f"{path}: the workbook has no worksheet")
            raise DsrImportError(str(max(failures, key=lambda f: f.score)))
        finally:
            workbook.close()


def _read_csv(path: Path) -> OfficialExport:
    failures: list[NoHeader] = []
    for delimiter in CSV_DELIMITERS:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, delimiter=delimiter)
            numbered = ((reader.line_num, row) for row in reader)
            try:
                return parse_table(_guarded(numbered, path, "unreadable CSV"), str(path))
            except NoHeader as exc:
                failures.append(exc)
    raise DsrImportError(str(max(failures, key=lambda f: f.score)))


def read_export(path: Path) -> OfficialExport:
    """Read the official export (.xlsx, or CSV in UTF-8 with ``;`` or ``,``); rows are streamed."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            start = handle.read(4096)
    except FileNotFoundError:
        raise DsrImportError(f"{path}: no such file") from None
    except OSError as exc:
        raise DsrImportError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if size == 0 or not start.strip():
        raise DsrImportError(f"{path}: empty file")
    if start.startswith(_OLE_MAGIC):
        raise DsrImportError(
            f"{path}: a password-protected (encrypted) workbook or a legacy .xls file; "
            "save it without a password as .xlsx, or export CSV"
        )
    if start.startswith(_ZIP_MAGIC):
        return _read_xlsx(path)
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        raise DsrImportError(f"{path}: not a valid .xlsx workbook (it is not a zip archive); is the file damaged?")
    if b"\x00" in start:
        raise DsrImportError(f"{path}: a binary file, not a spreadsheet (give the .xlsx export or a CSV)")
    return _read_csv(path)
