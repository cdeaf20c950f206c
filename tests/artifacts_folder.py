"""Build a folder for ``--sut artifacts:DIR`` from what the reference SUT produces (good or broken files).

``python tests/artifacts_folder.py fixtures/sut/artifacts-example`` writes the committed example.
Broken variants break one rule each, by editing the good file, so each test knows what must fail.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from the repository
    sys.path.insert(0, str(ROOT))

from harness.run.sut.reference import MSS_MAILBOX  # noqa: E402
from harness.run.sut.reference_cda import build_n1_document  # noqa: E402
from harness.run.sut.reference_fhir import produce  # noqa: E402
from harness.run.sut.reference_insi import ACTION_PREFIX, ReferenceInsiClient  # noqa: E402
from harness.run.sut.reference_mss import ReferenceMssClient  # noqa: E402
from suites.dmp.patients import identity  # noqa: E402
from suites.ins.persons import stored_identity, traits  # noqa: E402

CDA_PATIENT = "ADRUN-ZOE"  # the patient of the cda, fhir and ins suites
MSS_PATIENT = "OUVERT"  # the patient of the mss suite
PROFESSIONAL = "claire.hospitaliere-test@harnais.mssante.fr"
# Which rule each broken file breaks, and the requirement that must then fail.
BROKEN = {
    "cda_wrong_code": "CDA-06",
    "fhir_patient_without_ins": "FHIR-02",
    "mss_missing_header": "MSS-04",
    "insi_no_message_id": "INS-01",
    "dmp_local_patient_id": "DMP-04",
}

MANIFEST = """\
# Which file answers which action: `segur run --sut artifacts:<this folder>` (README, "Handing over files").
[sut]
name = "Exemple de dossier remis"
version = "1.0"
description = "Files written by the harness's reference SUT for its test patients (tests/artifacts_folder.py)"

[[answer]]
action = "cda.produce_document"
file = "cda/note-de-consultation.xml"

[[answer]]
action = "fhir.produce_resource"
when = {{ kind = "patient", "patient.status" = "QUAL" }}
file = "fhir/patient-qualifie.json"

[[answer]]
action = "fhir.produce_resource"
when = {{ kind = "patient" }}
file = "fhir/patient-non-qualifie.json"

[[answer]]
action = "fhir.produce_resource"
when = {{ kind = "practitioner" }}
file = "fhir/professionnel.json"

[[answer]]
action = "fhir.produce_resource"
when = {{ kind = "organization" }}
file = "fhir/structure.json"

[[answer]]
action = "fhir.produce_resource"
when = {{ kind = "document-bundle" }}
file = "fhir/lot-iti65.json"

[[answer]]
action = "mss.send_document"
file = "mss/compte-rendu.eml"
recipients = ["{professional}"]

[[answer]]
action = "insi.search_by_traits"
file = "insi/recherche-traits.{insi_suffix}"

