"""Panel facts: what a panel showed it does not do, or wants differently, learnt from its answers.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04

panel_facts: one row per (panel_url, name); learnt_at says when, so a fact about a missing
action can be re-checked after a day; detail keeps the panel's words.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "panel_facts",
        sa.Column("panel_url", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("learnt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("panel_url", "name"),
    )


def downgrade() -> None:
    op.drop_table("panel_facts")
