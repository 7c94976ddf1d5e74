"""Every table's rows, for « a refusal wrote nothing » (the refusal property and the simulation)."""

from __future__ import annotations

import sqlalchemy as sa

from provisioning.store import tables


def every_table(engine) -> list[tuple[str, list[str]]]:
    with engine.connect() as c:
        return [(tb.name, sorted(repr(tuple(r)) for r in c.execute(sa.select(tb))))
                for tb in tables.metadata.sorted_tables]
