"""The IHE XDM zip itself, opened safely: its names, and the reader that refuses harmful archives.

:func:`unzip` checks every entry before inflating it (path traversal, links, duplicate or
ambiguous names, zip bombs by size and ratio) and keeps entries in memory within limits;
:class:`NotAnXdm` says why an archive was refused and whether it was built to harm.
"""

from __future__ import annotations

import io
import itertools
import re
import stat
import struct
import unicodedata
import zipfile
import zlib

from lxml import etree

from harness.core.errors import BadInput

XDM_DIR = "IHE_XDM"


INDEX = "INDEX.HTM"


README = "README.TXT"


METADATA = "METADATA.XML"


DEFAULT_SUBSET = "SUBSET01"


# IHE ITI-32 / DICOM PS3.12 file IDs: upper-case letters, digits and "_", 8.3 (ISO 9660 level 1).
_NAME_83 = re.compile(r"^[A-Z0-9_]{1,8}(\.[A-Z0-9_]{1,3})?$")
_CHUNK = 64 * 1024


_RATIO_MIN_SIZE = 1024 * 1024  # below this many inflated bytes an entry's ratio is not judged


_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # zipfile.structFileHeader


_XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


class NotAnXdm(BadInput):
    """The input cannot be opened as an IHE XDM archive (exit status 2 in ``segur validate xdm``).

    ``dangerous`` tells an archive built to harm whoever opens it (zip bomb, path traversal,
    link, ambiguous names) from one that is merely broken or is not an XDM.
    """

    def __init__(self, message: str, *, dangerous: bool = False) -> None:
        super().__init__(message)
        self.dangerous = dangerous


class UnsupportedArchive(NotAnXdm):
    """A zip feature this reader does not implement (the "version needed to extract", a compression
    method other than stored or deflate): a zip some tools may read, but not the plain zip every
    receiving software can open, so ``segur validate xdm`` reports it as a finding (``xdm.zip-format``).
    """


def is_dangerous(exc: BaseException) -> bool:
    """Whether ``exc`` refuses an archive as harmful to open (not merely unreadable)."""
    return isinstance(exc, NotAnXdm) and exc.dangerous


def _path_problem(name: str) -> str | None:
    """Why an entry name may not be extracted anywhere, or None."""
    if not name:
        return "an entry has an empty name"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        return f"entry {name!r} has control characters in its name"
    if "\\" in name:
        return f"entry {name!r} uses backslashes (a Windows path, possibly a traversal)"
    if name.startswith("/"):
        return f"entry {name!r} has an absolute path"
    if ":" in name:
        return f"entry {name!r} has a drive letter or a stream name (':')"
    parts = name.rstrip("/").split("/")
    if ".." in parts:
        return f"entry {name!r} climbs out of the archive ('..')"
    if any(part in ("", ".") for part in parts):
        return f"entry {name!r} has an empty or '.' path component"
    return None


def _key(name: str) -> str:
    """A path as compared: Unicode NFC, case folded, without a trailing '/'."""
    return unicodedata.normalize("NFC", name.rstrip("/")).casefold()


def _inflate(data: bytes, info: zipfile.ZipInfo, budget: int, max_ratio: int) -> bytes:
    """The entry's bytes, read from its own local record and inflated in chunks within the limits."""
    offset = info.header_offset
    header = data[offset : offset + _LOCAL_HEADER.size] if offset >= 0 else b""
    if len(header) < _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
        raise NotAnXdm(f"entry {info.filename!r}: no local file header where the central directory points")
    fields = _LOCAL_HEADER.unpack(header)
    method, name_length, extra_length = fields[4], fields[10], fields[11]
    raw_name = data[offset + _LOCAL_HEADER.size : offset + _LOCAL_HEADER.size + name_length]
    try:
        central_name = info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437")
    except UnicodeError:
        central_name = b""
    if raw_name != central_name or method != info.compress_type:
        raise NotAnXdm(
            f"entry {info.filename!r}: the local header and the central directory disagree "
            "(name or method), so readers would not see the same archive",
            dangerous=True,
        )
    start = offset + _LOCAL_HEADER.size + name_length + extra_length
    raw = data[start : start + info.compress_size]
    if len(raw) < info.compress_size:
        raise NotAnXdm(f"entry {info.filename!r} is truncated")
    if method == zipfile.ZIP_STORED:
        content = raw
        if len(content) > budget:
            raise NotAnXdm("the archive inflates to more than the size allowed (zip bomb)", dangerous=True)
    else:
        out = bytearray()
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        position, pending = 0, b""
        try:
            while not inflater.eof:
                if not pending:
                    if position >= len(raw):
                        break
                    pending, position = raw[position : position + _CHUNK], position + _CHUNK
                out += inflater.decompress(pending, _CHUNK)
                pending = inflater.unconsumed_tail
                if len(out) > info.file_size:
                    raise NotAnXdm(
                        f"entry {info.filename!r} inflates to more than the {info.file_size} bytes it declares "
                        "(forged sizes: zip bomb)",
                        dangerous=True,
                    )
                if len(out) > budget:
                    raise NotAnXdm("the archive inflates to more than the size allowed (zip bomb)", dangerous=True)
                if len(out) > _RATIO_MIN_SIZE and len(out) > max_ratio * max(info.compress_size, 1):
                    raise NotAnXdm(
                        f"entry {info.filename!r} inflates more than {max_ratio} times (zip bomb)", dangerous=True
                    )
        except zlib.error as exc:
            raise NotAnXdm(f"entry {info.filename!r}: corrupt deflate data ({exc})") from None
        if not inflater.eof:
            raise NotAnXdm(f"entry {info.filename!r}: the deflate stream is truncated")
        content = bytes(out)
    if len(content) != info.file_size:
        raise NotAnXdm(f"entry {info.filename!r} holds {len(content)} bytes, not the {info.file_size} it declares")
    if zlib.crc32(content) != info.CRC:
        raise NotAnXdm(f"entry {info.filename!r}: CRC-32 mismatch (corrupt archive)")
    return content


