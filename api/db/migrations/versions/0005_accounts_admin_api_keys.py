"""API keys; erased and service accounts

Revision ID: 0005_accounts_admin_keys
Revises: 0005_accounts_admin
"""

import sqlalchemy as sa
from alembic import op

import api.db.base

revision = "0005_accounts_admin_keys"
down_revision = "0005_accounts_admin"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("erased_at", api.db.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column("service_account", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column(
            "scope",
            sa.Enum("FULL", "USAGE_ANALYTICS", name="api_key_scope", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("section_id", sa.Uuid(), nullable=True),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("expires_at", api.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", api.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", api.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", api.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_api_keys_user_id_users")),
        sa.ForeignKeyConstraint(
            ["section_id"],
            ["sections.id"],
            name=op.f("fk_api_keys_section_id_sections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_api_keys_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_api_keys_secret_hash")),
    )
    op.create_index("ix_api_keys_created", "api_keys", ["created_at", "id"])


def downgrade() -> None:
    op.drop_table("api_keys")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("service_account")
        batch.drop_column("erased_at")
