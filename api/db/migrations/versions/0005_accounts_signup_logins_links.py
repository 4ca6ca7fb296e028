"""sign-up, ended logins, one-time account links

Revision ID: 0005_accounts_signup
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

import api.db.base

revision = "0005_accounts_signup"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("token_generation", sa.Integer(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("sections") as batch:
        batch.add_column(
            sa.Column("signup_open", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
    op.create_table(
        "ended_logins",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("expires_at", api.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_ended_logins_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ended_logins")),
    )
    op.create_index(op.f("ix_ended_logins_user_id"), "ended_logins", ["user_id"])
    op.create_index(op.f("ix_ended_logins_expires_at"), "ended_logins", ["expires_at"])
    op.create_table(
        "account_links",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", api.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column(
            "purpose",
            sa.Enum("INVITE", "PASSWORD_RESET", name="link_purpose", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", api.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", api.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_account_links_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_account_links_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_links")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_account_links_secret_hash")),
    )
    op.create_index(op.f("ix_account_links_user_id"), "account_links", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_account_links_user_id"), table_name="account_links")
    op.drop_table("account_links")
    op.drop_index(op.f("ix_ended_logins_expires_at"), table_name="ended_logins")
    op.drop_index(op.f("ix_ended_logins_user_id"), table_name="ended_logins")
    op.drop_table("ended_logins")
    with op.batch_alter_table("sections") as batch:
        batch.drop_column("signup_open")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("token_generation")
