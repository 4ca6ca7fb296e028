"""audit log of administrative changes

Revision ID: 0005_accounts_admin
Revises: 0005_accounts_signup (chained at the merge of accounts-signup)
"""

import sqlalchemy as sa
from alembic import op

import api.db.base

revision = "0005_accounts_admin"
down_revision = "0005_accounts_signup"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("at", api.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("api_key_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_kind", sa.String(length=32), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_audit_entries_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entries")),
    )
    op.create_index("ix_audit_entries_at", "audit_entries", ["at", "id"])
    op.create_index("ix_audit_entries_action_at", "audit_entries", ["action", "at"])
    op.create_index("ix_audit_entries_actor_at", "audit_entries", ["actor_id", "at"])
    op.create_index("ix_audit_entries_target", "audit_entries", ["target_kind", "target_id"])


def downgrade() -> None:
    op.drop_table("audit_entries")
