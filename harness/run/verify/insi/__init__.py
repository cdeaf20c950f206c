"""Verifiers of the ``ins`` suite: what the product sent to INSi and what it kept.

They read the raw recorded bytes (not the mock's own summary), so a verdict depends only on
the recordings and these rules, and a past run can be judged again. ``exchanges`` reads the
recorded calls, ``requests`` judges what the product sent (INS-01 to INS-04, INS-08),
``answers`` what it did with INSi's answer, behind the precondition that blames the request.
"""

from __future__ import annotations

from harness.run.verify.insi.answers import (
    check_export,
    check_failed_verification_downgrades,
    check_incomplete_answer_not_imported,
    check_kept_identity,
    check_no_identity_kept,
    check_status,
    request_gates,
    require_answer,
    response_with_identity,
)
from harness.run.verify.insi.exchanges import (
    NS,
    OPERATIONS,
    InsiResponse,
    business_exchanges,
    no_exchange,
    read_response,
    where,
)
from harness.run.verify.insi.requests import (
    ACTION_PREFIX,
    ALLOWED_CNS,
    ISO_DATE,
    MESSAGE_ID,
    check_addressing,
    check_authentication,
    check_carte_vitale_request,
    check_contexts,
    check_traits_request,
)

__all__ = [
    "ACTION_PREFIX",
    "ALLOWED_CNS",
    "ISO_DATE",
    "MESSAGE_ID",
    "NS",
    "OPERATIONS",
    "InsiResponse",
    "business_exchanges",
    "check_addressing",
    "check_authentication",
    "check_carte_vitale_request",
    "check_contexts",
    "check_export",
    "check_failed_verification_downgrades",
    "check_incomplete_answer_not_imported",
    "check_kept_identity",
    "check_no_identity_kept",
    "check_status",
    "check_traits_request",
    "no_exchange",
    "read_response",
    "request_gates",
    "require_answer",
    "response_with_identity",
    "where",
]
