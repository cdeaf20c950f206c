"""The provider's single sign-on sessions: what the browser cookie points at, with idle and maximum lifetimes.

A session starts when a professional logs in (page, headless ``login_hint`` or an approved CIBA
request). ``prompt=none``, ``max_age``, refresh and logout all read it; it ends on logout or when
idle or too old (``Lifetimes.sso_idle`` / ``Lifetimes.sso_max``, see profiles/psc/README.md).
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

from harness.core.storage import Database
from mock_services.psc.state import StateMap
from mock_services.psc.tokens import Lifetimes

# Keycloak's own name for the HttpOnly SSO cookie.
SESSION_COOKIE = "KEYCLOAK_IDENTITY"


@dataclass
class SsoSession:
    session_key: str  # the mock's routing key: a session opened under /s/a/ is unknown under /s/b/
    id_nat_ps: str
    auth_time: int
    started: float
    last_seen: float
    id: str = field(default_factory=lambda: str(uuid.uuid4()))


class SsoSessions:
    """Live sessions by id; thread-safe because the server and the test's client run in different threads."""

    def __init__(self, lifetimes: Lifetimes, database: Database | None = None) -> None:
        self.lifetimes = lifetimes
        self._lock = threading.Lock()
        # in memory, or rows of the shared database (mock_services/psc/state.py)
        self._by_id: StateMap[SsoSession] = StateMap("sso", database, decode=lambda data: SsoSession(**data))

    def open(self, session_key: str, id_nat_ps: str, session_id: str | None = None) -> SsoSession:
        now = time.time()
        session = SsoSession(session_key, id_nat_ps, int(now), now, now)
        if session_id:
            session.id = session_id
        with self._lock:
            self._by_id[session.id] = session
        return session

    def alive(
        self, session_id: str | None, session_key: str | None = None, *, touch: bool = False
    ) -> SsoSession | None:
        """The session if it has not ended, idled out or reached its maximum age; ``touch`` counts as activity."""
        if not session_id:
            return None
        now = time.time()
        with self._lock:
            session = self._by_id.get(session_id)
            if session is None or (session_key is not None and session.session_key != session_key):
                return None
            if now - session.last_seen > self.lifetimes.sso_idle or now - session.started > self.lifetimes.sso_max:
                del self._by_id[session_id]
                return None
            if touch:
                session.last_seen = now
                self._by_id[session_id] = session  # written back: from a database, a session is a copy
            return session

    def end(self, session_id: str | None) -> bool:
        with self._lock:
            return self._by_id.pop(session_id or "") is not None
