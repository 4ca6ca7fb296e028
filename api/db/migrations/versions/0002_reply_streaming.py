"""one reply in flight per session; when a reply started streaming

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

import api.db.base

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

STREAMING = sa.text("status = 'STREAMING'")


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("streaming_since", api.db.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            "uq_messages_one_streaming",
            ["session_id"],
            unique=True,
            sqlite_where=STREAMING,
            postgresql_where=STREAMING,
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("uq_messages_one_streaming")
        batch_op.drop_column("streaming_since")
