"""teacher review: adjusted levels beside the evaluator's, comments, release on completion

Revision ID: 0005_feedback_review
Revises: 0005_feedback_core
"""

import sqlalchemy as sa
from alembic import op

import api.db.base

revision = "0005_feedback_review"
down_revision = "0005_feedback_core"  # adds to its evaluations, criterion scores
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("criterion_scores", schema=None) as batch_op:
        batch_op.add_column(sa.Column("adjusted_level", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("adjusted_by_id", sa.Uuid(), nullable=True))
        batch_op.add_column(
            sa.Column("adjusted_at", api.db.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_foreign_key(
            op.f("fk_criterion_scores_adjusted_by_id_users"),
            "users",
            ["adjusted_by_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "release_feedback_on_completion",
                sa.Boolean(),
                server_default=sa.false(),
                nullable=False,
            )
        )

    op.create_table(
        "review_comments",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=True),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", api.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_review_comments_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_review_comments_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_review_comments_author_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_comments")),
    )
    op.create_index(
        "ix_review_comments_session_created",
        "review_comments",
        ["session_id", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_review_comments_session_created", table_name="review_comments")
    op.drop_table("review_comments")
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.drop_column("release_feedback_on_completion")
    with op.batch_alter_table("criterion_scores", schema=None) as batch_op:
        batch_op.drop_constraint(
            op.f("fk_criterion_scores_adjusted_by_id_users"), type_="foreignkey"
        )
        batch_op.drop_column("adjusted_at")
        batch_op.drop_column("adjusted_by_id")
        batch_op.drop_column("adjusted_level")
