"""Small SQLite/PostgreSQL journals of the demo applications (CDAP consultations, AFAS declarations)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa


def engine_for(name: str, data_dir: str, url: str = "") -> sa.Engine:
    """`url`: MCP_CDAP_DATABASE_URL or MCP_AFAS_DATABASE_URL (AppConfig.journal_url); empty: SQLite."""
    if not url:
        Path(data_dir).mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{Path(data_dir).resolve() / f'{name}.sqlite'}"
    return sa.create_engine(url, future=True)


TABLES_LOCK = 0x6D637461  # PostgreSQL advisory lock key ("mcta"): one instance creates the tables at a time


def create_tables(metadata: sa.MetaData, engine: sa.Engine) -> None:
    """Each instance makes the tables it needs at start. Instances started together (a deployment, the cluster's
    parallel start) raced on PostgreSQL — « duplicate key … pg_type » for the loser, which then failed to boot:
    there they are made one instance at a time, so the next one finds them."""
    if engine.dialect.name != "postgresql":
        metadata.create_all(engine)
        return
    with engine.connect() as conn:  # a session lock: it holds whatever the engine's isolation (sessions: autocommit)
        conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": TABLES_LOCK})
        try:
            metadata.create_all(conn)
            conn.commit()
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": TABLES_LOCK})
            conn.commit()
