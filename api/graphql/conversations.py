from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

import strawberry

from api.conversations import models, service
from api.db.base import utcnow
from api.graphql import review as review_types
from api.graphql import teaching
from api.graphql.accounts import User
from api.graphql.classes import Assignment
from api.graphql.clients import ClientProfile
from api.graphql.context import Info
from api.graphql.ids import parse_id, parse_optional_id, to_id
from api.graphql.permissions import IsAuthenticated
from api.graphql.relay import Connection
from api.graphql.teaching import ConversationMeasures, Evaluation
from api.teaching import review as teaching_review

SessionStatus = strawberry.enum(models.SessionStatus, name="SessionStatus")
MessageRole = strawberry.enum(models.MessageRole, name="MessageRole")
MessageStatus = strawberry.enum(models.MessageStatus, name="MessageStatus")
SessionSort = strawberry.enum(
    service.SessionSort, name="SessionSort", description="How a list of sessions is sorted."
)


@strawberry.type
class Message:
    id: strawberry.ID
    session_id: strawberry.ID
    role: MessageRole
    content: str
    timestamp: datetime
    token_count: int | None
    sequence_number: int
    status: MessageStatus
    is_fallback: bool

    @classmethod
    def from_model(cls, message: models.Message) -> Message:
        return cls(
            id=to_id(message.id),
            session_id=to_id(message.session_id),
            role=message.role,
            content=message.content,
            timestamp=message.created_at,
            token_count=message.token_count,
            sequence_number=message.sequence_number,
            status=message.status,
            is_fallback=message.is_fallback,
        )


@strawberry.type
class SessionFeedback:
    rating: int
    comment: str
    created_at: datetime


@strawberry.type
class Session:
    id: strawberry.ID
    status: SessionStatus
    model: str
    total_tokens: int
    input_tokens: int
    output_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int
    estimated_cost: Decimal = strawberry.field(description="US dollars, exact.")
    message_count: int
    started_at: datetime
    ended_at: datetime | None
    student_id: strawberry.Private[uuid.UUID]
    client_profile_id: strawberry.Private[uuid.UUID]
    assignment_id: strawberry.Private[uuid.UUID | None]

    @strawberry.field(
        description="Seconds from the start to the end (or to now, while it is active)."
    )
    def duration_seconds(self) -> int:
        return int(((self.ended_at or utcnow()) - self.started_at).total_seconds())

    @strawberry.field
    async def student(self, info: Info) -> User | None:
        user = await info.context.loaders.users.load(self.student_id)
        return User.from_model(user) if user else None

    @strawberry.field(
        description="A teacher's or admin's own test conversation with a client profile, "
        "not a student's practice; usage analytics leave these out unless `includeTests`."
    )
    async def is_test(self, info: Info) -> bool:
        holder = await info.context.loaders.users.load(self.student_id)
        return holder is not None and models.holds_test_conversations(holder.role)

    @strawberry.field
    async def client_profile(self, info: Info) -> ClientProfile | None:
        profile = await info.context.loaders.client_profiles.load(self.client_profile_id)
        return ClientProfile.from_model(profile, info.context.actor) if profile else None

    @strawberry.field
    async def assignment(self, info: Info) -> Assignment | None:
        if self.assignment_id is None:
            return None
        assignment = await info.context.loaders.assignments.load(self.assignment_id)
        return Assignment.from_model(assignment, info.context) if assignment else None

    @strawberry.field(description="The conversation in order, oldest first.")
    async def messages(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Message]:
        ctx = info.context
        page = await service.messages_page(ctx.session, uuid.UUID(self.id), ctx.page(first, after))
        return Connection.of(page, Message.from_model)

    @strawberry.field(
        description="Conversation measures (no model; deterministic), once the session ended."
    )
    async def measures(self, info: Info) -> ConversationMeasures | None:
        return await teaching.session_measures(info, uuid.UUID(self.id))

    @strawberry.field(
        description="The latest evaluation against a rubric (advisory feedback): for the "
        "session's teachers and admins whatever its status; for its student, the latest "
        "one released to them."
    )
    async def evaluation(self, info: Info) -> Evaluation | None:
        return await teaching.session_evaluation(info, uuid.UUID(self.id))

    @strawberry.field(description="Every evaluation, newest first (students: released ones).")
    async def evaluations(self, info: Info) -> list[Evaluation]:
        return await teaching.session_evaluations(info, uuid.UUID(self.id))

    @strawberry.field(
        description="Teachers' comments on the session or its messages, oldest first: all "
        "of them for its teachers and admins; for its student, once its feedback is released."
    )
    async def review_comments(self, info: Info) -> list[review_types.ReviewComment]:
        ctx = info.context
        conversation = await ctx.session.get(models.Session, uuid.UUID(self.id))
        if conversation is None:
            return []
        found = await teaching_review.comments_for(ctx.session, ctx.actor, conversation)
        return [review_types.ReviewComment.from_model(c) for c in found]

    @strawberry.field(description="The student's own rating of the session.")
    async def feedback(self, info: Info) -> SessionFeedback | None:
        found = await info.context.loaders.feedback_by_session.load(uuid.UUID(self.id))
        return _feedback(found) if found else None

    @classmethod
    def from_model(cls, conversation: models.Session) -> Session:
        return cls(
            id=to_id(conversation.id),
            status=conversation.status,
            model=conversation.model,
            total_tokens=conversation.total_tokens,
            input_tokens=conversation.input_tokens,
            output_tokens=conversation.output_tokens,
            cache_write_tokens=conversation.cache_write_tokens,
            cache_read_tokens=conversation.cache_read_tokens,
            estimated_cost=conversation.estimated_cost,
            message_count=conversation.message_count,
            started_at=conversation.started_at,
            ended_at=conversation.ended_at,
            student_id=conversation.student_id,
            client_profile_id=conversation.client_profile_id,
            assignment_id=conversation.assignment_id,
        )


