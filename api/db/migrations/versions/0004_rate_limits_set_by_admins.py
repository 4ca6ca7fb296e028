"""rate limits set by admins at run time

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

import api.db.base

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_settings",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("messages_per_student", sa.String(length=100), nullable=False),
        sa.Column("messages_global", sa.String(length=100), nullable=False),
        sa.Column("logins_per_address", sa.String(length=100), nullable=False),
        sa.Column("logins_per_email", sa.String(length=100), nullable=False),
        sa.Column("updated_by_id", sa.Uuid(), nullable=True),
        sa.Column("updated_at", api.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_rate_limit_settings_one_row")),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["users.id"],
            name=op.f("fk_rate_limit_settings_updated_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_limit_settings")),
    )


def downgrade() -> None:
    op.drop_table("rate_limit_settings")
