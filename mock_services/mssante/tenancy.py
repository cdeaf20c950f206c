"""Whose mail it is: the tenant (and session) an SMTP or IMAP login belongs to, and its mailboxes.

SMTP and IMAP carry no URL, so the tenant comes from the credentials, in the existing auth modes:

- a PSC bearer token (XOAUTH2, OAUTHBEARER) issued under a tenant's session: its ``iss`` is the
  session's issuer (``.../s/{key}/auth/realms/esante-wallet``), so the mail goes to that session;
- a password login (SMTP AUTH PLAIN/LOGIN, IMAP LOGIN/AUTHENTICATE PLAIN) naming a test mailbox
  with the tenant's token as its password: the mail goes to the tenant's newest session;
- a client certificate, or a mailbox's own password: no tenant, the operator's mailboxes and
  "newest session", exactly as without tenants (the test PKI's certificates are shared by all);
  but a certificate login while one of a tenant's sessions holds the host's mail (the mail lease
  ``segur run --host`` takes) is that session's, so a remote run's mail stays in its tenant.

A tenant's copy of a test mailbox is stored under the address, ``#`` and the tenant's id (no
domain name holds a ``#``), so every store query, UID counter and IMAP folder list is the
tenant's own without a second key column, and a tenant's IMAP login never names another's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from harness.core.tenants import TenantRegistry

TENANT_SEPARATOR = "#"
_SESSION_IN_ISSUER = re.compile(r"/s/([^/]+)/")


@dataclass(frozen=True)
class MailRoute:
    """The tenant a login belongs to and the session its exchanges are recorded under."""

    tenant_id: str
    session_key: str

    def mailbox(self, address: str) -> str:
        return tenant_mailbox(address, self.tenant_id)


def tenant_mailbox(address: str, tenant_id: str | None) -> str:
    """Where a tenant's messages for ``address`` are stored (the address itself for the operator)."""
    return address.lower() if tenant_id is None else f"{address.lower()}{TENANT_SEPARATOR}{tenant_id}"


class MailTenancy:
    """Finds the tenant of a login; with no registry (or no tenant), every login is the operator's."""

    def __init__(self, tenants: TenantRegistry | None = None):
        self.tenants = tenants

    def by_password(self, password: str) -> MailRoute | None:
        """A tenant token given as the password: the tenant's newest session (None when it has none)."""
        if self.tenants is None:
            return None
        tenant = self.tenants.authenticate(password)
        session = self.tenants.newest_session(tenant.id) if tenant is not None else None
        return MailRoute(tenant.id, session) if tenant is not None and session is not None else None

    def by_claims(self, claims: dict[str, Any] | None) -> MailRoute | None:
        """A PSC token issued under a tenant's session: that session."""
        if self.tenants is None or not claims:
            return None
        found = _SESSION_IN_ISSUER.search(str(claims.get("iss", "")))
        owner = self.tenants.owner(found.group(1)) if found else None
        return MailRoute(owner, found.group(1)) if owner is not None and found else None

    def by_session(self, session_key: str | None) -> MailRoute | None:
        """The session holding the host's mail, when it is a tenant's: a login naming no tenant follows it."""
        if self.tenants is None or not session_key:
            return None
        owner = self.tenants.owner(session_key)
        return MailRoute(owner, session_key) if owner is not None else None
