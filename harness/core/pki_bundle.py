"""A shared host's credential bundle: its PKI as ``segur run --host`` needs it, and nothing more.

The host hands out (over its token-guarded control API) what a product under test needs: the CAs
and CRL, the client credentials (mTLS, the CPS signing card, the SAS platform) and the server one
(the reference SAS agenda serves with it), and the certificate of its trace key. An allow-list, so
that a key added to the PKI later (a CA's, a signing key) is never handed out by default: never the
keys its mocks sign traces and packs with (a run holding the trace key could forge the host's
signature on exchanges), never a CA key (it could mint certificates the host trusts).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from harness.core.pki import (
    BUNDLE_MARK,
    MANIFEST,
    PkiLayout,
    _ca,
    _Issuer,
    _key,
    _layout_from,
    _name,
    _pem,
    _write,
)
from harness.core.signing import issue_signers

RUN_SIGNING = "run-signing"  # the run's own evidence key and the root certifying it, in the bundle folder


def _handed_out(name: str) -> bool:
    folder, _, rest = name.partition("/")
    if name == MANIFEST or folder in ("clients", "server"):
        return True
    if folder == "ca":
        return not rest.endswith(".key")
    return folder == "signing" and rest.endswith(".pem")


def credential_bundle_files(layout: PkiLayout) -> dict[str, bytes]:
    """The host's PKI files a run needs (see the module's docstring)."""
    files = {}
    for path in sorted(layout.directory.rglob("*")):
        name = path.relative_to(layout.directory).as_posix()
        if path.is_file() and not name.endswith(".tmp") and _handed_out(name):
            files[name] = path.read_bytes()
    return files


def is_credential_bundle(directory: Path) -> bool:
    """Whether ``directory`` holds a shared host's bundle (written by ``segur run --host``)."""
    try:
        return BUNDLE_MARK in json.loads((Path(directory) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False


def write_credential_bundle(directory: Path, files: dict[str, bytes], *, source: str) -> PkiLayout:
    """Write a host's bundle into ``directory`` with an evidence key of this run's own, and load it.

    The run seals its pack with that key (a CA of the run's certifies it): the host vouches for the
    exchanges (traces signed with its trace key, whose certificate is in the bundle), the run for its
    verdicts. A file the host should not have sent, or outside the folder, is refused.
    """
    directory = Path(directory)
    for name, data in files.items():
        target = (directory / name).resolve()
        if directory.resolve() not in target.parents or not _handed_out(name):
            raise ValueError(f"credential bundle: refused file name {name!r}")
        _write(target, data, private=name.endswith((".key", ".p12")))
    manifest = json.loads(files[MANIFEST].decode("utf-8"))
    now = dt.datetime.now(dt.UTC)
    run_ca = _Issuer(_name("TEST AC EXECUTION SEGUR RUN", "RUN EVIDENCE"), _key())
    run_ca.cert = _ca(run_ca.name, None, run_ca.key, now)
    run_signers = issue_signers(directory / RUN_SIGNING, run_ca.name, run_ca.key, [run_ca.cert], now, _write)
    _write(directory / RUN_SIGNING / "root.pem", _pem(run_ca.cert))
    manifest[BUNDLE_MARK] = {"source": source, "evidence_signer": f"{RUN_SIGNING}/evidence"}
    _write(directory / MANIFEST, json.dumps(manifest, indent=2).encode())
    layout = _layout_from(directory, manifest)
    assert layout.signers["evidence"].cert_pem == run_signers["evidence"].cert_pem
    return layout
