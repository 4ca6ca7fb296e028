"""User administration (admins): list and search people, create accounts, change roles,
deactivate and reactivate, erase a student's personal data on request.

Every change is recorded in the audit log in the same transaction. Changes that take
rights away are announced on the account events channel once committed, so that the
person's live subscriptions end at once (their next request already fails: every
operation reads the stored account).
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts import repository
from api.accounts import service as accounts
from api.accounts.errors import AccountError
from api.accounts.events import AccountEventKind, publish_account_event
from api.accounts.models import Role, User
from api.accounts.security import Actor
from api.audit import service as audit
from api.audit.service import Action
from api.classes.models import Enrollment, Section
from api.conversations.models import Message, MessageStatus, Session, SessionFeedback
from api.db.base import utcnow
from api.db.session import after_commit
from api.events.broker import Broker
from api.pagination import Order, Page, PageRequest, paginate
from api.teaching.models import CriterionScore, Evaluation, ReviewComment

BY_NAME = Order((User.name, User.id))
MAX_SEARCH_CHARS = 120
ERASED_NAME = "Erased user"
ERASED_CONTENT = "[erased]"
UNUSABLE_PASSWORD = ""  # matches no password (as an invited account before it accepts)


def _only_admins(actor: Actor, what: str) -> None:
    if not actor.is_admin:
        raise AccountError.forbidden(f"Only admins can {what}.")


@dataclass(frozen=True)
class UserFilter:
    text: str | None = None
    """Part of the name or email, any case."""
    role: Role | None = None
    active: bool | None = None
    section_id: uuid.UUID | None = None
    """Students enrolled in the section, and its teacher."""


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_users(
    session: AsyncSession, actor: Actor, page: PageRequest, where: UserFilter | None = None
) -> Page[User]:
    """Admins: people (not API keys' service accounts) by name."""
    _only_admins(actor, "list users")
    where = where or UserFilter()
    stmt = select(User).where(User.service_account.is_(False))
    text = (where.text or "").strip()
    if len(text) > MAX_SEARCH_CHARS:
        raise AccountError.invalid("text", f"Search for at most {MAX_SEARCH_CHARS} characters.")
    if text:
        pattern = _like(text)
        stmt = stmt.where(
            or_(
                func.lower(User.name).like(pattern, escape="\\"),
                func.lower(User.email).like(pattern, escape="\\"),
            )
        )
    if where.role is not None:
        stmt = stmt.where(User.role == where.role)
    if where.active is not None:
        stmt = stmt.where(User.active.is_(where.active))
    if where.section_id is not None:
        enrolled = exists().where(
            Enrollment.section_id == where.section_id, Enrollment.student_id == User.id
        )
        teaches = exists().where(Section.id == where.section_id, Section.teacher_id == User.id)
        stmt = stmt.where(or_(enrolled, teaches))
    return await paginate(session, stmt, BY_NAME, page)


async def get_user(session: AsyncSession, actor: Actor, user_id: uuid.UUID) -> User:
    """Admins: one person's account (API keys' service accounts are not people)."""
    _only_admins(actor, "manage users")
    user = await repository.get(session, user_id)
    if user is None or user.service_account:
        raise AccountError.not_found("User")
    return user


async def create_account(
    session: AsyncSession,
    actor: Actor,
    *,
    email: str,
    name: str,
    role: Role,
    password: str | None = None,
) -> User:
    """Admins: a student, teacher or admin account. Without a password the account cannot
    sign in until its owner sets one through a password-reset link."""
    _only_admins(actor, "create accounts")
    given = password is not None
    user = await accounts.create_user(
        session,
        email=email,
        name=name,
        role=role,
        password=password if given else secrets.token_urlsafe(32),
    )
    if not given:
        user.password_hash = UNUSABLE_PASSWORD
        await session.flush()
    await audit.record(
        session, actor, Action.USER_CREATE, "user", user.id, {"role": role, "password_set": given}
    )
    return user


async def _other_active_admins(session: AsyncSession, user: User) -> int:
    return await session.scalar(
        select(func.count())
        .select_from(User)
        .where(
            User.role == Role.ADMIN,
            User.active.is_(True),
            User.service_account.is_(False),
            User.id != user.id,
        )
    )


async def _keep_an_admin(session: AsyncSession, actor: Actor, user: User, what: str) -> None:
    """Refuse a change that would leave no active admin (an admin's own demotion or
    deactivation included: someone must be able to undo it)."""
    if user.role is not Role.ADMIN or not user.active:
        return
    # Lock the admins' rows (PostgreSQL) so two admins demoting each other cannot both win.
    await session.execute(
        select(User.id).where(User.role == Role.ADMIN, User.active.is_(True)).with_for_update()
    )
    if await _other_active_admins(session, user) == 0:
        whose = "your own account" if user.id == actor.id else "the last active admin"
        raise AccountError.conflict(
            f"You cannot {what} {whose}: there would be no active admin left. "
            "Make someone else an admin first."
        )


def _announce(
    session: AsyncSession, broker: Broker | None, user_id: uuid.UUID, kind: AccountEventKind
) -> None:
    if broker is not None:
        after_commit(session, lambda: publish_account_event(broker, user_id, kind))


async def set_role(
    session: AsyncSession, actor: Actor, user_id: uuid.UUID, role: Role, broker: Broker | None
) -> User:
    user = await get_user(session, actor, user_id)
    if user.erased_at is not None:
        raise AccountError.conflict("This account was erased; it cannot be changed.")
    if user.role is role:
        return user
    if role is not Role.ADMIN:
        await _keep_an_admin(session, actor, user, "demote")
    before = user.role
    user.role = role
    await session.flush()
    await audit.record(
        session, actor, Action.USER_ROLE_CHANGE, "user", user.id, {"from": before, "to": role}
    )
    _announce(session, broker, user.id, AccountEventKind.ROLE_CHANGED)
    return user


async def deactivate(
    session: AsyncSession, actor: Actor, user_id: uuid.UUID, broker: Broker | None
) -> User:
    """The account can no longer sign in or act: its logins end (each request reads the
    stored account) and its live subscriptions end once this commits."""
    user = await get_user(session, actor, user_id)
    if not user.active:
        return user
    await _keep_an_admin(session, actor, user, "deactivate")
    user.active = False
    await accounts.end_every_login(session, user)  # reactivating does not bring them back
    await audit.record(session, actor, Action.USER_DEACTIVATE, "user", user.id, {})
    _announce(session, broker, user.id, AccountEventKind.DEACTIVATED)
    return user


async def reactivate(session: AsyncSession, actor: Actor, user_id: uuid.UUID) -> User:
    user = await get_user(session, actor, user_id)
    if user.erased_at is not None:
        raise AccountError.conflict("This account was erased; it cannot be reactivated.")
    if user.active:
        return user
    user.active = True
    await session.flush()
    await audit.record(session, actor, Action.USER_REACTIVATE, "user", user.id, {})
    return user


@dataclass(frozen=True)
class Erasure:
    user: User
    sessions: int
    messages: int
    feedback: int


async def _erase_feedback_text(session: AsyncSession, their_sessions) -> None:
    """Feedback quotes and describes what the student said: its words go, its levels stay
    (numbers, like ratings)."""
    evaluations = select(Evaluation.id).where(Evaluation.session_id.in_(their_sessions))
    for statement in (
        update(Evaluation)
        .where(Evaluation.session_id.in_(their_sessions))
        .values(strengths=[], next_steps=[], error=None),
        update(CriterionScore)
        .where(CriterionScore.evaluation_id.in_(evaluations))
        .values(justification="", evidence=[]),
        update(ReviewComment)
        .where(ReviewComment.session_id.in_(their_sessions))
        .values(body=ERASED_CONTENT),
    ):
        await session.execute(statement.execution_options(synchronize_session=False))


async def erase_student(
    session: AsyncSession, actor: Actor, user_id: uuid.UUID, broker: Broker | None
) -> Erasure:
    """Erase a student's personal data on request: name and email replaced, password
    unusable, account deactivated, the content of their conversations, the comments of
    their ratings and the words of their feedback emptied. Sessions, messages (their count,
    tokens and times), usage records, feedback levels, costs, daily figures and the ratings'
    numbers stay, so analytics and budgets do not change. Cannot be undone."""
    user = await get_user(session, actor, user_id)
    if user.role is not Role.STUDENT:
        raise AccountError.conflict(
            "Only students can be erased. Change the account's role to student first, "
            "or deactivate it."
        )
    if user.erased_at is not None:
        return Erasure(user, 0, 0, 0)
    their_sessions = select(Session.id).where(Session.student_id == user.id)
    writing = await session.scalar(
        select(func.count())
        .select_from(Message)
        .where(Message.session_id.in_(their_sessions), Message.status == MessageStatus.STREAMING)
    )
    if writing:
        raise AccountError.conflict(
            "A reply is being written in one of this student's conversations. Deactivate the "
            "account first, then erase it in a moment."
        )
    sessions = await session.scalar(
        select(func.count()).select_from(Session).where(Session.student_id == user.id)
    )
    messages = await session.execute(
        update(Message)
        .where(Message.session_id.in_(their_sessions))
        .values(content=ERASED_CONTENT, idempotency_key=None)
        .execution_options(synchronize_session=False)
    )
    feedback = await session.execute(
        update(SessionFeedback)
        .where(SessionFeedback.student_id == user.id)
        .values(comment="")
        .execution_options(synchronize_session=False)
    )
    await _erase_feedback_text(session, their_sessions)
    was_active = user.active
    user.name = ERASED_NAME
    user.email = f"erased-{user.id.hex}@erased.invalid"
    user.password_hash = UNUSABLE_PASSWORD
    user.active = False
    user.last_login_at = None
    user.erased_at = utcnow()
    await accounts.end_every_login(session, user)
    done = Erasure(user, sessions or 0, messages.rowcount or 0, feedback.rowcount or 0)
    await audit.record(
        session,
        actor,
        Action.USER_ERASE,
        "user",
        user.id,
        {"sessions": done.sessions, "messages": done.messages, "feedback": done.feedback},
    )
    if was_active:
        _announce(session, broker, user.id, AccountEventKind.ERASED)
    return done
