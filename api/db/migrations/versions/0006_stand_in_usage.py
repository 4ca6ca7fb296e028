"""stand-in usage: estimates written for a reply another process was streaming, replaced by
that process's own figures when it reports late

Revision ID: 0006_stand_in_usage
Revises: 0005_client_check
"""

import sqlalchemy as sa
from alembic import op

import api.db.base

revision = "0006_stand_in_usage"
down_revision = "0005_client_check"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.add_column(
            sa.Column("stands_in_for", api.db.base.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("stands_in_for")
