"""Field-ready: confirmed key pauses, per-id watch errors, progress notices, outbox give-up.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04

panel_accounts: pause_reason, refusals (consecutive unconfirmed "invalid key"), retry_at
(the next try of a paused account). orders: check_errors and watch_error (an id the panel
keeps refusing is finished with an error), progress_at / progress_remains (the last
progress notification). refills: check_errors. notifications: failed_at / last_error (a
notification given up after too many attempts).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("panel_accounts") as batch:
        batch.add_column(sa.Column("pause_reason", sa.String(), nullable=True))
        batch.add_column(sa.Column("refusals", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("check_errors", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("watch_error", sa.Text(), nullable=True))
        batch.add_column(sa.Column("progress_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("progress_remains", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("refills") as batch:
        batch.add_column(sa.Column("check_errors", sa.Integer(), server_default="0", nullable=False))
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_error", sa.Text(), nullable=True))
    # A paused account existing before this revision was paused for an invalid key.
    op.execute("UPDATE panel_accounts SET pause_reason = 'invalid_key' WHERE paused")


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("last_error")
        batch.drop_column("failed_at")
    with op.batch_alter_table("refills") as batch:
        batch.drop_column("check_errors")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("progress_remains")
        batch.drop_column("progress_at")
        batch.drop_column("watch_error")
        batch.drop_column("check_errors")
    with op.batch_alter_table("panel_accounts") as batch:
        batch.drop_column("retry_at")
        batch.drop_column("refusals")
        batch.drop_column("pause_reason")
