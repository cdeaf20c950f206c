"""An opened XDM archive as a model: its submission-set folders, each METADATA.XML parsed into the
XDS model, and every DocumentEntry's URI resolved to a file of its folder (strictly as IHE says,
else leniently with a note), so the checks and the MSSanté mock read documents by entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote

from lxml import etree

from harness.protocols import xds
from harness.protocols.cda_document import NotACda, read_cda
from harness.protocols.xdm.archive import _XML_PARSER, METADATA, XDM_DIR, NotAnXdm, _key, unzip


@dataclass(frozen=True)
class ResolvedUri:
    """How a DocumentEntry's URI slot was matched to a file of its subset."""

    uri: str | None
    path: str | None  # path in the archive, None when nothing matched
    problem: str | None = None  # why it names no file of the subset
    note: str | None = None  # a lenient match (case, relative to IHE_XDM/)
    problem_fr: str | None = None
    note_fr: str | None = None


@dataclass
class XdmSubset:
    name: str  # the folder name as written, e.g. "SUBSET01"
    folder: str  # "IHE_XDM/SUBSET01/" as written
    files: dict[str, bytes]  # path relative to the folder -> bytes (METADATA.XML included)
    paths: dict[str, str]  # path relative to the folder -> path in the archive
    metadata_name: str | None  # METADATA.XML as written, None when absent
    submission: xds.Submission | None = None
    metadata_error: str | None = None
    resolved: dict[str, ResolvedUri] = field(default_factory=dict)  # entry id -> URI resolution
    documents: dict[str, bytes] = field(default_factory=dict)  # entry id -> file content


@dataclass
class XdmPackage:
    entries: dict[str, bytes]  # every file, path as written in the archive
    directories: list[str]
    subsets: list[XdmSubset]

    def find(self, path: str) -> str | None:
        """The entry written as ``path``, or matching it when case is ignored."""
        if path in self.entries:
            return path
        key = _key(path)
        return next((name for name in self.entries if _key(name) == key), None)

    @property
    def submissions(self) -> dict[str, xds.Submission]:
        return {s.name: s.submission for s in self.subsets if s.submission is not None}

    def documents(self) -> dict[str, bytes]:
        """Every DocumentEntry's content by entry id, over all subsets."""
        return {entry_id: content for s in self.subsets for entry_id, content in s.documents.items()}


def cda_code(cda: bytes) -> str | None:
    """``ClinicalDocument/code/@code`` (what ``X-MSS-CODECDA`` lists, facts §3.3), None if unreadable."""
    try:
        code = read_cda(cda).find("c:code")
    except NotACda:
        return None
    return code.get("code") if code is not None else None


def patient_of(package: XdmPackage) -> tuple[str, str] | None:
    """(matricule, OID) of the SubmissionSet patientId of the first readable subset (ECO.2.1.2).

    A receiving product identifies the patient from METADATA.XML, not from the subject.
    """
    for submission in package.submissions.values():
        ss = submission.submission_set
        found = xds.patient_ins(ss.patient_id) if ss is not None else None
        if found is not None and found[1]:
            return found[0], found[1]
    return None


def _parse_metadata(data: bytes) -> xds.Submission:
    """The SubmitObjectsRequest of METADATA.XML, bare or wrapped (the ANS DRIM sample wraps it in SOAP)."""
    if b"<!DOCTYPE" in data:
        raise ValueError("document type declarations and entities are not accepted")
    try:
        root = etree.fromstring(data, _XML_PARSER)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"not well-formed XML: {exc}") from None
    tag = f"{{{xds.LCM}}}SubmitObjectsRequest"
    request = root if root.tag == tag else next(root.iter(tag), None)
    if request is None:
        raise ValueError(f"no lcm:SubmitObjectsRequest (root element {root.tag})")
    return xds.parse_submission(request)


