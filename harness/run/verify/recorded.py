"""Exchanges the product made elsewhere and handed over as files (``--sut artifacts:DIR``).

Such an exchange is judged by the same verifiers as live traffic wherever they need only the
bytes the product sent. What the harness did not witness stays unjudged, never passed: the TLS
session and client certificate, the SMTP envelope and authentication, and what the product did
with the answer of a service that was not the harness's mock. :func:`require_live` is that
precondition; it reads the mark the artifacts adapter puts on each exchange it records, so a
``segur rejudge`` of the evidence pack reaches the same skips.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from harness.core.recorder import Exchange
from harness.core.results import SkipKind
from harness.core.skips import NotEvaluated

ARTEFACT_META = "artefact"  # request_meta key: {"file": ..., "format": ...} of the file the exchange came from
RECORDED_OUTCOME = "recorded"  # outcome of an action the artifacts adapter answered with a recorded exchange


def is_recorded(exchange: Exchange) -> bool:
    return ARTEFACT_META in exchange.request_meta


def recorded_answer(answer: dict[str, Any]) -> bool:
    return answer.get("outcome") == RECORDED_OUTCOME


def require_live(
    requirement: str,
    needs_en: str,
    needs_fr: str,
    *,
    exchanges: Iterable[Exchange] = (),
    answer: dict[str, Any] | None = None,
) -> None:
    """Skip (``not_performed``) when what the requirement judges was handed over as a file.

    ``needs_en``/``needs_fr`` say what only a live exchange with the harness's mock shows.
    """
    files = sorted({str(e.request_meta[ARTEFACT_META].get("file", "?")) for e in exchanges if is_recorded(e)})
    if answer is not None and recorded_answer(answer):
        files = files or [str(answer.get("file", "?"))]
    if not files:
        return
    raise NotEvaluated(
        SkipKind.NOT_PERFORMED,
        f"{requirement} needs a live exchange with the harness's mock ({needs_en}); "
        f"a recorded exchange cannot show it ({', '.join(files)})",
        f"{requirement} demande un échange en direct avec le simulateur du harnais ({needs_fr}) ; "
        f"un échange enregistré ne peut pas le montrer ({', '.join(files)})",
    )