def _feedback(feedback: models.SessionFeedback) -> SessionFeedback:
    return SessionFeedback(
        rating=feedback.rating, comment=feedback.comment, created_at=feedback.created_at
    )


@strawberry.input
class SessionFilter:
    status: SessionStatus | None = None
    client_id: strawberry.ID | None = None
    student_id: strawberry.ID | None = None
    assignment_id: strawberry.ID | None = None
    section_id: strawberry.ID | None = None


def session_filter(given: SessionFilter | None) -> service.SessionFilter:
    if given is None:
        return service.SessionFilter()
    return service.SessionFilter(
        status=given.status,
        client_profile_id=parse_optional_id(given.client_id, "clientId"),
        student_id=parse_optional_id(given.student_id, "studentId"),
        assignment_id=parse_optional_id(given.assignment_id, "assignmentId"),
        section_id=parse_optional_id(given.section_id, "sectionId"),
    )


@strawberry.type
class StartSessionPayload:
    session: Session
    resumed: bool = strawberry.field(description="True when an active session was resumed.")


@strawberry.type
class EndSessionPayload:
    session: Session


@strawberry.type
class SendMessagePayload:
    user_message: Message = strawberry.field(description="What the student wrote, as stored.")
    assistant_message: Message = strawberry.field(
        description="The client's reply: STREAMING and empty at first. Its text arrives on "
        "the sessionEvents subscription."
    )


@strawberry.type
class StopReplyPayload:
    message: Message | None = strawberry.field(
        description="The stopped reply, CANCELLED with the text generated so far (or the "
        "latest reply, as it is, when none was being generated)."
    )


@strawberry.type
class RetryReplyPayload:
    assistant_message: Message = strawberry.field(description="The reply, STREAMING again.")


@strawberry.type
class RateSessionPayload:
    session: Session
    feedback: SessionFeedback


@strawberry.type
class ConversationQueries:
    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="Students: their own sessions. Teachers: sessions in their sections or "
        "with their client profiles. Admins: every session. Newest first unless `sort`.",
    )
    async def sessions(
        self,
        info: Info,
        filter: SessionFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        sort: SessionSort = SessionSort.NEWEST,
    ) -> Connection[Session]:
        ctx = info.context
        page = await service.list_sessions(
            ctx.session, ctx.actor, ctx.page(first, after), session_filter(filter), sort
        )
        return Connection.of(page, Session.from_model)

    @strawberry.field(permission_classes=[IsAuthenticated])
    async def session(self, info: Info, id: strawberry.ID) -> Session:
        ctx = info.context
        return Session.from_model(await service.get_session(ctx.session, ctx.actor, parse_id(id)))

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="Your active session with this client, if you have one.",
    )
    async def active_session(self, info: Info, client_id: strawberry.ID) -> Session | None:
        ctx = info.context
        found = await service.get_active_session(
            ctx.session, ctx.actor, parse_id(client_id, "clientId")
        )
        return Session.from_model(found) if found else None


