"""client checks: their reports, and the kind of sessions and usage records

Revision ID: 0005_client_check
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

import api.db.base

revision = "0005_client_check"
down_revision = "0005_replicas"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "sessions",
        sa.Column(
            "kind",
            sa.Enum(
                "PRACTICE",
                "CLIENT_CHECK",
                name="session_kind",
                native_enum=False,
                length=16,
            ),
            server_default="PRACTICE",
            nullable=False,
        ),
    )
    # usage_records.kind comes with the feedback migration (reply, evaluation, client_check)
    op.create_table(
        "client_checks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", api.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("client_profile_id", sa.Uuid(), nullable=False),
        sa.Column("profile_version", sa.Integer(), nullable=False),
        sa.Column("requested_by_id", sa.Uuid(), nullable=True),
        sa.Column("session_id", sa.Uuid(), nullable=True),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("verdict", sa.String(length=8), nullable=True),
        sa.Column("probes", sa.JSON(), nullable=False),
        sa.Column("total_tokens", sa.Integer(), nullable=False),
        sa.Column("cost", api.db.base.Money(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("finished_at", api.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_profile_id"],
            ["client_profiles.id"],
            name=op.f("fk_client_checks_client_profile_id_client_profiles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
            name=op.f("fk_client_checks_requested_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_client_checks_session_id_sessions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_checks")),
    )
    op.create_index(
        "ix_client_checks_profile_created",
        "client_checks",
        ["client_profile_id", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_client_checks_profile_created", table_name="client_checks")
    op.drop_table("client_checks")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("kind")
