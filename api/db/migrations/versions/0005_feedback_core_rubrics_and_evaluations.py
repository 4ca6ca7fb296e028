"""rubrics, conversation measures and evaluations

Revision ID: 0005_feedback_core
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

import api.db.base

revision = "0005_feedback_core"
down_revision = "0004"
branch_labels = None
depends_on = None


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=16)


def upgrade() -> None:
    op.create_table(
        "rubrics",
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", _enum("rubric_status", "DRAFT", "PUBLISHED"), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("published_at", api.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", api.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", api.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_rubrics_owner_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rubrics")),
    )
    with op.batch_alter_table("rubrics", schema=None) as batch_op:
        batch_op.create_index("ix_rubrics_owner_name", ["owner_id", "name"], unique=False)

    op.create_table(
        "rubric_versions",
        sa.Column("rubric_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("criteria", sa.JSON(), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", api.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["rubric_id"],
            ["rubrics.id"],
            name=op.f("fk_rubric_versions_rubric_id_rubrics"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_rubric_versions_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rubric_versions")),
        sa.UniqueConstraint(
            "rubric_id", "version", name=op.f("uq_rubric_versions_rubric_id_version")
        ),
    )

    op.create_table(
        "session_measures",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("method_version", sa.Integer(), nullable=False),
        sa.Column("student_messages", sa.Integer(), nullable=False),
        sa.Column("client_messages", sa.Integer(), nullable=False),
        sa.Column("student_words", sa.Integer(), nullable=False),
        sa.Column("client_words", sa.Integer(), nullable=False),
        sa.Column("student_chars", sa.Integer(), nullable=False),
        sa.Column("open_questions", sa.Integer(), nullable=False),
        sa.Column("closed_questions", sa.Integer(), nullable=False),
        sa.Column("reflections", sa.Integer(), nullable=False),
        sa.Column("median_turn_gap_ms", sa.Integer(), nullable=True),
        sa.Column("computed_at", api.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_session_measures_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_session_measures")),
    )

    op.create_table(
        "evaluations",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("rubric_version_id", sa.Uuid(), nullable=False),
        sa.Column(
            "status",
            _enum("evaluation_status", "QUEUED", "RUNNING", "COMPLETED", "FAILED"),
            nullable=False,
        ),
        sa.Column("evaluator", _enum("evaluator_kind", "AI", "OFFLINE"), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=True),
        sa.Column("requested_by_id", sa.Uuid(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("strengths", sa.JSON(), nullable=False),
        sa.Column("next_steps", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("retryable", sa.Boolean(), nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cache_write_tokens", sa.Integer(), nullable=False),
        sa.Column("cache_read_tokens", sa.Integer(), nullable=False),
        sa.Column("cost", api.db.base.Money(), nullable=False),
        sa.Column("started_at", api.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("completed_at", api.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("released_at", api.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("released_by_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", api.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_evaluations_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rubric_version_id"],
            ["rubric_versions.id"],
            name=op.f("fk_evaluations_rubric_version_id_rubric_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
            name=op.f("fk_evaluations_requested_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["released_by_id"],
            ["users.id"],
            name=op.f("fk_evaluations_released_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluations")),
    )
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_evaluations_session_created", ["session_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_evaluations_rubric_version", ["rubric_version_id"], unique=False)
        batch_op.create_index(
            "uq_evaluations_one_in_progress",
            ["session_id"],
            unique=True,
            sqlite_where=sa.text("status IN ('QUEUED', 'RUNNING')"),
            postgresql_where=sa.text("status IN ('QUEUED', 'RUNNING')"),
        )

    op.create_table(
        "criterion_scores",
        sa.Column("evaluation_id", sa.Uuid(), nullable=False),
        sa.Column("criterion_key", sa.String(length=80), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("justification", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["evaluation_id"],
            ["evaluations.id"],
            name=op.f("fk_criterion_scores_evaluation_id_evaluations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_criterion_scores")),
        sa.UniqueConstraint(
            "evaluation_id",
            "criterion_key",
            name=op.f("uq_criterion_scores_evaluation_id_criterion_key"),
        ),
    )

    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rubric_id", sa.Uuid(), nullable=True))
        batch_op.create_index("ix_assignments_rubric_id", ["rubric_id"], unique=False)
        batch_op.create_foreign_key(
            op.f("fk_assignments_rubric_id_rubrics"),
            "rubrics",
            ["rubric_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), server_default="reply", nullable=False)
        )
        batch_op.add_column(sa.Column("evaluation_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_usage_records_evaluation_id_evaluations"),
            "evaluations",
            ["evaluation_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.drop_constraint(
            op.f("fk_usage_records_evaluation_id_evaluations"), type_="foreignkey"
        )
        batch_op.drop_column("evaluation_id")
        batch_op.drop_column("kind")
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("fk_assignments_rubric_id_rubrics"), type_="foreignkey")
        batch_op.drop_index("ix_assignments_rubric_id")
        batch_op.drop_column("rubric_id")
    op.drop_table("criterion_scores")
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_evaluations_one_in_progress",
            sqlite_where=sa.text("status IN ('QUEUED', 'RUNNING')"),
            postgresql_where=sa.text("status IN ('QUEUED', 'RUNNING')"),
        )
        batch_op.drop_index("ix_evaluations_rubric_version")
        batch_op.drop_index("ix_evaluations_session_created")
    op.drop_table("evaluations")
    op.drop_table("session_measures")
    op.drop_table("rubric_versions")
    with op.batch_alter_table("rubrics", schema=None) as batch_op:
        batch_op.drop_index("ix_rubrics_owner_name")
    op.drop_table("rubrics")
