"""Every action ``segur judge`` finds on the wire: DMP and MSSanté (``observed``), INSi, PSC and CDA."""

from __future__ import annotations

from harness.run import observed_cda, observed_insi, observed_psc
from harness.run.observed import DMP_MSS_HANDLERS, Handlers

HANDLERS: Handlers = {**DMP_MSS_HANDLERS, **observed_insi.HANDLERS, **observed_psc.HANDLERS, **observed_cda.HANDLERS}
