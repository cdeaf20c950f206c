"""The PSC -> VIHF proxy mock (ANS GENVIHF): a gateway in front of the DMP turning a PSC token into a VIHF."""

from mock_services.vihf_proxy.app import SERVICE, ProxySettings, Upstreams, create_app
from mock_services.vihf_proxy.claims import (
    INS_HEADER,
    MOBILE_TWO_FACTOR,
    WORK_SITUATION_HEADER,
    ProxyIdentity,
    proxy_claims,
)

__all__ = [
    "INS_HEADER",
    "MOBILE_TWO_FACTOR",
    "SERVICE",
    "WORK_SITUATION_HEADER",
    "ProxyIdentity",
    "ProxySettings",
    "Upstreams",
    "create_app",
    "proxy_claims",
]
