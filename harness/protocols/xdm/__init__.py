"""IHE XDM archives (``IHE_XDM.ZIP``) as MSSanté carries them: open one safely, read it as a model.

An MSSanté message about a patient carries its documents as an IHE XDM zip (facts §3.3):
``INDEX.HTM`` and ``README.TXT`` at the root, then ``IHE_XDM/<SUBSET>/METADATA.XML`` (an
``lcm:SubmitObjectsRequest``, the ebRIM model of facts §2.5 plus the DocumentEntry slots
``URI``, ``size`` and ``hash``) next to the files it describes. :func:`read_xdm` refuses
dangerous archives (zip bombs, path traversal, links...) before anything is inflated in full.
Judging an archive is content (:mod:`harness.content.xdm_check`); writing one is the reference
product's job (:mod:`harness.run.sut.xdm_writer`). Nothing here writes to the file system.
"""

from __future__ import annotations

from harness.protocols.xdm.archive import (
    DEFAULT_SUBSET,
    INDEX,
    METADATA,
    README,
    XDM_DIR,
    NotAnXdm,
    UnsupportedArchive,
    is_dangerous,
    unzip,
)
from harness.protocols.xdm.package import ResolvedUri, XdmPackage, XdmSubset, cda_code, patient_of, read_xdm

__all__ = [
    "DEFAULT_SUBSET",
    "INDEX",
    "METADATA",
    "README",
    "XDM_DIR",
    "NotAnXdm",
    "ResolvedUri",
    "UnsupportedArchive",
    "XdmPackage",
    "XdmSubset",
    "cda_code",
    "is_dangerous",
    "patient_of",
    "read_xdm",
    "unzip",
]
