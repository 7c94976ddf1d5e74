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
