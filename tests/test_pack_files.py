"""`segur report verify` judges every entry of a pack: links, FIFOs and other special files are failures."""

from __future__ import annotations

import io
import os
import socket
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from harness import cli
from harness.core import pki
from harness.core.signing import Signer
from harness.evidence import pack as evidence


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> Signer:
    return Signer(pki.load_or_create_pki(tmp_path_factory.mktemp("pki")).signers["evidence"])


@pytest.fixture
def pack(tmp_path: Path, signer: Signer) -> Path:
    folder = tmp_path / "report"
    (folder / "evidence" / "blobs").mkdir(parents=True)
    (folder / "report.json").write_text('{"verdict": "conforme"}')
    (folder / "evidence" / "blobs" / "b1").write_bytes(b"body")
    evidence.seal(folder, signer, run={"run_id": "r1"}, rules={})
    assert evidence.verify_pack(folder).intact
    return folder


def verify(folder: Path) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        status = cli.main(["report", "verify", str(folder)])
    return status, out.getvalue()


def test_a_symbolic_link_with_the_same_bytes_is_a_failure(pack: Path, tmp_path: Path):
    outside = tmp_path / "outside.json"
    outside.write_bytes((pack / "report.json").read_bytes())
    (pack / "report.json").unlink()
    (pack / "report.json").symlink_to(outside)  # same bytes, but they now live outside the pack
    (pack / "evidence" / "elsewhere").symlink_to(tmp_path, target_is_directory=True)
    result = evidence.verify_pack(pack)
    assert not result.intact
    assert "not a regular file: report.json (symbolic link)" in result.altered
    assert "not a regular file: evidence/elsewhere (symbolic link)" in result.altered
    status, out = verify(pack)
    assert status == 1 and "symbolic link" in out


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes need a POSIX system")
def test_a_fifo_is_a_failure_and_never_read(pack: Path):
    blob = pack / "evidence" / "blobs" / "b1"
    blob.unlink()
    os.mkfifo(blob)  # reading it would block verification for ever
    os.mkfifo(pack / "evidence" / "added")
    result = evidence.verify_pack(pack)
    assert "not a regular file: evidence/blobs/b1 (named pipe (FIFO))" in result.altered
    assert "not a regular file: evidence/added (named pipe (FIFO))" in result.altered


def test_a_socket_is_a_failure(pack: Path):
    path = pack / "evidence" / "s"
    if len(str(path)) > 100:
        pytest.skip("the temporary folder's path is too long for a Unix socket name")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(path))
        assert "not a regular file: evidence/s (socket)" in evidence.verify_pack(pack).altered


def test_a_manifest_json_below_the_root_is_judged_like_any_file(pack: Path):
    (pack / "evidence" / "manifest.json").write_text("{}")
    assert "added after sealing: evidence/manifest.json" in evidence.verify_pack(pack).altered