@strawberry.type
class ConversationMutations:
    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Resume your active session with this client, or start one. "
        "With `new: true`, end the active one and start afresh.",
    )
    async def start_session(
        self,
        info: Info,
        client_id: strawberry.ID,
        assignment_id: strawberry.ID | None = None,
        new: bool = False,
    ) -> StartSessionPayload:
        ctx = info.context
        conversation, resumed = await service.start_session(
            ctx.session,
            ctx.actor,
            ctx.settings,
            parse_id(client_id, "clientId"),
            assignment_id=parse_optional_id(assignment_id, "assignmentId"),
            new=new,
            replies=ctx.runtime.replies,
            feedback=ctx.runtime.evaluations,
        )
        return StartSessionPayload(session=Session.from_model(conversation), resumed=resumed)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="End the session; a reply being generated is stopped (CANCELLED). When "
        "its assignment has a rubric, its (advisory) feedback is evaluated in the background: "
        "follow it on feedbackEvents or Session.evaluation.",
    )
    async def end_session(self, info: Info, session_id: strawberry.ID) -> EndSessionPayload:
        ctx = info.context
        conversation = await service.end_session(
            ctx.session,
            ctx.actor,
            ctx.runtime.replies,
            parse_id(session_id, "sessionId"),
            feedback=ctx.runtime.evaluations,
        )
        return EndSessionPayload(session=Session.from_model(conversation))

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Store a student message and start the client's reply, which streams on "
        "sessionEvents. Sending again with the same idempotencyKey returns the stored turn "
        "and never asks the model twice. While a reply is being generated, sending is a "
        "CONFLICT. Refused with RATE_LIMITED (and `retryAfter` seconds) past the message "
        "rate limits, and with BUDGET_EXCEEDED when the reply could pass a cost cap.",
    )
    async def send_message(
        self,
        info: Info,
        session_id: strawberry.ID,
        content: str,
        idempotency_key: str | None = None,
    ) -> SendMessagePayload:
        ctx = info.context
        turn = await service.send_message(
            ctx.session,
            ctx.actor,
            ctx.settings,
            ctx.runtime.replies,
            parse_id(session_id, "sessionId"),
            content,
            idempotency_key,
            limits=ctx.runtime.turn_limits,
        )
        return SendMessagePayload(
            user_message=Message.from_model(turn.user_message),
            assistant_message=Message.from_model(turn.reply),
        )

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Stop the reply being generated at once. It is kept as CANCELLED with "
        "the text so far, billed for the tokens generated.",
    )
    async def stop_reply(self, info: Info, session_id: strawberry.ID) -> StopReplyPayload:
        ctx = info.context
        reply = await service.stop_reply(
            ctx.session, ctx.actor, ctx.runtime.replies, parse_id(session_id, "sessionId")
        )
        return StopReplyPayload(message=Message.from_model(reply) if reply else None)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Ask again for the latest reply when it FAILED or was INTERRUPTED.",
    )
    async def retry_reply(self, info: Info, message_id: strawberry.ID) -> RetryReplyPayload:
        ctx = info.context
        reply = await service.retry_reply(
            ctx.session,
            ctx.actor,
            ctx.settings,
            ctx.runtime.replies,
            parse_id(message_id, "messageId"),
            limits=ctx.runtime.turn_limits,
        )
        return RetryReplyPayload(assistant_message=Message.from_model(reply))

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def rate_session(
        self, info: Info, session_id: strawberry.ID, rating: int, comment: str | None = None
    ) -> RateSessionPayload:
        ctx = info.context
        sid = parse_id(session_id, "sessionId")
        feedback = await service.rate_session(ctx.session, ctx.actor, sid, rating, comment)
        conversation = await service.get_session(ctx.session, ctx.actor, sid)
        return RateSessionPayload(
            session=Session.from_model(conversation), feedback=_feedback(feedback)
        )
