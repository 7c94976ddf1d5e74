"""Server-side sessions: the cookie holds only a random id, so back-channel logout can end a session
by Keycloak's session id (sid) and nothing sensitive travels in the cookie.

Two stores with one interface: in process memory (one instance: the embedded default), or a database shared by
every instance of an app (issue 14: several gunicorn instances behind a load balancer; `MCP_SESSION_URL`, e.g.
PostgreSQL). Flask-Session and cachelib keep a session by its id only; back-channel logout must also find the
sessions of a Keycloak session id, hence a small table of our own (SQLAlchemy Core) with that index."""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field

import sqlalchemy as sa


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
    """In process memory: one instance of the app."""

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

    def save(self, s: AppSession) -> None:
        """After a change of the session's content (tokens refreshed, facts read at login): kept in place."""

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


_metadata = sa.MetaData()
app_sessions = sa.Table(
    "app_sessions", _metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("client", sa.String(32), nullable=False),      # portail, cdap, afas may share one database
    sa.Column("kc_sid", sa.String(64), nullable=False, index=True),
    sa.Column("sub", sa.String(64), nullable=False, index=True),
    sa.Column("data", sa.Text, nullable=False),               # the AppSession as JSON
    sa.Column("last_seen", sa.Float, nullable=False),
)


def _dump(s: AppSession) -> str:
    d = asdict(s)
    d["user"] = {**d["user"], "roles": sorted(d["user"].get("roles", ()))}
    return json.dumps(d)


def _load(raw: str) -> AppSession:
    d = json.loads(raw)
    d["user"]["roles"] = frozenset(d["user"].get("roles", ()))
    d["facts"] = {k: tuple(v) if isinstance(v, list) else v for k, v in d.get("facts", {}).items()}
    return AppSession(**d)


class SqlSessionStore:
    """Sessions in a database every instance of the app reads (issue 14). A session seen again is touched at
    most every `touch_every` seconds (a write per request would be the database's busiest load)."""

    def __init__(self, url: str, idle_timeout: int, client: str):
        self.idle_timeout, self.client = idle_timeout, client
        self.touch_every = min(30.0, idle_timeout / 10)
        # each statement stands alone (a read, or one insert, update or delete): autocommit spares a BEGIN and a
        # COMMIT round trip per page (issue 27 §5). No ping before each checkout either: a connection the server
        # dropped fails one request, and SQLAlchemy then renews the whole pool.
        self.engine = sa.create_engine(url, future=True, isolation_level="AUTOCOMMIT", pool_recycle=600)
        _metadata.create_all(self.engine)

    def create(self, **kw) -> AppSession:
        s = AppSession(id=secrets.token_urlsafe(32), **kw)
        with self.engine.begin() as c:
            c.execute(sa.insert(app_sessions).values(id=s.id, client=self.client, kc_sid=s.kc_sid or "",
                                                     sub=s.user.get("sub", ""), data=_dump(s), last_seen=s.last_seen))
        return s

    def get(self, sid: str | None, *, touch: bool = True) -> AppSession | None:
        if not sid:
            return None
        a = app_sessions.c
        with self.engine.begin() as c:
            row = c.execute(sa.select(app_sessions).where(a.id == sid, a.client == self.client)).first()
            if row is None:
                return None
            now = time.time()
            if now - row.last_seen > self.idle_timeout:
                c.execute(sa.delete(app_sessions).where(a.id == sid))
                return None
            s = _load(row.data)
            s.last_seen = row.last_seen
            if touch and now - row.last_seen >= self.touch_every:
                c.execute(sa.update(app_sessions).where(a.id == sid).values(last_seen=now))
                s.last_seen = now
            return s

    def save(self, s: AppSession) -> None:
        with self.engine.begin() as c:
            c.execute(sa.update(app_sessions).where(app_sessions.c.id == s.id)
                      .values(data=_dump(s), kc_sid=s.kc_sid or "", last_seen=max(s.last_seen, time.time())))

    def drop(self, sid: str) -> None:
        with self.engine.begin() as c:
            c.execute(sa.delete(app_sessions).where(app_sessions.c.id == sid))

    def drop_kc_session(self, kc_sid: str | None, sub: str | None = None) -> int:
        a = app_sessions.c
        if kc_sid:
            which = a.kc_sid == kc_sid
        elif sub:
            which = a.sub == sub
        else:
            return 0
        with self.engine.begin() as c:
            return c.execute(sa.delete(app_sessions).where(a.client == self.client, which)).rowcount


def make_store(url: str, idle_timeout: int, client: str):
    """The configured store: a database URL (shared by the instances), or process memory."""
    return SqlSessionStore(url, idle_timeout, client) if url else SessionStore(idle_timeout)
