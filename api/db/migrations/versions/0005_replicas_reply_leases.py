"""reply leases: the process streaming a reply, until when, and its prompt's size

Revision ID: 0005_replicas
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

import api.db.base

revision = "0005_replicas"
down_revision = "0005_feedback_review"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(length=100), nullable=True))
        batch.add_column(
            sa.Column("lease_expires_at", api.db.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("prompt_tokens", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("prompt_tokens")
        batch.drop_column("lease_expires_at")
        batch.drop_column("lease_owner")
