"""The ``artifacts`` SUT: a folder of files the product produced, judged without the product running.

``--sut artifacts:DIR`` reads ``DIR/manifest.toml`` (:mod:`harness.run.sut.artifacts_manifest`)
saying which file answers which action: CDA documents (or the XDM archive holding one), FHIR
resources and bundles, RFC 5322 messages, and recorded INSi or DMP (TD2.1) requests (HAR, raw
HTTP, or the SOAP envelope alone). Documents and resources are answered as the product's own file; messages
and recorded requests are stored as this test's exchanges, marked as handed over, so the
verifiers of live traffic judge their bytes and :func:`harness.run.verify.recorded.require_live`
skips what only a live exchange shows. An action no file answers is not evaluated, with the reason.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

from harness.protocols import mssmail
from harness.protocols.cda_document import NotACda, read_cda
from harness.protocols.xdm import NotAnXdm, read_xdm
from harness.run.sut.actions import check_answer
from harness.run.sut.artifacts_exchanges import mail_exchange, read_bytes, recorded_exchanges
from harness.run.sut.artifacts_manifest import FORMATS, ArtifactAnswer, load_manifest
from harness.run.sut.base import ActionNotSupported, ActionResult, SutConfigError, SutContext, SutFailure
from harness.run.verify.recorded import RECORDED_OUTCOME

PREFIX = "artifacts:"


class ArtifactsSut:
    """Answers each action with the file the manifest names; see the module docstring."""

    name = "artifacts"

    def __init__(self, folder: Path):
        self.folder = folder.resolve()
        self.manifest = load_manifest(self.folder)

    def describe(self) -> dict[str, Any]:
        sut = self.manifest.sut
        return {
            "name": sut.get("name", self.folder.name),
            "version": sut.get("version", ""),
            "description": sut.get("description", ""),
            "kind": "artifacts",
            "folder": str(self.folder),
            "actions": sorted({a.action for a in self.manifest.answers}),
        }

    def _shown(self, answer: ArtifactAnswer) -> str:
        return answer.path.relative_to(self.folder).as_posix()

    def perform(self, action: str, params: dict[str, Any], context: SutContext) -> ActionResult:
        started = time.perf_counter()
        answer = self.manifest.answer_for(action, params)
        if answer is None:
            raise self._not_answered(action, params)
        shown = self._shown(answer)
        if answer.format == "xdm":
            data: dict[str, Any] = {"outcome": "produced", "document": self._cda_of_xdm(answer, shown)}
        elif answer.format in ("cda", "fhir"):
            data = {"outcome": "produced", "path": str(answer.path)}
        else:
            if context.record_exchange is None:
                raise SutConfigError(f"{action}: the artifacts SUT records exchanges only within a harness run")
            if answer.format == "rfc5322":
                exchange = mail_exchange(answer.path, answer.recipients, context.session_key, shown)
                context.record_exchange(exchange)
                message_id = mssmail.parse(exchange.request_body).get("Message-ID")
                data = {"outcome": "sent", "message_id": message_id, "file": shown}
            else:
                service = action.split(".")[0]
                exchanges = recorded_exchanges(service, answer.path, answer.format, context.session_key, shown)
                for exchange in exchanges:
                    context.record_exchange(exchange)
                # What the product then kept was not recorded: only a live exchange shows it.
                return ActionResult(
                    action,
                    params,
                    {"outcome": RECORDED_OUTCOME, "file": shown, "exchanges": len(exchanges)},
                    time.perf_counter() - started,
                    notes=[f"answered by the recorded exchange {shown}"],
                )
        return ActionResult(
            action,
            params,
            check_answer(action, data),
            time.perf_counter() - started,
            notes=[f"answered by {shown}"],
        )

    def _not_answered(self, action: str, params: dict[str, Any]) -> ActionNotSupported:
        name = self.manifest.path.name
        if action not in FORMATS:
            return ActionNotSupported(
                f"{action} needs the live product (a live exchange with the harness's mocks): "
                f"the artifacts SUT answers only {', '.join(sorted(FORMATS))}",
                f"{action} demande le produit en direct (un échange en direct avec les simulateurs du harnais) : "
                f"le SUT artifacts ne répond qu'à {', '.join(sorted(FORMATS))}",
            )
        wanted = [a for a in self.manifest.answers if a.action == action]
        if not wanted:
            return ActionNotSupported(
                f"{name} names no file answering {action}", f"{name} ne nomme aucun fichier répondant à {action}"
            )
        conditions = "; ".join(", ".join(f"{k}={v}" for k, v in a.when.items()) for a in wanted)
        asked = ", ".join(f"{k}={v!r}" for k, v in params.items() if not isinstance(v, dict | list))
        return ActionNotSupported(
            f"{name}: no file answers {action} for these parameters ({asked}); its answers are for {conditions}",
            f"{name} : aucun fichier ne répond à {action} pour ces paramètres ({asked}) ; ses réponses sont pour "
            f"{conditions}",
        )

    def _cda_of_xdm(self, answer: ArtifactAnswer, shown: str) -> str:
        """The CDA document of an XDM archive, base64 as a product would answer it."""
        try:
            documents = read_xdm(read_bytes(answer.path)).documents()
        except NotAnXdm as exc:
            raise SutFailure(
                f"{shown} is not a readable XDM archive: {exc}", f"{shown} n'est pas une archive XDM lisible : {exc}"
            ) from None
        for content in documents.values():
            try:
                read_cda(content)
            except NotACda:
                continue
            return base64.b64encode(content).decode("ascii")
        raise SutFailure(f"{shown} holds no CDA document", f"{shown} ne contient aucun document CDA")


def load_artifacts_sut(spec: str) -> ArtifactsSut:
    """``artifacts:DIR``, the folder holding ``manifest.toml``."""
    folder = spec.removeprefix(PREFIX)
    if not folder:
        raise SutConfigError("--sut artifacts:DIR needs the folder, e.g. --sut artifacts:./my-files")
    return ArtifactsSut(Path(folder))
