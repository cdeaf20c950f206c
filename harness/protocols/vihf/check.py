"""What a VIHF proved, and where it is found in a SOAP request.

:class:`VihfCheck` is the verdict of :func:`harness.protocols.vihf.verify.verify_assertion` that the
attribute rules then read; findings are :class:`VihfProblem` codes (``PROBLEM_CODES``) that the
callers rank. :func:`find_assertion` locates the single assertion of a WSS 1.0 ``wsse:Security``
header and, like the verifier, reports a malformed header as a finding rather than raising.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from lxml import etree

from harness.protocols.vihf.names import SAML2, WSSE, qname


@dataclass
class VihfProblem:
    code: str
    message: str


@dataclass
class VihfCheck:
    """What a VIHF proved. Content (name_id, attributes, issue_instant, authn_context) comes from
    the signed element when the signature is valid, from the token as sent when it is absent
    (flagged by ``signature_absent``), and is left empty when the signature is invalid."""

    present: bool
    signature: str = "absent"  # "valid" | "absent" | "invalid"
    trusted: bool = False
    signature_certificate: bool = False  # keyUsage nonRepudiation (contentCommitment)
    signer_subject: str | None = None
    name_id: str | None = None
    # attribute name -> values; hl7 CE values (Role, PurposeOfUse) as "code^codeSystem"
    attributes: dict[str, list[str]] = field(default_factory=dict)
    issue_instant: dt.datetime | None = None
    problems: list[VihfProblem] = field(default_factory=list)
    authn_context: str | None = None

    def has(self, code: str) -> bool:
        return any(problem.code == code for problem in self.problems)

    def _add(self, code: str, message: str) -> None:
        self.problems.append(VihfProblem(code, message))


def find_assertion(header: etree._Element | None) -> tuple[etree._Element | None, list[VihfProblem]]:
    """The single ``saml2:Assertion`` that is a direct child of a WSS 1.0 ``wsse:Security`` header."""
    try:
        return _find_assertion(header)
    except Exception as exc:  # a malformed header is a finding for the mock, never a crash
        return None, [VihfProblem("missing", f"could not look for the VIHF: {type(exc).__name__}: {exc}")]


def _local(element: etree._Element) -> str:
    tag = element.tag
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _find_assertion(header: etree._Element | None) -> tuple[etree._Element | None, list[VihfProblem]]:
    if header is None:
        return None, [VihfProblem("missing", "no SOAP Header, so no wsse:Security and no VIHF")]
    if _local(header) == "Envelope":
        header = next((c for c in header if _local(c) == "Header"), None)
        if header is None:
            return None, [VihfProblem("missing", "no SOAP Header, so no wsse:Security and no VIHF")]
    securities = header.findall(qname(WSSE, "Security"))
    if not securities:
        others = sorted({str(c.tag) for c in header if _local(c) == "Security"})
        hint = f"; found {', '.join(others)} instead (wrong namespace)" if others else ""
        return None, [VihfProblem("missing", f"no wsse:Security header in the WSS 1.0 namespace {WSSE}{hint}")]
    assertions = [a for security in securities for a in security.findall(qname(SAML2, "Assertion"))]
    if not assertions:
        nested = any(True for s in securities for _ in s.iter(qname(SAML2, "Assertion")))
        hint = "; a saml2:Assertion is nested deeper, but it must be a direct child" if nested else ""
        return None, [VihfProblem("missing", f"wsse:Security holds no saml2:Assertion (VIHF){hint}")]
    if len(assertions) > 1:
        ids = ", ".join(str(a.get("ID")) for a in assertions)
        return None, [
            VihfProblem(
                "several_assertions", f"wsse:Security holds {len(assertions)} saml2:Assertion, one expected: {ids}"
            )
        ]
    return assertions[0], []
