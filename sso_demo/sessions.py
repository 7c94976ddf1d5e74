"""Server-side sessions: the cookie holds only a random id, so back-channel logout can end a session
by Keycloak's session id (sid) and nothing sensitive travels in the cookie."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field


@dataclass
class AppSession:
    id: str
    user: dict                 # claims we show: sub, username, names, partner, roles
    kc_sid: str                # Keycloak SSO session id (ID token `sid`)
    id_token: str              # for RP-initiated logout (id_token_hint); never logged, never in a URL we build
    access_token: str          # to call the provisioning API on the user's behalf
    refresh_token: str = ""
    access_expires: float = 0.0
    facts: dict = field(default_factory=dict)  # read once at login (e.g. the previous login, R17), then kept
    created: float = field(default_factory=time.time)
    last_seen: float = field(default_factory=time.time)


class SessionStore:
    def __init__(self, idle_timeout: int):
        self.idle_timeout = idle_timeout
        self._by_id: dict[str, AppSession] = {}
        self._lock = threading.Lock()

    def create(self, **kw) -> AppSession:
        s = AppSession(id=secrets.token_urlsafe(32), **kw)
        with self._lock:
            self._by_id[s.id] = s
        return s

    def get(self, sid: str | None, *, touch: bool = True) -> AppSession | None:
        """The live session, or None when unknown or idle longer than the timeout (then it is dropped)."""
        if not sid:
            return None
        with self._lock:
            s = self._by_id.get(sid)
            if s is None:
                return None
            now = time.time()
            if now - s.last_seen > self.idle_timeout:
                del self._by_id[sid]
                return None
            if touch:
                s.last_seen = now
            return s

    def drop(self, sid: str) -> None:
        with self._lock:
            self._by_id.pop(sid, None)

    def drop_kc_session(self, kc_sid: str | None, sub: str | None = None) -> int:
        """Back-channel logout: end every session of that Keycloak session (or of that user)."""
        with self._lock:
            doomed = [k for k, s in self._by_id.items()
                      if (kc_sid and s.kc_sid == kc_sid) or (not kc_sid and sub and s.user.get("sub") == sub)]
            for k in doomed:
                del self._by_id[k]
            return len(doomed)
