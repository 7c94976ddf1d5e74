"""Server-side sessions: the cookie holds only a random id, so back-channel logout can end a session
by Keycloak's session id (sid) and nothing sensitive travels in the cookie.

Two stores with one interface: in process memory (one instance: the embedded default), or a database shared by
every instance of an app (issue 14: several gunicorn instances behind a load balancer; `MCP_SESSION_URL`, e.g.
PostgreSQL). Flask-Session and cachelib keep a session by its id only; back-channel logout must also find the
sessions of a Keycloak session id, hence a small table of our own (SQLAlchemy Core) with that index."""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field

import sqlalchemy as sa

from sso_demo.journal import create_tables


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


CHANNEL = "mcp_app_sessions"


class _Invalidations:
    """PostgreSQL LISTEN on CHANNEL, in a thread of its own: every session another instance changes or ends is
    evicted from this process's cache (issue 27 §5). While the listener is not listening (starting, connection
    lost), the cache is not used: every page reads the database, as before."""

    def __init__(self, url: str, evict, reset):
        self.conninfo = sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.evict, self.reset = evict, reset
        self.listening = threading.Event()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="session-invalidations", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        import psycopg
        while not self.stopped.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.reset()  # what was cached before LISTEN may have changed unheard
                    self.listening.set()
                    while not self.stopped.is_set():
                        for n in conn.notifies(timeout=1.0):
                            self.evict(n.payload)
            except Exception:  # noqa: BLE001 — the database went away: no cache until it is back
                pass
            finally:
                self.listening.clear()
                self.reset()
            self.stopped.wait(1.0)

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)


class SqlSessionStore:
    """Sessions in a database every instance of the app reads (issue 14). A session seen again is touched at
    most every `touch_every` seconds (a write per request would be the database's busiest load). On PostgreSQL,
    each process also keeps the sessions it served in memory and reads the database only to touch one, to check
    an idle one, or once a change elsewhere was announced (LISTEN/NOTIFY): every change and end of a session —
    logout, back-channel logout, new tokens — is announced before it returns, so another instance stops serving
    it within milliseconds. A page then costs no database round trip (issue 27 §5). Whoever else writes the table
(an operator, a test) announces it too: `SELECT pg_notify('mcp_app_sessions', <id>)`."""

    MAX_CACHED = 5_000  # sessions kept per process (a few KB each, tokens included); the others are read

    def __init__(self, url: str, idle_timeout: int, client: str):
        self.idle_timeout, self.client = idle_timeout, client
        self.touch_every = min(30.0, idle_timeout / 10)
        # each statement stands alone (a read, or one insert, update or delete): autocommit spares a BEGIN and a
        # COMMIT round trip per page. No ping before each checkout either: a connection the server dropped fails
        # one request, and SQLAlchemy then renews the whole pool.
        self.engine = sa.create_engine(url, future=True, isolation_level="AUTOCOMMIT", pool_recycle=600)
        create_tables(_metadata, self.engine)
        self.url = url
        self._cache: dict[str, AppSession] = {}
        self._lock = threading.Lock()
        self._epoch = 0  # moves on every announcement heard (or lost): a read racing one is not cached
        self._pid = os.getpid()
        self._listener = _Invalidations(url, self._evict, self._reset) if self.engine.dialect.name == "postgresql" \
            else None

    # --- the cache ------------------------------------------------------------------------------------------
    def _evict(self, sid: str) -> None:
        with self._lock:
            self._epoch += 1
            self._cache.pop(sid, None)

    def _reset(self) -> None:
        with self._lock:
            self._epoch += 1
            self._cache.clear()

    def _caching(self) -> bool:
        if self._listener is None:
            return False
        if os.getpid() != self._pid:  # a forked worker: the listener thread stayed in the parent
            self._pid, self._cache = os.getpid(), {}
            self._listener = _Invalidations(self.url, self._evict, self._reset)
        return self._listener.listening.is_set()

    def _announce(self, c, sids) -> None:
        if self._listener is not None:
            for sid in sids:
                c.execute(sa.select(sa.func.pg_notify(CHANNEL, sid)))
        for sid in sids:
            self._evict(sid)

    def close(self) -> None:
        if self._listener is not None:
            self._listener.stop()
        self.engine.dispose()

    # --- the store ------------------------------------------------------------------------------------------
    def create(self, **kw) -> AppSession:
        s = AppSession(id=secrets.token_urlsafe(32), **kw)
        with self.engine.begin() as c:
            c.execute(sa.insert(app_sessions).values(id=s.id, client=self.client, kc_sid=s.kc_sid or "",
                                                     sub=s.user.get("sub", ""), data=_dump(s), last_seen=s.last_seen))
        return s

    def get(self, sid: str | None, *, touch: bool = True) -> AppSession | None:
        if not sid:
            return None
        caching = self._caching()
        now = time.time()
        if caching:
            with self._lock:
                cached = self._cache.get(sid)
                epoch = self._epoch
            # idle by our copy (another instance may have touched it since) or due for a touch: the database says
            if cached is not None and now - cached.last_seen < min(self.touch_every, self.idle_timeout):
                return cached
        a = app_sessions.c
        with self.engine.begin() as c:
            row = c.execute(sa.select(app_sessions).where(a.id == sid, a.client == self.client)).first()
            if row is None:  # (no epoch move: a stranger's random cookies must not stop others being cached)
                with self._lock:
                    self._cache.pop(sid, None)
                return None
            if now - row.last_seen > self.idle_timeout:
                c.execute(sa.delete(app_sessions).where(a.id == sid))
                self._announce(c, [sid])
                return None
            s = _load(row.data)
            s.last_seen = row.last_seen
            if touch and now - row.last_seen >= self.touch_every:
                c.execute(sa.update(app_sessions).where(a.id == sid).values(last_seen=now))
                s.last_seen = now
        if caching:
            with self._lock:
                if self._epoch == epoch:  # nothing announced while we read: what we read is current
                    if len(self._cache) >= self.MAX_CACHED:
                        self._cache.pop(next(iter(self._cache)))
                    self._cache[sid] = s
        return s

    def save(self, s: AppSession) -> None:
        with self.engine.begin() as c:
            c.execute(sa.update(app_sessions).where(app_sessions.c.id == s.id)
                      .values(data=_dump(s), kc_sid=s.kc_sid or "", last_seen=max(s.last_seen, time.time())))
            self._announce(c, [s.id])

    def drop(self, sid: str) -> None:
        with self.engine.begin() as c:
            c.execute(sa.delete(app_sessions).where(app_sessions.c.id == sid))
            self._announce(c, [sid])

    def drop_kc_session(self, kc_sid: str | None, sub: str | None = None) -> int:
        a = app_sessions.c
        if kc_sid:
            which = a.kc_sid == kc_sid
        elif sub:
            which = a.sub == sub
        else:
            return 0
        with self.engine.begin() as c:
            ended = c.execute(sa.select(a.id).where(a.client == self.client, which)).scalars().all()
            if not ended:
                return 0
            c.execute(sa.delete(app_sessions).where(a.id.in_(ended)))
            self._announce(c, ended)
            return len(ended)


def make_store(url: str, idle_timeout: int, client: str):
    """The configured store: a database URL (shared by the instances), or process memory."""
    return SqlSessionStore(url, idle_timeout, client) if url else SessionStore(idle_timeout)