def _resolve(uri: str | None, subset: XdmSubset) -> ResolvedUri:
    """The file a URI names: relative to METADATA.XML (IHE), else leniently, with a note."""
    if uri is None or not uri.strip():
        return ResolvedUri(
            uri, None, "the DocumentEntry has no URI slot", problem_fr="la DocumentEntry n'a pas de slot URI"
        )
    value = unquote(uri.strip())
    if "://" in value or value.startswith("/") or "\\" in value or ".." in value.split("/") or ":" in value:
        return ResolvedUri(
            uri,
            None,
            f"URI {uri!r} is not a path relative to METADATA.XML",
            problem_fr=f"l'URI {uri!r} n'est pas un chemin relatif à METADATA.XML",
        )
    candidates: list[tuple[str, tuple[str, str] | None]] = [(value, None)]
    parts = value.split("/")
    folded = [_key(p) for p in parts]
    if len(parts) > 1 and folded[0] == _key(subset.name):
        from_xdm = (
            f"URI {uri!r} is relative to {XDM_DIR}/, not to the folder of METADATA.XML",
            f"l'URI {uri!r} est relative à {XDM_DIR}/, pas au dossier de METADATA.XML",
        )
        candidates.append(("/".join(parts[1:]), from_xdm))
    if len(parts) > 2 and folded[0] == _key(XDM_DIR) and folded[1] == _key(subset.name):
        from_root = (
            f"URI {uri!r} is relative to the archive root, not to the folder of METADATA.XML",
            f"l'URI {uri!r} est relative à la racine de l'archive, pas au dossier de METADATA.XML",
        )
        candidates.append(("/".join(parts[2:]), from_root))
    for relative, where in candidates:
        if relative in subset.files:
            note, note_fr = where or (None, None)
            return ResolvedUri(uri, subset.paths[relative], None, note, note_fr=note_fr)
    for relative, where in candidates:
        match = next((name for name in subset.files if _key(name) == _key(relative)), None)
        if match is not None:
            case_note = f"URI {uri!r} matches the file {match!r} only when case is ignored"
            case_fr = f"l'URI {uri!r} ne correspond au fichier {match!r} qu'en ignorant la casse"
            note = f"{where[0]}; {case_note}" if where else case_note
            note_fr = f"{where[1]} ; {case_fr}" if where else case_fr
            return ResolvedUri(uri, subset.paths[match], None, note, note_fr=note_fr)
    return ResolvedUri(
        uri,
        None,
        f"URI {uri!r} names no file of {subset.folder}",
        problem_fr=f"l'URI {uri!r} ne désigne aucun fichier de {subset.folder}",
    )


def _subset(root: str, name: str, entries: dict[str, bytes]) -> XdmSubset:
    files: dict[str, bytes] = {}
    paths: dict[str, str] = {}
    for path, content in entries.items():
        parts = path.split("/")
        if len(parts) > 2 and _key(parts[0]) == _key(XDM_DIR) and _key(parts[1]) == _key(name):
            relative = "/".join(parts[2:])
            files[relative], paths[relative] = content, path
    metadata_name = next((n for n in files if _key(n) == _key(METADATA)), None)
    subset = XdmSubset(name, f"{root}/{name}/", files, paths, metadata_name)
    if metadata_name is None:
        return subset
    try:
        subset.submission = _parse_metadata(files[metadata_name])
    except ValueError as exc:
        subset.metadata_error = str(exc)
        return subset
    for entry in subset.submission.documents:
        resolved = _resolve(entry.slot("URI"), subset)
        subset.resolved[entry.id] = resolved
        if resolved.path is not None:
            subset.documents[entry.id] = entries[resolved.path]
    return subset


def read_xdm(
    data: bytes,
    *,
    max_entries: int = 1000,
    max_total_uncompressed: int = 100 * 1024 * 1024,
    max_ratio: int = 200,
) -> XdmPackage:
    """Open an XDM archive safely (see :func:`unzip`); raises :class:`NotAnXdm`.

    A zip with no ``IHE_XDM`` folder at its root is not an XDM. What is wrong inside one (no
    METADATA.XML, unreadable metadata, URIs naming nothing) is kept for :func:`check_xdm`.
    Names are matched ignoring case; every lenient match is noted.
    """
    entries, directories = unzip(
        data, max_entries=max_entries, max_total_uncompressed=max_total_uncompressed, max_ratio=max_ratio
    )
    root: str | None = None
    names: dict[str, str] = {}  # folded -> subset folder name as first written
    nested: str | None = None
    for path in [*entries, *directories]:
        parts = path.rstrip("/").split("/")
        folded = [_key(p) for p in parts]
        if folded[0] == _key(XDM_DIR):
            root = root or parts[0]
            if len(parts) > 2 or (len(parts) == 2 and path.endswith("/")):
                names.setdefault(folded[1], parts[1])
        elif nested is None and _key(XDM_DIR) in folded[1:]:
            nested = "/".join(parts[: folded.index(_key(XDM_DIR))])
    if root is None:
        hint = f" (it is under {nested}/: zip the content of that folder, not the folder)" if nested else ""
        raise NotAnXdm(f"no {XDM_DIR} folder at the root of the archive: not an IHE XDM archive{hint}")
    subsets = [_subset(root, name, entries) for _, name in sorted(names.items())]
    return XdmPackage(entries, directories, subsets)
