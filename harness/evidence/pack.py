"""The evidence pack of a report folder, and its verification (``segur report verify``).

Layout, next to report.json, report.html, junit.xml and allure-results/::

    evidence/blobs/<sha256>        every recorded body (requests, responses, produced artefacts), raw
    evidence/exchanges.json        every exchange: who, when, outcome, metas, body hashes, trace signature
    evidence/tests.json            per test: its session key and what the product answered (for rejudge)
    evidence/signers/trace.pem     certificate chain of the key the mocks signed traces with
    attestations/                  files attached by reviewers (segur attest)
    manifest.json                  SHA-256 of every other file, rule and profile versions, signed

The manifest's signature covers the canonical JSON of everything in it but the signature; the
signer's certificate chain travels with it, and ``--trust ROOT.pem`` pins whom to believe.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import __version__
from harness.core.errors import UsageError
from harness.core.paths import data_dir, suites_dir
from harness.core.recorder import Exchange
from harness.core.signing import (
    Signer,
    canonical_json,
    certificate_fingerprint,
    chain_problems,
    load_chain,
    sha256_hex,
    verify_signature,
)

PACK_FORMAT = "segur-evidence/1"
MANIFEST = "manifest.json"
EVIDENCE = "evidence"
BLOBS = f"{EVIDENCE}/blobs"
EXCHANGES = f"{EVIDENCE}/exchanges.json"
TESTS = f"{EVIDENCE}/tests.json"
TRACE_CHAIN = f"{EVIDENCE}/signers/trace.pem"
TRUSTED_CAS = f"{EVIDENCE}/pki/trusted-cas.pem"  # the CAs verifiers trusted in this run
ATTESTATIONS = "attestations"
ATTESTATIONS_FILE = f"{ATTESTATIONS}/attestations.json"
CDA_KIT_ENV = "SEGUR_CDA_KIT"


class PackError(UsageError):
    """The folder is not an evidence pack that can be read (exit status 2, not 'altered')."""


# -- writing ------------------------------------------------------------------------------


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode("utf-8")


def clear_pack(report_dir: Path) -> None:
    """Remove the evidence and manifest of a previous run (reviewers' attestations stay, by run id)."""
    shutil.rmtree(report_dir / EVIDENCE, ignore_errors=True)
    (report_dir / MANIFEST).unlink(missing_ok=True)


def exchange_record(exchange: Exchange, request_sha256: str, response_sha256: str) -> dict[str, Any]:
    """An exchange as the pack keeps it: everything but the bodies, which are blobs of these digests."""
    return {
        **exchange.identity(),
        "request_meta": exchange.request_meta,
        "response_meta": exchange.response_meta,
        "summary": exchange.summary,
        "request_sha256": request_sha256,
        "response_sha256": response_sha256,
        "trace": exchange.trace,
    }


def put_blob(report_dir: Path, data: bytes) -> str:
    digest = sha256_hex(data)
    path = report_dir / BLOBS / digest
    if not path.exists():
        _write(path, data)
    return digest


def export_exchanges(exchanges: Iterable[Exchange], report_dir: Path, trace_chain_pem: str) -> int:
    """Copy recorded exchanges (a store's, read once by the caller) into the pack; returns how many."""
    records = [
        exchange_record(
            exchange, put_blob(report_dir, exchange.request_body), put_blob(report_dir, exchange.response_body)
        )
        for exchange in exchanges
    ]
    _write(report_dir / EXCHANGES, _json_bytes(records))
    _write(report_dir / TRACE_CHAIN, trace_chain_pem.encode("ascii"))
    return len(records)


def export_trusted_cas(report_dir: Path, pems: list[bytes]) -> None:
    _write(report_dir / TRUSTED_CAS, b"".join(pems))


def load_trusted_cas(report_dir: Path) -> list[Any]:
    try:
        return load_chain((report_dir / TRUSTED_CAS).read_bytes())
    except (OSError, ValueError) as exc:
        raise PackError(f"{report_dir}: {TRUSTED_CAS} cannot be read ({exc})") from exc


def _read_regular(path: Path) -> bytes:
    """A regular file's bytes; ``OSError`` for a link, FIFO or device (reading a FIFO would block)."""
    if not stat.S_ISREG(path.lstat().st_mode):
        raise OSError(f"{path.name} is not a regular file")
    return path.read_bytes()


def load_exchanges(report_dir: Path) -> list[Exchange]:
    """The recorded exchanges of a pack, with their bodies, as the store held them."""
    try:
        records = json.loads(_read_regular(report_dir / EXCHANGES).decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise PackError(f"{report_dir}: no readable {EXCHANGES} ({exc})") from exc
    exchanges = []
    for record in records:
        bodies = {}
        for side in ("request", "response"):
            path = report_dir / BLOBS / record[f"{side}_sha256"]
            try:
                bodies[side] = _read_regular(path)
            except OSError as exc:
                raise PackError(f"{report_dir}: the {side} body of exchange {record['id']} is missing") from exc
        fields = {k: v for k, v in record.items() if not k.endswith("_sha256")}
        exchanges.append(Exchange(**fields, request_body=bodies["request"], response_body=bodies["response"]))
    return exchanges


def _tree_digest(root: Path, pattern: str = "*") -> dict[str, Any]:
    files = {
        str(p.relative_to(root)): sha256_hex(p.read_bytes())
        for p in sorted(root.rglob(pattern))
        if p.is_file() and "__pycache__" not in p.parts
    }
    return {"files": len(files), "sha256": sha256_hex(canonical_json(files))}


def rule_versions() -> dict[str, Any]:
    """What the verdicts were judged with: the harness, its rule data, suites and catalog."""
    profiles = data_dir("profiles")
    versions: dict[str, Any] = {
        "harness": __version__,
        "suites": _tree_digest(suites_dir(), "*.py"),
        "catalog_sha256": sha256_hex((suites_dir() / "requirements.csv").read_bytes()),
        "profiles": {p.name: _tree_digest(p) for p in sorted(profiles.iterdir()) if p.is_dir()},
    }
    fhir_profiles = {}
    for path in sorted((profiles / "fhir").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if "url" in data:
            fhir_profiles[data["url"]] = data.get("version", "")
    versions["fhir_profiles"] = fhir_profiles
    kit = os.environ.get(CDA_KIT_ENV)
    if kit and Path(kit).is_dir():
        # The kit carries no version file we could rely on: its folder name and a digest of its rules.
        versions["official_cda_kit"] = {"folder": Path(kit).name, **_tree_digest(Path(kit), "*.sch")}
    return versions


def write_tests(report_dir: Path, tests: dict[str, Any]) -> None:
    _write(report_dir / TESTS, _json_bytes(tests))


def _special_kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if stat.S_ISFIFO(mode):
        return "named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISBLK(mode) or stat.S_ISCHR(mode):
        return "device"
    return f"special file (mode {stat.S_IFMT(mode):o})"


def _walk_pack(report_dir: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(regular file -> SHA-256, anything else -> its kind), never following a link or opening a FIFO.

    A symbolic link would let a pack's bytes come from outside it (and change after sealing
    without the pack changing); reading a FIFO blocks, a device may never end: only regular files
    are hashed, the rest is named so that verification can refuse it.
    """
    files: dict[str, str] = {}
    special: dict[str, str] = {}
    pending = [report_dir]
    while pending:
        folder = pending.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                path = Path(entry.path)
                name = path.relative_to(report_dir).as_posix()
                mode = entry.stat(follow_symlinks=False).st_mode
                if stat.S_ISDIR(mode):
                    pending.append(path)
                elif not stat.S_ISREG(mode):
                    special[name] = _special_kind(mode)
                elif name != MANIFEST and not entry.name.endswith(".tmp"):
                    files[name] = sha256_hex(path.read_bytes())
    return dict(sorted(files.items())), dict(sorted(special.items()))


def _listed_files(report_dir: Path) -> dict[str, str]:
    return _walk_pack(report_dir)[0]


def seal(report_dir: Path, signer: Signer, *, run: dict[str, Any], rules: dict[str, Any] | None = None) -> Path:
    """Write the signed manifest of everything now in ``report_dir``."""
    manifest: dict[str, Any] = {
        "format": PACK_FORMAT,
        "sealed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "harness_version": __version__,
        "run": run,
        "rules": rules if rules is not None else rule_versions(),
        "files": _listed_files(report_dir),
    }
    manifest["signature"] = {
        "algorithm": signer.algorithm,
        "signer_fingerprint": signer.fingerprint,
        "signer_chain": signer.chain_pem,
        "value": signer.sign(canonical_json(manifest)),
    }
    _write(report_dir / MANIFEST, _json_bytes(manifest))
    return report_dir / MANIFEST


def run_description(result: Any) -> dict[str, Any]:
    """The part of a RunResult the manifest repeats, so the signature covers it directly."""
    return {
        "run_id": result.run_id,
        "started_at": result.started_at,
        "finished_at": result.finished_at,
        "sut": result.sut,
        "suites": result.suites,
        "couloir": result.couloir,
        "summary": result.counts(),
        "exit_code": result.exit_code,
    }


# -- verifying ----------------------------------------------------------------------------


@dataclass
class Verification:
    """What ``segur report verify`` found: ``altered`` lists every problem, by name."""

    directory: Path
    altered: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    signer: str = ""
    files: int = 0
    exchanges: int = 0

    @property
    def intact(self) -> bool:
        return not self.altered

    def to_dict(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "intact": self.intact,
            "altered": self.altered,
            "notes": self.notes,
            "signer": self.signer,
            "files": self.files,
            "exchanges": self.exchanges,
        }


def read_manifest(report_dir: Path) -> dict[str, Any]:
    path = report_dir / MANIFEST
    if not report_dir.is_dir():
        raise PackError(f"{report_dir} is not a folder")
    try:
        manifest = json.loads(_read_regular(path).decode("utf-8"))
    except FileNotFoundError as exc:
        raise PackError(f"{report_dir} has no {MANIFEST}: not an evidence pack (run segur run to make one)") from exc
    except (OSError, ValueError) as exc:
        raise PackError(f"{path} cannot be read as JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != PACK_FORMAT:
        raise PackError(f"{path} is not a {PACK_FORMAT} manifest")
    return manifest


def verify_pack(report_dir: Path, trusted: list[Path] | None = None) -> Verification:
    """Check the manifest signature, every file's hash, and every exchange's trace signature."""
    report_dir = Path(report_dir)
    manifest = read_manifest(report_dir)
    result = Verification(report_dir)
    trusted_certs = [c for path in trusted or [] for c in _read_certificates(path)]
    _check_manifest_signature(manifest, trusted_certs if trusted else None, result)
    listed: dict[str, str] = manifest.get("files", {})
    present, special = _walk_pack(report_dir)
    result.files = len(listed)
    for name, kind in special.items():
        result.altered.append(f"not a regular file: {name} ({kind})")
    for name, digest in sorted(listed.items()):
        if name in special:
            continue
        if name not in present:
            result.altered.append(f"missing: {name}")
        elif present[name] != digest:
            result.altered.append(f"altered: {name} (SHA-256 {present[name]}, manifest says {digest})")
    for name in sorted(set(present) - set(listed)):
        result.altered.append(f"added after sealing: {name}")
    if EXCHANGES in listed and EXCHANGES in present:
        _check_traces(report_dir, trusted_certs if trusted else None, result)
    return result


def _read_certificates(path: Path) -> list[Any]:
    try:
        return load_chain(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise PackError(f"--trust {path}: not a PEM certificate file ({exc})") from exc


def _check_manifest_signature(manifest: dict[str, Any], trusted: list[Any] | None, result: Verification) -> None:
    signature = manifest.get("signature")
    if not isinstance(signature, dict) or "value" not in signature:
        result.altered.append("manifest: no signature")
        return
    try:
        chain = load_chain(signature.get("signer_chain", ""))
    except ValueError:
        result.altered.append("manifest: the signer's certificate chain cannot be read")
        return
    unsigned = {k: v for k, v in manifest.items() if k != "signature"}
    if not chain or not verify_signature(chain[0], canonical_json(unsigned), signature["value"]):
        result.altered.append("manifest: the signature does not verify (the manifest was changed after sealing)")
    result.altered += [f"manifest signer: {p}" for p in chain_problems(chain, trusted)]
    if chain:
        result.signer = f"{chain[0].subject.rfc4514_string()} (SHA-256 {certificate_fingerprint(chain[0])})"
        if trusted is None:
            result.notes.append(
                f"signer not pinned: the chain ends at {chain[-1].subject.rfc4514_string()} "
                f"(SHA-256 {certificate_fingerprint(chain[-1])}); pass --trust ROOT.pem to require your own CA"
            )


def _check_traces(report_dir: Path, trusted: list[Any] | None, result: Verification) -> None:
    try:
        chain = load_chain(_read_regular(report_dir / TRACE_CHAIN))
    except (OSError, ValueError):
        result.altered.append(f"{TRACE_CHAIN}: the mocks' trace certificate cannot be read")
        return
    result.altered += [f"trace signer: {p}" for p in chain_problems(chain, trusted)]
    try:
        exchanges = load_exchanges(report_dir)
    except PackError as exc:
        result.altered.append(str(exc))
        return
    except (TypeError, KeyError) as exc:
        result.altered.append(f"{EXCHANGES}: an exchange record has the wrong shape ({exc})")
        return
    result.exchanges = len(exchanges)
    for exchange in exchanges:
        if not exchange.trace:
            result.altered.append(f"exchange {exchange.id} ({exchange.service} {exchange.operation}): no trace")
        elif not verify_signature(chain[0], exchange.trace_payload(), exchange.trace):
            result.altered.append(
                f"exchange {exchange.id} ({exchange.service} {exchange.operation}): its trace signature does not "
                "match what is recorded (the mocks did not record this exchange as it stands)"
            )
