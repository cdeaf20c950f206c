"""The DMP's business behaviour, one method per transaction (TD0.2 to TD3.3): :class:`Transactions`
seeds a realm on its first request, runs the transaction and turns a business error into the
answer the DMP gives for that transaction.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from harness.core.recorder import FAULT
from harness.protocols import mtom
from mock_services.dmp import messages
from mock_services.dmp.transactions.authorisations import AuthorisationTransactions
from mock_services.dmp.transactions.consultation import ConsultationTransactions
from mock_services.dmp.transactions.feeding import FeedingTransaction
from mock_services.dmp.transactions.model import Actor, Answer, BusinessError, Refusal
from mock_services.dmp.transactions.seed import Seeding
from mock_services.dmp.transactions.updates import UpdateTransaction


class Transactions(AuthorisationTransactions, FeedingTransaction, ConsultationTransactions, UpdateTransaction, Seeding):
    """The DMP's transactions over one registry, patient base and fault table."""

    def run(
        self,
        transaction: str,
        realm: str,
        payload: etree._Element,
        attachments: mtom.MultipartMessage | None,
        actor: Actor,
        message_id: str | None,
        summary: dict[str, Any],
    ) -> Answer:
        if self.registry.claim_realm(realm):
            self._seed(realm)
        handler = {
            "TD0.2": self.td02_test_existence,
            "TD0.3": self.td03_set_authorisation,
            "TD0.4": self.td04_authorised_patients,
            "TD2.1": self.td21_provide_and_register,
            "TD3.1": self.td31_stored_query,
            "TD3.2": self.td32_retrieve,
            "TD3.3": self.td33_update,
        }[transaction]
        try:
            return handler(realm, payload, attachments, actor, summary)
        except BusinessError as error:
            spec = self.faults[error.situation]
            summary["fault"] = {"situation": error.situation, "code": spec.code, "detail": error.detail}
            if spec.kind == "soap" or transaction in ("TD0.3", "TD0.4"):
                body = messages.soap_fault(spec, message_id, error.detail)
                raise Refusal(400, body, FAULT, summary["fault"] | {"reason": spec.message}) from None
            if transaction == "TD3.1":
                return Answer(messages.query_failure(spec, error.detail), FAULT)
            if transaction == "TD3.2":
                return Answer(messages.retrieve_response([], [(spec, error.detail)]), FAULT)
            return Answer(messages.registry_failure(spec, error.location, error.detail), FAULT)
