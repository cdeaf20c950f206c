"""The ``reference`` SUT: the harness's own compliant clients, with optional named defects."""

from __future__ import annotations

import base64
import difflib
import time
from typing import Any

from harness import pki
from harness.sut.actions import check_answer
from harness.sut.base import ActionNotSupported, ActionResult, SutConfigError, SutContext
from harness.sut.reference_cda import CDA_DEFECTS, build_n1_document
from harness.sut.reference_insi import INSI_DEFECTS, ReferenceInsiClient
from harness.sut.reference_psc import PSC_DEFECTS, ReferencePscClient

REFERENCE_DEFECTS: dict[str, str] = {**INSI_DEFECTS, **PSC_DEFECTS, **CDA_DEFECTS}


class ReferenceSut:
    """Performs every documented action with the built-in clients."""

    name = "reference"

    def __init__(self, defects: frozenset[str] = frozenset()):
        unknown = sorted(set(defects) - set(REFERENCE_DEFECTS))
        if unknown:
            hints = [
                f"{name} (did you mean {', '.join(close)}?)" if close else name
                for name in unknown
                for close in [difflib.get_close_matches(name, list(REFERENCE_DEFECTS), n=2)]
            ]
            raise SutConfigError(f"unknown reference defects: {', '.join(hints)}; `segur sut defects` lists them")
        self.defects = frozenset(defects)
        self._layout: pki.PkiLayout | None = None
        self._psc_clients: dict[str, ReferencePscClient] = {}  # one relying-party session per test

    def describe(self) -> dict[str, Any]:
        return {
            "name": "Client de référence segur-harness",
            "kind": "reference",
            "defects": sorted(self.defects),
        }

    def _pki(self, context: SutContext) -> pki.PkiLayout:
        if self._layout is None or self._layout.directory != context.pki_dir:
            self._layout = pki.load_or_create_pki(context.pki_dir)
        return self._layout

    def _insi_client(self, context: SutContext) -> ReferenceInsiClient:
        layout = self._pki(context)
        client_name = "wrong-cn" if "wrong_certificate_cn" in self.defects else "insi-auto"
        return ReferenceInsiClient(
            url=context.endpoints["insi"],
            ssl_context=pki.client_ssl_context(layout, client_name),
            defects=self.defects,
        )

    def _psc_client(self, context: SutContext) -> ReferencePscClient:
        client = self._psc_clients.get(context.session_key)
        if client is None:
            layout = self._pki(context)
            client = ReferencePscClient(context.endpoints["psc"], pki.client_ssl_context(layout, None), self.defects)
            self._psc_clients = {context.session_key: client}  # earlier tests' sessions are over
        return client

    def perform(self, action: str, params: dict[str, Any], context: SutContext) -> ActionResult:
        started = time.perf_counter()
        if action.startswith("psc."):
            client = self._psc_client(context)
            handlers = {
                "psc.authorization_url": client.authorization_url,
                "psc.refresh": client.refresh,
                "psc.logout_url": client.logout_url,
            }
            data = client.callback(params["url"]) if action == "psc.callback" else handlers[action]()
            return ActionResult(action, params, check_answer(action, data), time.perf_counter() - started)
        if action == "insi.search_by_traits":
            data = self._insi_client(context).search_by_traits(**params)
        elif action == "insi.search_by_carte_vitale":
            data = self._insi_client(context).search_by_carte_vitale(**params)
        elif action == "insi.verify_identity":
            data = self._insi_client(context).verify_identity(params["identity"])
        elif action == "identity.export":
            data = self._insi_client(context).export_identifiers(params["identity"])
        elif action == "cda.produce_document":
            document = build_n1_document(params["patient"], self.defects, title=params["title"])
            data = {"outcome": "produced", "document": base64.b64encode(document).decode("ascii")}
        else:
            raise ActionNotSupported(f"the reference SUT has no action {action!r}")
        return ActionResult(action, params, check_answer(action, data), time.perf_counter() - started)