def unzip(
    data: bytes,
    *,
    max_entries: int = 1000,
    max_total_uncompressed: int = 100 * 1024 * 1024,
    max_ratio: int = 200,
) -> tuple[dict[str, bytes], list[str]]:
    """(file path -> bytes, directory paths) of a zip, refusing what is dangerous to open.

    Checked before inflating anything: entry count, names (traversal, absolute, backslash,
    drive letter, control characters, duplicates ignoring case, a file and a folder of the
    same name), links and special files (Unix mode in the external attributes), encryption,
    compression method (stored or deflate), declared sizes and ratios, overlapping records.
    Then every entry is inflated in chunks from its own local record, counting the bytes
    actually produced against its declared size, the ratio and the total.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except NotImplementedError as exc:  # zipfile's answer to a "version needed to extract" above 6.3
        raise UnsupportedArchive(f"unsupported zip format: {exc}") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError, UnicodeError) as exc:
        raise NotAnXdm(f"not a zip archive: {exc}") from None
    with archive:
        infos = archive.infolist()
    if not infos:
        raise NotAnXdm("the zip archive is empty")
    if len(infos) > max_entries:
        raise NotAnXdm(f"the archive has {len(infos)} entries, more than the {max_entries} allowed", dangerous=True)
    seen: dict[str, str] = {}
    folders: set[str] = set()
    for info in infos:
        problem = _path_problem(info.orig_filename)
        if problem:
            raise NotAnXdm(problem, dangerous=True)
        key = _key(info.filename)
        if key in seen:
            raise NotAnXdm(
                f"entries {seen[key]!r} and {info.filename!r} have the same name when case is ignored", dangerous=True
            )
        seen[key] = info.filename
        parts = key.split("/")
        folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
        kind = stat.S_IFMT(info.external_attr >> 16)  # Unix file type; 0 when the creator wrote none
        if kind == stat.S_IFLNK:
            raise NotAnXdm(f"entry {info.filename!r} is a symbolic link", dangerous=True)
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise NotAnXdm(f"entry {info.filename!r} is a special file (type {kind:o})", dangerous=True)
        if info.flag_bits & 0x41:  # bit 0 encrypted, bit 6 strong encryption
            raise NotAnXdm(f"entry {info.filename!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise UnsupportedArchive(
                f"entry {info.filename!r} uses compression method {info.compress_type} (stored or deflate)"
            )
        if info.file_size > _RATIO_MIN_SIZE and info.file_size > max_ratio * max(info.compress_size, 1):
            raise NotAnXdm(
                f"entry {info.filename!r} declares {info.file_size} bytes from {info.compress_size} "
                f"(ratio above {max_ratio}: zip bomb)",
                dangerous=True,
            )
    clash = [name for key, name in seen.items() if key in folders and not name.endswith("/")]
    if clash:
        raise NotAnXdm(f"{clash[0]!r} is both a file and a folder of the archive", dangerous=True)
    declared = sum(i.file_size for i in infos)
    if declared > max_total_uncompressed:
        raise NotAnXdm(
            f"the entries declare {declared} bytes, more than the {max_total_uncompressed} allowed (zip bomb)",
            dangerous=True,
        )
    records = sorted(infos, key=lambda i: i.header_offset)
    for current, following in itertools.pairwise(records):
        if current.header_offset + _LOCAL_HEADER.size + current.compress_size > following.header_offset:
            raise NotAnXdm(
                f"entries {current.filename!r} and {following.filename!r} overlap (zip bomb technique)", dangerous=True
            )
    files: dict[str, bytes] = {}
    directories: list[str] = []
    total = 0
    for info in infos:
        if info.filename.endswith("/"):
            directories.append(info.filename)
            continue
        content = _inflate(data, info, max_total_uncompressed - total, max_ratio)
        total += len(content)
        files[info.filename] = content
    return files, directories
