"""Drop catalog_snapshots: catalogs are cached in memory (bot/panel/catalog.py), never in the database.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04

catalog_snapshots held a panel's raw `services` reply by key fingerprint; nothing read or
wrote it any more. The downgrade makes it again, empty, as 0001 made it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_table("catalog_snapshots")


def downgrade() -> None:
    op.create_table(
        "catalog_snapshots",
        sa.Column("panel_fingerprint", sa.String(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("panel_fingerprint"),
    )
