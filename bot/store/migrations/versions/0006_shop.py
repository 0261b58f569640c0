"""Shop mode: what orders cost and gave back, price rules and their audit, top-ups,
referrals, and who booked a ledger entry by hand.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

orders: `paid` (charged to a wallet), `cost` (the panel's charge), `refunded`.
ledger_entries: `actor` and `note` (an admin's credit or debit and its reason).
price_rules (unique scope + key), price_changes (the audit), topups (unique charge_id),
referrals (one inviter per customer).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _money() -> sa.types.TypeEngine[Decimal]:
    return sa.Numeric(precision=24, scale=8).with_variant(sa.String(length=40), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("paid", sa.Boolean(), server_default=sa.text("false"), nullable=False))
        batch.add_column(sa.Column("cost", _money(), nullable=True))
        batch.add_column(sa.Column("refunded", _money(), nullable=True))
    with op.batch_alter_table("ledger_entries") as batch:
        batch.add_column(sa.Column("actor", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))
    op.create_table(
        "price_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("percent", _money(), nullable=True),
        sa.Column("per_1000", _money(), nullable=True),
        sa.Column("hidden", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("scope", "key", name="uq_price_rules_scope_key"),
    )
    op.create_table(
        "price_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("admin_id", sa.BigInteger(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_price_changes_created_at"), "price_changes", ["created_at"], unique=False)
    op.create_table(
        "topups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", _money(), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("charge_id", sa.String(), nullable=True),
        sa.Column("provider_charge_id", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refunded_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("charge_id"),
    )
    op.create_index(op.f("ix_topups_user_id"), "topups", ["user_id"], unique=False)
    op.create_table(
        "referrals",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("inviter_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_index(op.f("ix_referrals_inviter_id"), "referrals", ["inviter_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_referrals_inviter_id"), table_name="referrals")
    op.drop_table("referrals")
    op.drop_index(op.f("ix_topups_user_id"), table_name="topups")
    op.drop_table("topups")
    op.drop_index(op.f("ix_price_changes_created_at"), table_name="price_changes")
    op.drop_table("price_changes")
    op.drop_table("price_rules")
    with op.batch_alter_table("ledger_entries") as batch:
        batch.drop_column("note")
        batch.drop_column("actor")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("refunded")
        batch.drop_column("cost")
        batch.drop_column("paid")
