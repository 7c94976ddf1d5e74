"""A migration of the *next* version, written for a test into a directory of its own (issue 30 §4): it follows the
code's head, adds a column (`expand`) or drops one (`contract`), and is applied through Alembic as `migrate` would,
with the code's own migrations beside it. The code under test is then the *previous* version."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy.engine import Engine

from provisioning.store import uow

TEMPLATE = '''"""a next version's migration, for a test"""
import sqlalchemy as sa
from alembic import op

from provisioning.store import compat

revision = "{revision}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade():
    {body}
    compat.{kind}(revision)


def downgrade():
    {undo}
    compat.undo(revision)
'''

STEPS = {
    "expand": ('op.add_column("partners", sa.Column("next_version_note", sa.Text(), nullable=True))',
               'op.drop_column("partners", "next_version_note")'),
    "contract": ('op.drop_column("partners", "next_version_note")',
                 'op.add_column("partners", sa.Column("next_version_note", sa.Text(), nullable=True))'),
}


def _config(directory: Path):
    cfg = uow._alembic()
    cfg.set_main_option("path_separator", "space")
    cfg.set_main_option("version_locations", f"{uow.MIGRATIONS / 'versions'} {directory}")
    return cfg


def write(directory: Path, revision: str, kind: str, down: str | None = None) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    body, undo = STEPS[kind]
    (directory / f"{revision}_next_{kind}.py").write_text(TEMPLATE.format(
        revision=revision, down=down or uow.head_revision(), body=body, undo=undo, kind=kind))


def upgrade(engine: Engine, directory: Path, to: str) -> None:
    cfg = _config(directory)
    with uow._migration_lock(engine), engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, to)


def downgrade(engine: Engine, directory: Path, to: str) -> None:
    cfg = _config(directory)
    with uow._migration_lock(engine), engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, to)
