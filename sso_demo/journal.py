"""Small SQLite/PostgreSQL journals of the demo applications (CDAP consultations, AFAS declarations)."""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa


def engine_for(name: str, data_dir: str) -> sa.Engine:
    url = os.environ.get(f"MCP_{name.upper()}_DATABASE_URL")
    if not url:
        Path(data_dir).mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{Path(data_dir).resolve() / f'{name}.sqlite'}"
    return sa.create_engine(url, future=True)
