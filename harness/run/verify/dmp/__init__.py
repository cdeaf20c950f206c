"""Verifiers of the ``dmp`` suite: what the product sent to the DMP and how it used the answers.

``requests`` reads the recorded DMPi calls; ``transport`` judges SOAP, WS-Addressing, TLS, MTOM and
the VIHF (DMP-01 to DMP-03); ``feeding`` feeding without TD0.3 and on hold (DMP-14, DMP-15);
``documents`` judges consultation and document management
(DMP-09 to DMP-12) against what the registry returned; ``psc`` a call for a user logged in with
PSC through the PSC -> VIHF proxy (DMP-30). They read the raw recorded bytes only.
"""

from __future__ import annotations

from harness.run.verify.dmp.documents import check_consultation, check_masking, check_replacement, check_status_change
from harness.run.verify.dmp.feeding import check_no_authorisation_for_feeding, check_send_on_hold
from harness.run.verify.dmp.psc import check_dmp_calls, check_proxy_calls
from harness.run.verify.dmp.relay import check_relay
from harness.run.verify.dmp.requests import (
    ACTIONS,
    FATAL_VIHF,
    DmpRequest,
    none_recorded,
    read_request,
    registry_entries,
    requests,
    response_payload,
    succeeded,
)
from harness.run.verify.dmp.transport import (
    MESSAGE_ID,
    check_transport,
    check_vihf_attributes,
    check_vihf_signature,
)

__all__ = [
    "ACTIONS",
    "FATAL_VIHF",
    "MESSAGE_ID",
    "DmpRequest",
    "check_consultation",
    "check_dmp_calls",
    "check_masking",
    "check_no_authorisation_for_feeding",
    "check_proxy_calls",
    "check_relay",
    "check_replacement",
    "check_send_on_hold",
    "check_status_change",
    "check_transport",
    "check_vihf_attributes",
    "check_vihf_signature",
    "none_recorded",
    "read_request",
    "registry_entries",
    "requests",
    "response_payload",
    "succeeded",
]
