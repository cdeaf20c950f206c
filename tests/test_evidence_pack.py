"""The evidence pack: signed manifest, mock traces, verify, diff, rejudge and attest, end to end."""

from __future__ import annotations

import io
import json
import shutil
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from harness import cli
from harness.core import pki
from harness.core.recorder import Exchange, ExchangeStore
from harness.core.signing import Signer, canonical_json, sha256_hex
from harness.evidence import pack as evidence
from harness.run.runner import RunOptions, run


def segur(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        status = cli.main(list(argv))
    return status, out.getvalue()


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory) -> tuple[Path, Path]:
    """One run of the reference product on every suite: (report folder, data folder)."""
    base = tmp_path_factory.mktemp("pack")
    options = RunOptions(report_dir=base / "report", data_dir=base / "data")
    assert run(options, out=io.StringIO()) == 0
    return base / "report", base / "data"


@pytest.fixture
def pack(reference_run, tmp_path) -> Path:
    """A copy of the reference pack that a test may damage."""
    return Path(shutil.copytree(reference_run[0], tmp_path / "pack"))


def resign_manifest(pack: Path, files: dict[str, str] | None = None, signer: Signer | None = None) -> None:
    """What a forger can do: rewrite the manifest's hashes, and sign it with a key of their own."""
    manifest = json.loads((pack / evidence.MANIFEST).read_text(encoding="utf-8"))
    original_signature = manifest.pop("signature")
    if files:
        manifest["files"].update(files)
    if signer is None:  # without the key: the old signature is all they have
        (pack / evidence.MANIFEST).write_text(json.dumps({**manifest, "signature": original_signature}))
        return
    manifest["signature"] = {
        "algorithm": signer.algorithm,
        "signer_fingerprint": signer.fingerprint,
        "signer_chain": signer.chain_pem,
        "value": signer.sign(canonical_json(manifest)),
    }
    (pack / evidence.MANIFEST).write_text(json.dumps(manifest))


def test_a_run_leaves_a_signed_pack_of_every_exchange_and_file(reference_run):
    report, data = reference_run
    manifest = json.loads((report / evidence.MANIFEST).read_text(encoding="utf-8"))
    assert manifest["format"] == evidence.PACK_FORMAT
    assert {"report.json", "report.html", "junit.xml", evidence.EXCHANGES, evidence.TESTS} <= set(manifest["files"])
    assert manifest["run"]["exit_code"] == 0 and manifest["rules"]["catalog_sha256"]
    assert "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-ins" in manifest["rules"]["fhir_profiles"]
    store = ExchangeStore(data / "exchanges.sqlite3")
    recorded = store.exchanges()
    store.close()
    listed = json.loads((report / evidence.EXCHANGES).read_text(encoding="utf-8"))
    assert len(listed) == len(recorded) > 50
    for exchange in recorded:
        assert (report / evidence.BLOBS / sha256_hex(exchange.request_body)).read_bytes() == exchange.request_body
        assert exchange.trace, "every recorded exchange carries the mock's trace signature"
    status, out = segur("report", "verify", str(report), "--trust", str(data / "pki" / "ca" / "root.pem"))
    assert status == 0, out
    assert "intact" in out and "not pinned" not in out


def exchange_bodies(pack: Path) -> list[str]:
    """The blobs that are bodies of recorded exchanges, in the order the exchanges were recorded."""
    records = json.loads((pack / evidence.EXCHANGES).read_text(encoding="utf-8"))
    return [r[f"{side}_sha256"] for r in records for side in ("request", "response")]


def test_verify_names_each_altered_missing_or_added_file(pack):
    # Not simply the first blob by name: some blobs are what the product answered (interaction
    # logs of tests.json), covered by the manifest but by no trace signature, and which blob
    # sorts first depends on the run's timestamps; the first exchange's request body is always one.
    blob = pack / evidence.BLOBS / exchange_bodies(pack)[0]
    blob.write_bytes(blob.read_bytes() + b" ")
    (pack / "junit.xml").unlink()
    (pack / "report.json").write_text((pack / "report.json").read_text().replace('"pass"', '"fail"', 1))
    (pack / "extra.txt").write_text("slipped in")
    status, out = segur("report", "verify", str(pack))
    assert status == 1
    assert f"altered: evidence/blobs/{blob.name}" in out
    assert "altered: report.json" in out and "missing: junit.xml" in out and "added after sealing: extra.txt" in out
    assert "its trace signature does not match" in out  # the exchange whose body changed is named too


def test_an_altered_product_answer_blob_is_caught_by_the_manifest(pack):
    """A blob of tests.json (a message the product delivered, a file it wrote) has no trace signature.

    The signed manifest covers it; that no exchange is named is why the test above, when it
    altered the first blob by name, failed on the runs where that blob was one of these.
    """
    bodies = set(exchange_bodies(pack))
    answers = sorted(p for p in (pack / evidence.BLOBS).iterdir() if p.name not in bodies)
    assert answers, "the reference run records the product's MSSanté deliveries as blobs"
    answers[0].write_bytes(answers[0].read_bytes() + b" ")
    status, out = segur("report", "verify", str(pack))
    assert status == 1 and f"altered: evidence/blobs/{answers[0].name}" in out
    assert "trace signature does not match" not in out


