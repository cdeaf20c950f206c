"""The built-in reference DMP client: what a conforming DPI does with the DMPi web services.

Written from the DMP kit's messages and templates (not from the mock): SOAP 1.2 with
WS-Addressing over mutual TLS, a VIHF signed with the CPS signature key, XDS.b metadata filled
from the CDA it shares, MTOM for documents. Named *defects* break one rule each, so that every
requirement of the ``dmp`` suite can be shown to fail.

The package keeps who the product is and its defects (``product``), builds the SOAP side of a
request (``messages``: VIHF, envelope, TD0.2) and its XDS.b side (``metadata``), and runs the
operations (``client``); the names below are what the reference SUT, tests and benchmarks use.
"""

from harness.run.sut.reference_dmp.client import (
    DmpCallError,
    PreparedCall,
    PscCall,
    ReferenceDmpClient,
    SharedDocument,
)
from harness.run.sut.reference_dmp.product import DMP_DEFECTS, SOURCE_ID, TD02_ACTION, TD21_ACTION

__all__ = [
    "DMP_DEFECTS",
    "SOURCE_ID",
    "TD02_ACTION",
    "TD21_ACTION",
    "DmpCallError",
    "PreparedCall",
    "PscCall",
    "ReferenceDmpClient",
    "SharedDocument",
]
