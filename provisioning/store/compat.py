"""Issue 30 §4: expand/contract. The registry's schema says which code revisions may run on it (`schema_compat`),
so a rolling upgrade works: the new version's migration runs while the old version still serves, and an old
instance that restarts meanwhile (a crash, the rolling restart itself) starts on the newer schema.

A migration that only adds (a nullable column, a table, an index) is an *expand*: the revisions it admits are the
ones before it plus its own. One that removes or renames what older code reads, or makes a column required, is a
*contract*: it admits its own revision only, and runs once no older instance is left (the release after).
Each migration says which it is by calling one of these two in its `upgrade()`."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

TABLE = sa.table("schema_compat", sa.column("revision", sa.String))


def expand(revision: str) -> None:
    op.execute(sa.insert(TABLE).values(revision=revision))


def contract(revision: str) -> None:
    op.execute(sa.delete(TABLE))
    op.execute(sa.insert(TABLE).values(revision=revision))


def undo(revision: str) -> None:
    """A migration's downgrade: its revision is admitted no more (the ones before it stay as they were)."""
    op.execute(sa.delete(TABLE).where(TABLE.c.revision == revision))