def test_an_exchange_rewritten_with_fresh_hashes_fails_on_the_signatures(pack):
    records = json.loads((pack / evidence.EXCHANGES).read_text(encoding="utf-8"))
    records[0]["outcome"] = "fault" if records[0]["outcome"] != "fault" else "ok"
    data = (json.dumps(records, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode()
    (pack / evidence.EXCHANGES).write_bytes(data)
    resign_manifest(pack, {evidence.EXCHANGES: sha256_hex(data)})
    status, out = segur("report", "verify", str(pack))
    assert status == 1
    assert "manifest: the signature does not verify" in out
    assert f"exchange {records[0]['id']}" in out and "trace signature does not match" in out


def test_a_forger_with_their_own_pki_is_caught_by_pinning(pack, reference_run, tmp_path):
    """Re-signing everything with another harness PKI verifies only when nobody pins the signer."""
    forger = pki.load_or_create_pki(tmp_path / "forger")
    trace_signer = Signer(forger.signers["trace"])
    exchanges = evidence.load_exchanges(pack)
    forged: Exchange = exchanges[0]
    forged.response_body = b"<fabricated/>"
    for exchange in exchanges:
        exchange.trace = trace_signer.sign(exchange.trace_payload())
    shutil.rmtree(pack / evidence.EVIDENCE)
    evidence.export_exchanges(exchanges, pack, forger.signers["trace"].cert_pem.read_text())
    evidence.export_trusted_cas(pack, [forger.root_ca_pem.read_bytes()])
    evidence.write_tests(pack, {})
    evidence.seal(pack, Signer(forger.signers["evidence"]), run={"forged": True})

    status, out = segur("report", "verify", str(pack))
    assert status == 0 and "not pinned" in out  # self-consistent, and said to be unpinned
    status, out = segur("report", "verify", str(pack), "--trust", str(reference_run[1] / "pki" / "ca" / "root.pem"))
    assert status == 1
    assert "manifest signer: the signer's chain ends at" in out and "trace signer:" in out


def test_verify_refuses_what_is_not_a_pack(tmp_path, capsys):
    assert cli.main(["report", "verify", str(tmp_path)]) == 2
    assert "not an evidence pack" in capsys.readouterr().err
    (tmp_path / "manifest.json").write_text("{not json")
    assert cli.main(["report", "verify", str(tmp_path)]) == 2


def test_two_runs_of_the_same_product_do_not_differ_and_a_defect_is_a_regression(reference_run, tmp_path):
    again = tmp_path / "again"
    assert run(RunOptions(report_dir=again), out=io.StringIO()) == 0
    status, out = segur("report", "diff", str(reference_run[0]), str(again), "--strict")
    assert (status, out.startswith("No change")) == (0, True), out

    defective = tmp_path / "defective"
    run(RunOptions(suites="ins", report_dir=defective, defects=["no_message_id"]), out=io.StringIO())
    status, out = segur("report", "diff", str(reference_run[0] / "report.json"), str(defective), "--format", "json")
    diff = json.loads(out)
    assert status == 1
    assert {"requirement": "INS-01", "old": "pass", "new": "fail"}.items() <= diff["regressions"][0].items()
    assert any(f["rule"] == "insi.wsa-messageid" for f in diff["new_findings"])
    assert "MSS-01" in diff["removed_requirements"]  # the defective run did not run the mss suite
    status, _ = segur("report", "diff", str(defective), str(reference_run[0]))
    assert status == 0  # an improvement is no regression


def test_a_data_folder_used_again_gives_each_run_only_its_own_exchanges(tmp_path):
    """The store of a kept --data-dir holds every earlier run's exchanges: none of them is this run's evidence."""

    def sessions_and_count(report_dir: Path) -> tuple[set[str], int]:
        recorded = evidence.load_exchanges(report_dir)
        return {e.session_key or "" for e in recorded}, len(recorded)

    data = tmp_path / "data"
    for name in ("first", "second"):
        assert run(RunOptions(suites="ins", report_dir=tmp_path / name, data_dir=data), out=io.StringIO()) == 0
    first, first_count = sessions_and_count(tmp_path / "first")
    second, second_count = sessions_and_count(tmp_path / "second")
    store = ExchangeStore(data / "exchanges.sqlite3")
    held = len(store.exchanges())
    store.close()
    assert first_count and held == first_count + second_count, "the store keeps both runs"
    assert first.isdisjoint(second), "the second pack carries none of the first run's sessions"
    report = json.loads((tmp_path / "second" / "report.json").read_text(encoding="utf-8"))
    assert len(report["exchanges"]) == second_count
    assert segur("report", "verify", str(tmp_path / "second"))[0] == 0


def test_diff_refuses_folders_without_a_report(tmp_path, capsys):
    assert cli.main(["report", "diff", str(tmp_path), str(tmp_path)]) == 2
    assert "report.json" in capsys.readouterr().err


def test_rejudging_an_untouched_pack_reproduces_every_verdict(reference_run):
    status, out = segur("rejudge", str(reference_run[0]), "--format", "json")
    result = json.loads(out)
    assert status == 0, out
    assert result["flips"] == [] and result["new_findings"] == [] and result["not_rejudged"] == {}
    assert result["pack_intact"] is True


def test_rejudging_with_changed_rules_shows_the_flips(tmp_path, monkeypatch):
    pack = tmp_path / "pack"
    run(RunOptions(suites="ins", report_dir=pack, defects=["no_message_id"]), out=io.StringIO())
    from harness.run.verify import insi

    monkeypatch.setattr(insi, "check_addressing", lambda exchanges: [])  # a rule relaxed since the run
    status, out = segur("rejudge", str(pack))
    assert status == 1
    assert "INS-01   fail -> pass" in out and "vanished" in out


def test_a_reviewer_attests_an_item_no_test_can_judge(pack, reference_run, tmp_path, capsys):
    screenshot = tmp_path / "ecran statut INS.png"
    screenshot.write_bytes(b"\x89PNG\r\n\x1a\nfake screenshot")
    reviewer_data = tmp_path / "reviewer"
    args = ["attest", str(pack), "INS-15", "--reviewer", "Camille Relectrice", "--verdict", "pass"]
    status = cli.main([*args, "--file", str(screenshot), "--data-dir", str(reviewer_data), "--comment", "vu"])
    assert status == 0, capsys.readouterr().err
    report = json.loads((pack / "report.json").read_text(encoding="utf-8"))
    item = next(r for r in report["requirements"] if r["id"] == "INS-15")
    assert item["outcome"] == "pass" and item["attestation"]["reviewer"] == "Camille Relectrice"
    stored = pack / evidence.ATTESTATIONS / item["attestation"]["file"]
    assert stored.read_bytes() == screenshot.read_bytes()
    assert "Camille Relectrice" in (pack / "report.html").read_text(encoding="utf-8")
    assert (pack / evidence.ATTESTATIONS / "previous-manifests" / "manifest-1.json").is_file()
    # The mocks' traces stay under the run's PKI, the seal is now the reviewer's: both are pinned.
    trusted = ["--trust", str(reviewer_data / "pki" / "ca" / "root.pem")]
    assert cli.main(["report", "verify", str(pack), *trusted]) == 1
    trusted += ["--trust", str(reference_run[1] / "pki" / "ca" / "root.pem")]
    assert cli.main(["report", "verify", str(pack), *trusted]) == 0


@pytest.mark.parametrize(
    ("requirement", "extra", "message"),
    [
        ("INS-01", [], "judged by automated tests"),
        ("INS-99", [], "INS-"),
        ("INS-15", ["--data-dir", ""], "--data-dir"),
    ],
)
def test_attest_refuses_bad_requests(pack, tmp_path, capsys, monkeypatch, requirement, extra, message):
    monkeypatch.delenv("SEGUR_DATA_DIR", raising=False)
    proof = tmp_path / "proof.txt"
    proof.write_text("proof")
    base = ["attest", str(pack), requirement, "--reviewer", "R", "--verdict", "fail", "--file", str(proof)]
    data = extra or ["--data-dir", str(tmp_path / "reviewer")]
    assert cli.main(base + data) == 2
    assert message in capsys.readouterr().err


def test_attest_refuses_an_altered_pack(pack, tmp_path, capsys):
    (pack / "report.html").write_text("changed")
    proof = tmp_path / "proof.txt"
    proof.write_text("proof")
    args = ["attest", str(pack), "INS-15", "--reviewer", "R", "--verdict", "pass", "--file", str(proof)]
    assert cli.main([*args, "--data-dir", str(tmp_path / "d")]) == 2
    assert "altered" in capsys.readouterr().err


def test_http_mocks_name_the_signed_exchange_in_every_answer(tmp_path):
    """X-Segur-Trace lets a product's logs cite the very exchange the pack holds."""
    import ssl

    import httpx

    from harness.core.signing import load_chain, verify_signature
    from harness.run.environment import HarnessEnvironment
    from mock_services.common import TRACE_HEADER

    with HarnessEnvironment(tmp_path / "data") as env:
        trace_cert = load_chain(env.pki.signers["trace"].cert_pem.read_bytes())[0]
        answers = []
        with httpx.Client(verify=ssl.create_default_context(cafile=str(env.pki.ca_bundle)), timeout=10) as http:
            answers.append(http.post(env.endpoint("insi", "k1"), content=b"<not-soap/>"))
            answers.append(http.post(env.endpoint("dmp", "k1") + "/patient", content=b"<not-soap/>"))
            answers.append(http.get(env.endpoint("psc", "k1") + "/.well-known/openid-configuration"))
        for answer in answers:
            exchange = env.store.get(answer.headers[TRACE_HEADER])
            assert exchange.response_body == answer.content
            assert verify_signature(trace_cert, exchange.trace_payload(), exchange.trace)
