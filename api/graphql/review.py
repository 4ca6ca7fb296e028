"""Teacher review (adjust, comment, release), students' progress, and exports."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from api.classes import models as class_models
from api.graphql.accounts import User
from api.graphql.classes import Assignment
from api.graphql.context import Info
from api.graphql.ids import parse_id, parse_optional_id, to_id
from api.graphql.permissions import IsAuthenticated
from api.graphql.teaching import Evaluation
from api.teaching import exports, review
from api.teaching import models as teaching_models

ExportFormat = strawberry.enum(
    exports.ExportFormat, name="ExportFormat", description="A transcript's export format."
)


@strawberry.type(description="A file to save: its name, media type and whole content.")
class ExportFile:
    filename: str
    content_type: str
    content: str

    @classmethod
    def of(cls, file: exports.ExportFile) -> ExportFile:
        return cls(filename=file.filename, content_type=file.content_type, content=file.content)


@strawberry.type(description="A teacher's comment on a session, or on one of its messages.")
class ReviewComment:
    id: strawberry.ID
    session_id: strawberry.ID
    message_id: strawberry.ID | None
    body: str
    created_at: datetime
    author_id: strawberry.Private[uuid.UUID | None]

    @strawberry.field
    async def author(self, info: Info) -> User | None:
        if self.author_id is None:
            return None
        user = await info.context.loaders.users.load(self.author_id)
        return User.from_model(user) if user else None

    @classmethod
    def from_model(cls, comment: teaching_models.ReviewComment) -> ReviewComment:
        return cls(
            id=to_id(comment.id),
            session_id=to_id(comment.session_id),
            message_id=to_id(comment.message_id) if comment.message_id else None,
            body=comment.body,
            created_at=comment.created_at,
            author_id=comment.author_id,
        )


@strawberry.type(description="One evaluated session on a criterion's progress line.")
class ProgressPoint:
    session_id: strawberry.ID
    ended_at: datetime | None
    client_name: str
    level: int = strawberry.field(description="The teacher's level where adjusted.")
    max_level: int | None
    min_level: int | None


@strawberry.type(description="A student's level on one criterion across sessions.")
class CriterionProgress:
    key: str
    name: str
    points: list[ProgressPoint]


@strawberry.input
class AddReviewCommentInput:
    session_id: strawberry.ID
    body: str
    message_id: strawberry.ID | None = strawberry.field(
        default=None, description="Comment on this message of the session; none: the whole."
    )


@strawberry.type
class AddReviewCommentPayload:
    comment: ReviewComment


@strawberry.type
class DeleteReviewCommentPayload:
    deleted_id: strawberry.ID


@strawberry.type
class AdjustCriterionLevelPayload:
    evaluation: Evaluation


@strawberry.type
class ReleaseFeedbackPayload:
    evaluation: Evaluation


@strawberry.type
class SetFeedbackReleaseOnCompletionPayload:
    assignment: Assignment
    release_feedback_on_completion: bool


@strawberry.type
class ReviewQueries:
    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="A student's level per criterion across their evaluated sessions, "
        "oldest first. Students: their own released feedback (leave `studentId` out). "
        "Teachers: a student whose sessions they see; admins: anyone.",
    )
    async def progress(
        self, info: Info, student_id: strawberry.ID | None = None
    ) -> list[CriterionProgress]:
        ctx = info.context
        lines = await review.progress(
            ctx.session, ctx.actor, parse_optional_id(student_id, "studentId")
        )
        return [
            CriterionProgress(
                key=line.key,
                name=line.name,
                points=[
                    ProgressPoint(
                        session_id=to_id(p.session_id),
                        ended_at=p.ended_at,
                        client_name=p.client_name,
                        level=p.level,
                        max_level=p.max_level,
                        min_level=p.min_level,
                    )
                    for p in line.points
                ],
            )
            for line in lines
        ]

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="A section's sessions as CSV (one row each): student, client, "
        "assignment, status, times, length, rating, tokens and cost, conversation measures, "
        "the evaluation and each criterion's level. For the section's teacher and admins.",
    )
    async def export_section_sessions(self, info: Info, section_id: strawberry.ID) -> ExportFile:
        ctx = info.context
        return ExportFile.of(
            await exports.section_sessions_csv(
                ctx.session, ctx.actor, parse_id(section_id, "sectionId")
            )
        )

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="A transcript with its feedback, as Markdown or JSON, for whoever may "
        "read the session (a student: with released feedback only).",
    )
    async def export_session(
        self, info: Info, session_id: strawberry.ID, format: ExportFormat
    ) -> ExportFile:
        ctx = info.context
        return ExportFile.of(
            await exports.session_export(
                ctx.session, ctx.actor, parse_id(session_id, "sessionId"), format
            )
        )


@strawberry.type
class ReviewMutations:
    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Set a teacher's level for one criterion of a completed evaluation; it "
        "is kept beside the evaluator's level, with who set it and when. `level: null` goes "
        "back to the evaluator's. The level must be one of the criterion's levels.",
    )
    async def adjust_criterion_level(
        self, info: Info, evaluation_id: strawberry.ID, criterion_key: str, level: int | None
    ) -> AdjustCriterionLevelPayload:
        ctx = info.context
        evaluation_uuid = parse_id(evaluation_id, "evaluationId")
        await review.adjust_level(ctx.session, ctx.actor, evaluation_uuid, criterion_key, level)
        evaluation = await ctx.session.get_one(teaching_models.Evaluation, evaluation_uuid)
        return AdjustCriterionLevelPayload(evaluation=Evaluation.from_model(evaluation))

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Release a completed evaluation, and the session's comments, to its "
        "student (`released: false` withdraws it). Its teachers and admins may.",
    )
    async def release_feedback(
        self, info: Info, evaluation_id: strawberry.ID, released: bool = True
    ) -> ReleaseFeedbackPayload:
        ctx = info.context
        evaluation = await review.release(
            ctx.session, ctx.actor, parse_id(evaluation_id, "evaluationId"), released
        )
        return ReleaseFeedbackPayload(evaluation=Evaluation.from_model(evaluation))

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Comment on a session (or one of its messages) as its teacher. Its "
        "student reads the comments once the feedback is released.",
    )
    async def add_review_comment(
        self, info: Info, input: AddReviewCommentInput
    ) -> AddReviewCommentPayload:
        ctx = info.context
        comment = await review.add_comment(
            ctx.session,
            ctx.actor,
            parse_id(input.session_id, "sessionId"),
            review.CommentFields(
                body=input.body, message_id=parse_optional_id(input.message_id, "messageId")
            ),
        )
        return AddReviewCommentPayload(comment=ReviewComment.from_model(comment))

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Remove a review comment (its author, or an admin).",
    )
    async def delete_review_comment(
        self, info: Info, id: strawberry.ID
    ) -> DeleteReviewCommentPayload:
        ctx = info.context
        deleted = await review.delete_comment(ctx.session, ctx.actor, parse_id(id))
        return DeleteReviewCommentPayload(deleted_id=to_id(deleted))

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Whether feedback on this assignment's sessions reaches the student as "
        "soon as it is ready, without a teacher releasing each one.",
    )
    async def set_feedback_release_on_completion(
        self, info: Info, assignment_id: strawberry.ID, release_on_completion: bool
    ) -> SetFeedbackReleaseOnCompletionPayload:
        ctx = info.context
        assignment: class_models.Assignment = await review.set_release_on_completion(
            ctx.session, ctx.actor, parse_id(assignment_id, "assignmentId"), release_on_completion
        )
        return SetFeedbackReleaseOnCompletionPayload(
            assignment=Assignment.from_model(assignment, ctx),
            release_feedback_on_completion=assignment.release_feedback_on_completion,
        )