[[answer]]
action = "dmp.feed_document"
file = "dmp/alimentation-td21.http"
"""


def _insi_request(defects: frozenset[str]) -> bytes:
    client = ReferenceInsiClient(url="https://insi.invalid/lps", ssl_context=None, defects=defects)
    person = traits(CDA_PATIENT)
    body = client._traits_body(
        person["nom_naissance"], person["prenoms"], person["sexe"], person["date_naissance"], person["lieu_naissance"]
    )
    return client._envelope("rechercherInsAvecTraitsIdentite", body)


def _raw_http(envelope: bytes) -> bytes:
    head = (
        "POST /lps HTTP/1.1\r\nHost: insi.invalid\r\n"
        "Content-Type: application/soap+xml; charset=utf-8; "
        f'action="{ACTION_PREFIX}rechercherInsAvecTraitsIdentite"\r\n'
        f"Content-Length: {len(envelope)}\r\n\r\n"
    )
    return head.encode("ascii") + envelope


def _har(envelope: bytes) -> bytes:
    entry = {
        "startedDateTime": "2026-01-05T10:00:00.000+01:00",
        "time": 0,
        "request": {
            "method": "POST",
            "url": "https://insi.invalid/lps",
            "httpVersion": "HTTP/1.1",
            "headers": [{"name": "Content-Type", "value": "application/soap+xml; charset=utf-8"}],
            "queryString": [],
            "cookies": [],
            "headersSize": -1,
            "bodySize": len(envelope),
            "postData": {"mimeType": "application/soap+xml", "text": envelope.decode("utf-8")},
        },
        "response": {
            "status": 0,
            "statusText": "",
            "httpVersion": "",
            "headers": [],
            "cookies": [],
            "content": {"size": 0, "mimeType": ""},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": -1,
        },
        "cache": {},
        "timings": {"send": 0, "wait": 0, "receive": 0},
    }
    return json.dumps(
        {"log": {"version": "1.2", "creator": {"name": "example", "version": "1"}, "entries": [entry]}}, indent=1
    ).encode()


def recorded_dmp_feed(data: Path | None, defects: frozenset[str] = frozenset()) -> bytes:
    """The TD2.1 request the reference SUT sends the DMP mock for the mss patient, as raw HTTP.

    ``data`` is the harness data folder (None: a temporary one); its PKI signs the VIHF.
    """
    from harness.core import pki
    from harness.run.environment import HarnessEnvironment
    from harness.run.sut.base import SutContext
    from harness.run.sut.reference import ReferenceSut

    with HarnessEnvironment(data) as env:
        work = env.data_dir
        key = env.new_session_key("artifacts-folder")
        client = env.pki.client("insi-auto")
        context = SutContext(
            key, env.endpoints_for(key), env.pki.ca_bundle, client.cert_pem, client.key_pem, client.p12,
            pki.P12_PASSWORD, work, env.pki.directory,
        )  # fmt: skip
        params = {"patient": identity(MSS_PATIENT), "title": "Compte rendu de consultation", "masking": []}
        ReferenceSut(defects).perform("dmp.feed_document", params, context)
        [feed] = [e for e in env.store.exchanges(session_key=key, service="dmp") if e.operation == "TD2.1"]
    headers = {k.lower(): v for k, v in feed.request_meta["headers"].items()}
    path = re.sub(r"^/s/[^/]+", "", feed.request_meta["path"])  # the harness's routing key is no part of it
    head = f"POST {path} HTTP/1.1\r\nHost: dmp.invalid\r\n"
    head += f"Content-Type: {headers['content-type']}\r\nContent-Length: {len(feed.request_body)}\r\n\r\n"
    return head.encode("latin-1") + feed.request_body


def _message(broken: set[str]) -> bytes:
    client = ReferenceMssClient(
        smtp="",
        imap="",
        ssl_context=None,
        mailbox=MSS_MAILBOX,
        password=None,
        known_patients={},  # type: ignore[arg-type]
    )
    raw = client._document_message(identity(MSS_PATIENT), [PROFESSIONAL], "Compte rendu")
    if "mss_missing_header" in broken:
        raw = raw.replace(b"X-MSS-INS: O\r\n", b"")
    return raw


def _json(resource: dict[str, Any]) -> bytes:
    return json.dumps(resource, ensure_ascii=False, indent=1).encode("utf-8")


def write_folder(
    folder: Path,
    broken: set[str] = frozenset(),  # type: ignore[assignment]
    *,
    insi_format: str = "http",
    data: Path | None = None,
) -> Path:
    """Write the files and manifest.toml into ``folder``; ``broken`` names keys of :data:`BROKEN`.

    ``data`` is the harness data folder (its PKI) the reference SUT's DMP feed is recorded with.
    """
    unknown = set(broken) - set(BROKEN)
    if unknown:
        raise ValueError(f"unknown broken files {sorted(unknown)}")
    patient, recup = stored_identity(CDA_PATIENT), stored_identity(CDA_PATIENT, status="RECUP")
    cda_defects = frozenset({"cda_local_document_code"}) if "cda_wrong_code" in broken else frozenset()
    qualified = produce("patient", {"patient": patient}, frozenset())
    if "fhir_patient_without_ins" in broken:
        qualified["identifier"] = [i for i in qualified.get("identifier", []) if i.get("value") != patient["ins"]]
        if not qualified["identifier"]:
            del qualified["identifier"]
    envelope = _insi_request(frozenset({"no_message_id"}) if "insi_no_message_id" in broken else frozenset())
    files = {
        "cda/note-de-consultation.xml": build_n1_document(patient, cda_defects, title="Note de consultation"),
        "fhir/patient-qualifie.json": _json(qualified),
        "fhir/patient-non-qualifie.json": _json(produce("patient", {"patient": recup}, frozenset())),
        "fhir/professionnel.json": _json(produce("practitioner", {}, frozenset())),
        "fhir/structure.json": _json(produce("organization", {}, frozenset())),
        "fhir/lot-iti65.json": _json(
            produce("document-bundle", {"patient": patient, "title": "Compte rendu de consultation"}, frozenset())
        ),
        "mss/compte-rendu.eml": _message(set(broken)),
        f"insi/recherche-traits.{insi_format}": _har(envelope) if insi_format == "har" else _raw_http(envelope),
        "dmp/alimentation-td21.http": recorded_dmp_feed(
            data,
            frozenset({"xds_local_patient_id"}) if "dmp_local_patient_id" in broken else frozenset(),
        ),
    }
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    manifest = MANIFEST.format(professional=PROFESSIONAL, insi_suffix=insi_format)
    (folder / "manifest.toml").write_text(manifest, encoding="utf-8")
    return folder


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "fixtures" / "sut" / "artifacts-example")
    target.mkdir(parents=True, exist_ok=True)
    print(write_folder(target))
