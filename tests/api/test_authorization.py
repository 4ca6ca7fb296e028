"""Who may do what: every role against every operation, on objects someone else owns.

Each case builds two class worlds, A and B (a teacher, an enrolled student, a client, a
published assignment and sessions each) and an admin, then acts on world A's objects as:

- ``student``: A's enrolled student (owns A's sessions),
- ``other_student``: B's student (not in A's section),
- ``teacher``: A's teacher (owns A's client, section and assignments),
- ``other_teacher``: B's teacher,
- ``admin``, and ``anonymous`` (no token),
- API keys an admin made, each acting as its own service account with the ADMIN role:
  ``key_full`` (everything an admin may do but manage keys), ``key_usage`` (read-only usage
  analytics) and ``key_section`` (reads world A's section only).

A case asserts the exact outcome (allowed, or the error code), that a list never shows the
other world's objects, and that a refused operation changed nothing in the database.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from api.accounts.models import Role, User
from api.accounts.security import issue_token
from api.api_keys import service as api_keys
from api.api_keys.models import ApiKey, ApiKeyScope
from api.audit.models import AuditEntry
from api.classes.models import Assignment, AssignmentStatus, Enrollment, Section
from api.clients.models import ClientCheck, ClientProfile
from api.conversations import service as conversations
from api.conversations.models import (
    Message,
    MessageRole,
    MessageStatus,
    Session,
    SessionFeedback,
    SessionStatus,
)
from api.errors import ErrorCode
from api.teaching import review
from api.teaching.models import (
    CriterionScore,
    Evaluation,
    ReviewComment,
    Rubric,
    RubricStatus,
    RubricVersion,
)
from api.usage import budgets
from api.usage.models import BudgetPeriod, BudgetScope
from tests.factories.accounts import actor, make_user
from tests.factories.classes import make_assignment
from tests.factories.clients import make_profile
from tests.factories.conversations import end, say
from tests.factories.review import evaluate
from tests.factories.teaching import make_rubric
from tests.factories.world import World, make_world

ALLOWED = "ALLOWED"
UNAUTHENTICATED = ErrorCode.UNAUTHENTICATED.value
FORBIDDEN = ErrorCode.FORBIDDEN.value
NOT_FOUND = ErrorCode.NOT_FOUND.value

PEOPLE = ("student", "other_student", "teacher", "other_teacher", "admin", "anonymous")
KEYS = ("key_full", "key_usage", "key_section")
ROLES = PEOPLE  # the people; KEYS are their own table
ALL_ROLES = PEOPLE + KEYS
# Which world's objects a non-admin role belongs to.
HOME = {
    "student": "a",
    "teacher": "a",
    "other_student": "b",
    "other_teacher": "b",
    "key_section": "a",
}
SEES_ALL = ("admin", "key_full")
BOUNDARIES = "Avoids talking about family."  # what tests.factories.clients gives every profile
FIRST_WORDS = "Hello, I'm here for the practice."


# The world every case acts in


@dataclass
class Conversations:
    active_id: uuid.UUID  # the student's ongoing session with the world's client
    ended_id: uuid.UUID  # a finished one with the same client, not yet rated


@dataclass
class Matrix:
    a: World
    b: World
    admin: User
    a_draft_id: uuid.UUID  # an unpublished assignment in A's section
    inactive_id: uuid.UUID  # a deactivated student
    key_ids: dict[str, uuid.UUID]  # the API key of each key role
    a_sessions: Conversations
    b_sessions: Conversations
    tokens: dict[str, str | None]
    users: dict[str, User | None]
    a_rubric_id: uuid.UUID  # A's teacher's published rubric (not attached)
    a_draft_rubric_id: uuid.UUID  # and a draft one
    b_rubric_id: uuid.UUID
    # Made only by the tests that need them:
    a_reply_id: uuid.UUID | None = None  # a failed reply in A's active session
    a_budget_id: uuid.UUID | None = None  # a monthly cap on A's section
    a_evaluation_id: uuid.UUID | None = None  # feedback on A's ended session, not released
    a_comment_id: uuid.UUID | None = None  # A's teacher's comment on that session
    a_check_id: uuid.UUID | None = None  # a finished client check of A's profile

    def world(self, key: str) -> World:
        return self.a if key == "a" else self.b

    def sessions(self, key: str) -> Conversations:
        return self.a_sessions if key == "a" else self.b_sessions


async def practise(db, settings, world: World) -> Conversations:
    """The world's student finishes one session and is midway through another."""
    student = actor(world.student)
    ended, _ = await conversations.start_session(db, student, settings, world.profile.id)
    await say(db, ended, "First try.")
    await end(db, ended)
    active, _ = await conversations.start_session(db, student, settings, world.profile.id)
    await say(db, active, FIRST_WORDS)
    return Conversations(active_id=active.id, ended_id=ended.id)


def token_for(settings, user: User) -> str:
    token, _ = issue_token(actor(user), settings.signing_secret(), timedelta(hours=1))
    return token


async def build_matrix(db, settings) -> Matrix:
    a = await make_world(db, settings)
    b = await make_world(db, settings)
    admin = await make_user(db, Role.ADMIN)
    draft = await make_assignment(db, settings, a.teacher, a.section, a.profile, publish=False)
    inactive = await make_user(db, Role.STUDENT, active=False)
    keys = {
        "key_full": api_keys.KeyFields("Full", Role.ADMIN),
        "key_usage": api_keys.KeyFields("Usage", Role.ADMIN, ApiKeyScope.USAGE_ANALYTICS),
        "key_section": api_keys.KeyFields(
            "Section", Role.ADMIN, ApiKeyScope.FULL, section_id=a.section.id
        ),
    }
    made = {role: await api_keys.create_key(db, actor(admin), f) for role, f in keys.items()}
    await db.commit()
    users = {
        "student": a.student,
        "other_student": b.student,
        "teacher": a.teacher,
        "other_teacher": b.teacher,
        "admin": admin,
        "anonymous": None,
    }
    tokens = {role: token_for(settings, u) if u else None for role, u in users.items()}
    a_rubric = await make_rubric(db, a.teacher, "Open questions")
    a_draft_rubric = await make_rubric(db, a.teacher, "Reflections", publish=False)
    b_rubric = await make_rubric(db, b.teacher, "Empathy")
    for role, created in made.items():
        users[role] = await db.get(User, created.key.user_id)
        tokens[role] = created.secret
    check = ClientCheck(
        client_profile_id=a.profile.id,
        profile_version=a.profile.version,
        requested_by_id=a.teacher.id,
        model="practicum-simulator",
        provider="simulator",
        status="DONE",
        verdict="PASS",
        probes=[],
    )
    db.add(check)
    await db.commit()
    return Matrix(
        a=a,
        b=b,
        admin=admin,
        a_draft_id=draft.id,
        inactive_id=inactive.id,
        key_ids={role: created.key.id for role, created in made.items()},
        a_sessions=await practise(db, settings, a),
        b_sessions=await practise(db, settings, b),
        tokens=tokens,
        users=users,
        a_rubric_id=a_rubric.id,
        a_draft_rubric_id=a_draft_rubric.id,
        b_rubric_id=b_rubric.id,
        a_check_id=check.id,
    )


# Reading the database (each read ends its transaction: SQLite writers must not wait on it)


async def scalar(db, stmt):
    value = await db.scalar(stmt)
    await db.commit()
    return value


async def rows(db, stmt) -> list[tuple]:
    result = [tuple(row) for row in await db.execute(stmt)]
    await db.commit()
    return result


async def snapshot(db, m: Matrix) -> dict:
    """Everything a refused operation could have touched."""
    state: dict = {}
    models = (User, ClientProfile, Section, Enrollment, Assignment, Session, Message)
    for model in (*models, AuditEntry, ApiKey, ClientCheck):
        state[model.__tablename__] = await scalar(db, select(func.count()).select_from(model))
    state["people"] = await rows(
        db,
        select(User.id, User.name, User.role, User.active)
        .where(User.id.in_([m.a.student.id, m.a.teacher.id, m.admin.id, m.inactive_id]))
        .order_by(User.id),
    )
    state["keys"] = await rows(
        db,
        select(ApiKey.id, ApiKey.revoked_at)
        .where(ApiKey.id.in_(m.key_ids.values()))
        .order_by(ApiKey.id),
    )
    state["feedback"] = await scalar(db, select(func.count()).select_from(SessionFeedback))
    for model in (Rubric, RubricVersion, Evaluation):
        state[model.__tablename__] = await scalar(db, select(func.count()).select_from(model))
    state["a_rubrics"] = await rows(
        db,
        select(Rubric.id, Rubric.name, Rubric.status, Rubric.current_version)
        .where(Rubric.owner_id == m.a.teacher.id)
        .order_by(Rubric.id),
    )
    state["review_comments"] = await scalar(db, select(func.count()).select_from(ReviewComment))
    state["evaluations"] = await rows(
        db,
        select(Evaluation.id, Evaluation.released_at, Evaluation.released_by_id).order_by(
            Evaluation.id
        ),
    )
    state["adjustments"] = await rows(
        db,
        select(CriterionScore.id, CriterionScore.adjusted_level).order_by(CriterionScore.id),
    )
    state["a_release_on_completion"] = await rows(
        db,
        select(Assignment.release_feedback_on_completion).where(Assignment.id == m.a.assignment.id),
    )
    state["a_profile"] = await rows(
        db,
        select(ClientProfile.name, ClientProfile.version, ClientProfile.archived).where(
            ClientProfile.id == m.a.profile.id
        ),
    )
    state["a_assignments"] = await rows(
        db,
        select(Assignment.id, Assignment.status, Assignment.published_at, Assignment.rubric_id)
        .where(Assignment.section_id == m.a.section.id)
        .order_by(Assignment.id),
    )
    state["a_sessions"] = await rows(
        db,
        select(Session.id, Session.status, Session.message_count)
        .where(Session.student_id == m.a.student.id)
        .order_by(Session.id),
    )
    return state


# GraphQL helpers


def codes(body: dict) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]


async def all_nodes(gql, token: str, field: str, selection: str, args: str = "") -> list[dict]:
    """Every node of a list query, following endCursor page by page."""
    query = (
        f"query($after: String) {{ {field}(first: 100, after: $after{args}) {{"
        f" pageInfo {{ hasNextPage endCursor }} nodes {{ {selection} }} }} }}"
    )
    nodes: list[dict] = []
    after = None
    for _ in range(1000):
        connection = (await gql.ok(query, {"after": after}, token))[field]
        nodes += connection["nodes"]
        if not connection["pageInfo"]["hasNextPage"]:
            assert len(ids(nodes)) == len(nodes), f"{field} repeated a node across pages"
            return nodes
        assert connection["pageInfo"]["endCursor"] != after, f"{field} did not move past {after}"
        after = connection["pageInfo"]["endCursor"]
    raise AssertionError(f"{field} never reached its last page")


def ids(nodes: list[dict]) -> set[str]:
    return {node["id"] for node in nodes}


def sees_world(role: str, world: str) -> bool:
    """Lists show an admin everything, anyone else only their own world."""
    return role in SEES_ALL or HOME.get(role) == world


def is_author(role: str) -> bool:
    """Who sees world A's boundaries and join code: its teacher, admins and admins' keys."""
    return role in ("teacher", "admin", "key_full", "key_section")


# The operations: a document, its variables, and what an allowed call must have done

Check = Callable[["Case"], Awaitable[None]]


@dataclass
class Case:
    m: Matrix
    role: str
    data: dict
    db: object
    gql: object

    @property
    def user(self) -> User:
        user = self.m.users[self.role]
        assert user is not None
        return user

    @property
    def token(self) -> str | None:
        return self.m.tokens[self.role]


@dataclass
class Operation:
    document: str
    variables: Callable[[Matrix], dict]
    check: Check  # what an allowed call must have returned or done
    mutation: bool = False
    # Makes what the operation acts on (feedback, a comment), before the snapshot.
    prepare: Callable[..., Awaitable[None]] | None = None


async def check_me(case: Case) -> None:
    assert case.data["me"]["id"] == str(case.user.id)
    assert case.data["me"]["role"] == case.user.role.value


async def check_client_profile(case: Case) -> None:
    profile = case.data["clientProfile"]
    assert profile["id"] == str(case.m.a.profile.id)
    assert profile["boundaries"] == (BOUNDARIES if is_author(case.role) else None)


async def check_client_profiles(case: Case) -> None:
    nodes = await all_nodes(case.gql, case.token, "clientProfiles", "id boundaries")
    seen = ids(nodes)
    for world in ("a", "b"):
        assert (str(case.m.world(world).profile.id) in seen) == sees_world(case.role, world)
    if case.role in ("student", "other_student"):
        assert all(node["boundaries"] is None for node in nodes)


async def check_section(case: Case) -> None:
    section = case.data["section"]
    assert section["id"] == str(case.m.a.section.id)
    assert section["joinCode"] == (case.m.a.section.join_code if is_author(case.role) else None)


async def check_sections(case: Case) -> None:
    nodes = await all_nodes(case.gql, case.token, "sections", "id joinCode")
    seen = ids(nodes)
    for world in ("a", "b"):
        assert (str(case.m.world(world).section.id) in seen) == sees_world(case.role, world)
    if case.role in ("student", "other_student"):
        assert all(node["joinCode"] is None for node in nodes)


async def check_section_students(case: Case) -> None:
    students = case.data["section"]["students"]["nodes"]
    assert ids(students) == {str(case.m.a.student.id)}


async def check_assignment(case: Case) -> None:
    assignment = case.data["assignment"]
    assert assignment["id"] == str(case.m.a.assignment.id)
    [profile] = assignment["clientProfiles"]
    assert profile["id"] == str(case.m.a.profile.id)
    assert profile["boundaries"] == (BOUNDARIES if is_author(case.role) else None)


async def check_assignments(case: Case) -> None:
    seen = ids(await all_nodes(case.gql, case.token, "assignments", "id"))
    for world in ("a", "b"):
        assert (str(case.m.world(world).assignment.id) in seen) == sees_world(case.role, world)
    # Drafts are for the teacher's eyes only.
    assert (str(case.m.a_draft_id) in seen) == is_author(case.role)


async def check_session(case: Case) -> None:
    session = case.data["session"]
    assert session["id"] == str(case.m.a_sessions.active_id)
    assert session["status"] == "ACTIVE"
    assert session["student"]["id"] == str(case.m.a.student.id)


async def check_sessions(case: Case) -> None:
    seen = ids(await all_nodes(case.gql, case.token, "sessions", "id"))
    for world in ("a", "b"):
        sessions = case.m.sessions(world)
        expected = sees_world(case.role, world)
        assert (str(sessions.active_id) in seen) == expected
        assert (str(sessions.ended_id) in seen) == expected


async def check_active_session(case: Case) -> None:
    found = case.data["activeSession"]
    if case.role == "student":
        assert found == {"id": str(case.m.a_sessions.active_id)}
    else:  # only your own active session, never the student's
        assert found is None


async def check_session_messages(case: Case) -> None:
    messages = case.data["session"]["messages"]["nodes"]
    assert [(m["sequenceNumber"], m["content"]) for m in messages] == [(1, FIRST_WORDS)]


async def check_create_client_profile(case: Case) -> None:
    profile = case.data["createClientProfile"]["clientProfile"]
    assert profile["owner"]["id"] == str(case.user.id)
    owner = await scalar(
        case.db,
        select(ClientProfile.owner_id).where(ClientProfile.id == uuid.UUID(profile["id"])),
    )
    assert owner == case.user.id


async def check_update_client_profile(case: Case) -> None:
    profile = case.data["updateClientProfile"]["clientProfile"]
    assert (profile["name"], profile["version"]) == ("Renamed", 2)
    stored = await rows(
        case.db,
        select(ClientProfile.name, ClientProfile.version).where(
            ClientProfile.id == case.m.a.profile.id
        ),
    )
    assert stored == [("Renamed", 2)]


async def check_create_section(case: Case) -> None:
    section = case.data["createSection"]["section"]
    assert section["teacher"]["id"] == str(case.user.id)
    assert section["joinCode"]  # its creator manages it, so sees the code
    teacher = await scalar(
        case.db, select(Section.teacher_id).where(Section.id == uuid.UUID(section["id"]))
    )
    assert teacher == case.user.id


async def check_join_section(case: Case) -> None:
    section = case.data["joinSection"]["section"]
    assert section["id"] == str(case.m.a.section.id)
    assert section["joinCode"] is None
    enrolled = await scalar(
        case.db,
        select(func.count())
        .select_from(Enrollment)
        .where(Enrollment.section_id == case.m.a.section.id, Enrollment.student_id == case.user.id),
    )
    assert enrolled == 1  # joining twice does not enroll twice


async def check_create_assignment(case: Case) -> None:
    assignment = case.data["createAssignment"]["assignment"]
    assert assignment["status"] == "DRAFT"
    assert assignment["section"]["id"] == str(case.m.a.section.id)
    assert [p["id"] for p in assignment["clientProfiles"]] == [str(case.m.a.profile.id)]
    section = await scalar(
        case.db,
        select(Assignment.section_id).where(Assignment.id == uuid.UUID(assignment["id"])),
    )
    assert section == case.m.a.section.id


async def check_publish_assignment(case: Case) -> None:
    assert case.data["publishAssignment"]["assignment"]["status"] == "PUBLISHED"
    status = await scalar(
        case.db, select(Assignment.status).where(Assignment.id == case.m.a_draft_id)
    )
    assert status is AssignmentStatus.PUBLISHED


async def check_start_session(case: Case) -> None:
    payload = case.data["startSession"]
    if case.role == "student":  # resumes the ongoing session
        assert payload["resumed"] is True
        assert payload["session"]["id"] == str(case.m.a_sessions.active_id)
    else:  # the author and admins may try the client out, in a session of their own
        assert payload["resumed"] is False
        assert payload["session"]["student"]["id"] == str(case.user.id)
        student = await scalar(
            case.db,
            select(Session.student_id).where(Session.id == uuid.UUID(payload["session"]["id"])),
        )
        assert student == case.user.id


async def check_send_message(case: Case) -> None:
    message = case.data["sendMessage"]["userMessage"]
    assert (message["sequenceNumber"], message["content"]) == (2, "One more thing.")
    stored = await rows(
        case.db,
        select(Message.sequence_number, Message.role)
        .where(Message.session_id == case.m.a_sessions.active_id)
        .order_by(Message.sequence_number),
    )
    assert stored == [(1, MessageRole.USER), (2, MessageRole.USER), (3, MessageRole.ASSISTANT)]


async def check_end_session(case: Case) -> None:
    assert case.data["endSession"]["session"]["status"] == "COMPLETED"
    status = await scalar(
        case.db, select(Session.status).where(Session.id == case.m.a_sessions.active_id)
    )
    assert status is SessionStatus.COMPLETED


async def check_stop_reply(case: Case) -> None:
    assert case.data["stopReply"]["message"] is None  # no reply was being generated
    stored = await rows(
        case.db,
        select(Message.status).where(Message.session_id == case.m.a_sessions.active_id),
    )
    assert stored == [(MessageStatus.COMPLETE,)]  # the student's message, untouched


async def check_preview_system_prompt(case: Case) -> None:
    preview = case.data["previewSystemPrompt"]
    assert case.m.a.profile.name in preview["systemPrompt"]
    assert BOUNDARIES in preview["systemPrompt"]  # the author and admins see it all
    assert "Difficulty 5 of 5" in preview["systemPrompt"]  # the unsaved edit
    difficulty = await scalar(
        case.db, select(ClientProfile.difficulty).where(ClientProfile.id == case.m.a.profile.id)
    )
    assert difficulty != 5  # and it stayed unsaved


async def check_rate_session(case: Case) -> None:
    assert case.data["rateSession"]["feedback"]["rating"] == 4
    stored = await rows(
        case.db,
        select(SessionFeedback.rating, SessionFeedback.student_id).where(
            SessionFeedback.session_id == case.m.a_sessions.ended_id
        ),
    )
    assert stored == [(4, case.m.a.student.id)]


async def check_rubric(case: Case) -> None:
    assert case.data["rubric"]["id"] == str(case.m.a_rubric_id)
    assert [c["key"] for c in case.data["rubric"]["criteria"]] == ["open_questions"]


async def check_rubrics(case: Case) -> None:
    seen = ids(await all_nodes(case.gql, case.token, "rubrics", "id"))
    mine = {"teacher": "a", "other_teacher": "b"}.get(case.role)
    assert (str(case.m.a_rubric_id) in seen) == (case.role in SEES_ALL or mine == "a")
    assert (str(case.m.b_rubric_id) in seen) == (case.role in SEES_ALL or mine == "b")


async def check_create_rubric(case: Case) -> None:
    rubric = case.data["createRubric"]["rubric"]
    assert (rubric["owner"]["id"], rubric["status"]) == (str(case.user.id), "DRAFT")
    owner = await scalar(
        case.db, select(Rubric.owner_id).where(Rubric.id == uuid.UUID(rubric["id"]))
    )
    assert owner == case.user.id


async def check_update_rubric(case: Case) -> None:
    assert case.data["updateRubric"]["rubric"]["name"] == "Renamed rubric"
    name = await scalar(case.db, select(Rubric.name).where(Rubric.id == case.m.a_rubric_id))
    assert name == "Renamed rubric"


async def check_publish_rubric(case: Case) -> None:
    assert case.data["publishRubric"]["rubric"]["status"] == "PUBLISHED"
    status = await scalar(
        case.db, select(Rubric.status).where(Rubric.id == case.m.a_draft_rubric_id)
    )
    assert status is RubricStatus.PUBLISHED


async def check_set_assignment_rubric(case: Case) -> None:
    rubric = case.data["setAssignmentRubric"]["assignment"]["rubric"]
    assert rubric == {"id": str(case.m.a_rubric_id)}
    stored = await scalar(
        case.db, select(Assignment.rubric_id).where(Assignment.id == case.m.a.assignment.id)
    )
    assert stored == case.m.a_rubric_id


async def check_evaluate_session(case: Case) -> None:
    evaluation = case.data["evaluateSession"]["evaluation"]
    assert (evaluation["status"], evaluation["advisory"]) == ("QUEUED", True)
    session_id = await scalar(
        case.db, select(Evaluation.session_id).where(Evaluation.id == uuid.UUID(evaluation["id"]))
    )
    assert session_id == case.m.a_sessions.ended_id
    await case.gql.runtime.evaluations.wait_idle()


async def check_session_feedback(case: Case) -> None:
    session = case.data["session"]
    assert session["measures"]["studentMessages"] == 1
    assert session["evaluation"] is None  # none was asked for


async def check_audit_log(case: Case) -> None:
    # the teachers' publications while the worlds were built, at least
    assert case.data["auditLog"]["nodes"], case.data


async def check_users(case: Case) -> None:
    nodes = case.data["users"]["nodes"]
    assert [n["id"] for n in nodes] == [str(case.m.a.student.id)]
    assert nodes[0]["email"] == case.m.a.student.email


async def check_user(case: Case) -> None:
    user = case.data["user"]
    assert (user["id"], user["email"]) == (str(case.m.a.student.id), case.m.a.student.email)


async def check_create_user(case: Case) -> None:
    user = case.data["createUser"]["user"]
    role = await scalar(case.db, select(User.role).where(User.id == uuid.UUID(user["id"])))
    assert (user["role"], role) == ("TEACHER", Role.TEACHER)


async def check_set_user_role(case: Case) -> None:
    assert case.data["setUserRole"]["user"]["role"] == "TEACHER"
    role = await scalar(case.db, select(User.role).where(User.id == case.m.a.student.id))
    assert role is Role.TEACHER


async def check_deactivate_user(case: Case) -> None:
    assert case.data["deactivateUser"]["user"]["active"] is False
    active = await scalar(case.db, select(User.active).where(User.id == case.m.a.student.id))
    assert active is False


async def check_reactivate_user(case: Case) -> None:
    assert case.data["reactivateUser"]["user"]["active"] is True
    active = await scalar(case.db, select(User.active).where(User.id == case.m.inactive_id))
    assert active is True


async def check_erase_student(case: Case) -> None:
    assert case.data["eraseStudent"]["user"]["erased"] is True
    contents = {
        content
        for (content,) in await rows(
            case.db,
            select(Message.content)
            .join(Session, Session.id == Message.session_id)
            .where(Session.student_id == case.m.a.student.id),
        )
    }
    assert contents == {"[erased]"}


async def check_api_keys(case: Case) -> None:
    listed = {n["id"] for n in case.data["apiKeys"]["nodes"]}
    assert {str(i) for i in case.m.key_ids.values()} <= listed


async def check_create_api_key(case: Case) -> None:
    created = case.data["createApiKey"]
    assert created["secret"].startswith("pk_")
    assert created["apiKey"]["scope"] == "USAGE_ANALYTICS"


async def check_revoke_api_key(case: Case) -> None:
    assert case.data["revokeApiKey"]["apiKey"]["revokedAt"]
    revoked = await scalar(
        case.db, select(ApiKey.revoked_at).where(ApiKey.id == case.m.key_ids["key_usage"])
    )
    assert revoked is not None


async def with_feedback(db, settings, m: Matrix) -> None:
    """A's ended session has feedback (not released) and a comment by A's teacher."""
    ended = await db.get(Session, m.a_sessions.ended_id)
    evaluated = await evaluate(db, ended, m.a.teacher)
    m.a_evaluation_id = evaluated.evaluation.id
    comment = await review.add_comment(
        db, actor(m.a.teacher), ended.id, review.CommentFields(body="Good pacing.")
    )
    await db.commit()
    m.a_comment_id = comment.id


async def check_adjust_criterion_level(case: Case) -> None:
    score = case.data["adjustCriterionLevel"]["evaluation"]["scores"][0]
    assert (score["level"], score["evaluatorLevel"]) == (4, 2)
    stored = await rows(
        case.db,
        select(CriterionScore.adjusted_level, CriterionScore.adjusted_by_id).where(
            CriterionScore.evaluation_id == case.m.a_evaluation_id,
            CriterionScore.criterion_key == "open_questions",
        ),
    )
    assert stored == [(4, case.user.id)]


async def check_release_feedback(case: Case) -> None:
    assert case.data["releaseFeedback"]["evaluation"]["releasedAt"]
    stored = await rows(
        case.db,
        select(Evaluation.released_by_id).where(Evaluation.id == case.m.a_evaluation_id),
    )
    assert stored == [(case.user.id,)]


async def check_add_review_comment(case: Case) -> None:
    comment = case.data["addReviewComment"]["comment"]
    assert comment["author"]["id"] == str(case.user.id)
    stored = await rows(
        case.db,
        select(ReviewComment.body).where(ReviewComment.session_id == case.m.a_sessions.ended_id),
    )
    assert sorted(stored) == [("Good pacing.",), ("Well paced.",)]


async def check_delete_review_comment(case: Case) -> None:
    assert case.data["deleteReviewComment"]["deletedId"] == str(case.m.a_comment_id)
    assert (
        await scalar(
            case.db,
            select(func.count())
            .select_from(ReviewComment)
            .where(ReviewComment.id == case.m.a_comment_id),
        )
        == 0
    )


async def check_set_release_on_completion(case: Case) -> None:
    assert case.data["setFeedbackReleaseOnCompletion"]["releaseFeedbackOnCompletion"] is True
    stored = await scalar(
        case.db,
        select(Assignment.release_feedback_on_completion).where(
            Assignment.id == case.m.a.assignment.id
        ),
    )
    assert stored is True


async def check_export_section_sessions(case: Case) -> None:
    content = case.data["exportSectionSessions"]["content"]
    assert str(case.m.a_sessions.ended_id) in content
    assert str(case.m.b_sessions.ended_id) not in content


async def check_export_session(case: Case) -> None:
    exported = json.loads(case.data["exportSession"]["content"])
    assert exported["session"]["id"] == str(case.m.a_sessions.ended_id)
    if case.role == "student":  # not released: no feedback, no comments, no costs
        assert (exported["feedback"], exported["comments"]) == (None, [])
        assert "estimatedCostUsd" not in exported["session"]
    else:
        assert exported["feedback"]["criteria"][0]["key"] == "open_questions"
        assert exported["comments"][0]["body"] == "Good pacing."


async def check_progress(case: Case) -> None:
    lines = case.data["progress"]
    if case.role in ("teacher", "admin", "key_full"):
        assert [line["key"] for line in lines] == ["open_questions", "reflections"]
        assert [p["sessionId"] for p in lines[0]["points"]] == [str(case.m.a_sessions.ended_id)]
    else:  # the student's feedback is not released; another teacher sees none of it
        assert lines == []


def no_variables(m: Matrix) -> dict:
    return {}


OK, UNAUTH, FORBID, NF = ALLOWED, UNAUTHENTICATED, FORBIDDEN, NOT_FOUND


# The matrix: what each role gets, acting on world A's objects.
async def check_check_client(case: Case) -> None:
    started = case.data["checkClient"]["check"]
    assert (started["status"], started["provider"]) == ("RUNNING", "simulator")
    await case.gql.runtime.client_checks.settled(uuid.UUID(started["id"]))
    stored = await scalar(
        case.db, select(ClientCheck.status).where(ClientCheck.id == uuid.UUID(started["id"]))
    )
    assert stored == "DONE"


async def check_client_check(case: Case) -> None:
    assert case.data["clientCheck"] == {"id": str(case.m.a_check_id), "verdict": "PASS"}


async def check_last_check(case: Case) -> None:
    last = case.data["clientProfile"]["lastCheck"]
    if case.role == "student":  # practises with the client, never sees its checks
        assert last is None
    else:
        assert last == {"id": str(case.m.a_check_id), "verdict": "PASS"}


# fmt: off
EXPECTED: dict[str, tuple[str, ...]] = {
    #                       student other_student teacher other_teacher admin   anonymous
    "me":                   (OK,     OK,           OK,     OK,           OK,     UNAUTH),
    "clientProfile":        (OK,     NF,           OK,     NF,           OK,     UNAUTH),
    "clientProfiles":       (OK,     OK,           OK,     OK,           OK,     UNAUTH),
    "section":              (OK,     NF,           OK,     NF,           OK,     UNAUTH),
    "sections":             (OK,     OK,           OK,     OK,           OK,     UNAUTH),
    "section.students":     (FORBID, NF,           OK,     NF,           OK,     UNAUTH),
    "assignment":           (OK,     NF,           OK,     NF,           OK,     UNAUTH),
    "assignments":          (OK,     OK,           OK,     OK,           OK,     UNAUTH),
    "session":              (OK,     NF,           OK,     NF,           OK,     UNAUTH),
    "sessions":             (OK,     OK,           OK,     OK,           OK,     UNAUTH),
    "activeSession":        (OK,     NF,           OK,     NF,           OK,     UNAUTH),
    "session.messages":     (OK,     NF,           OK,     NF,           OK,     UNAUTH),
    "createClientProfile":  (FORBID, FORBID,       OK,     OK,           OK,     UNAUTH),
    "updateClientProfile":  (FORBID, FORBID,       OK,     NF,           OK,     UNAUTH),
    "createSection":        (FORBID, FORBID,       OK,     OK,           OK,     UNAUTH),
    "joinSection":          (OK,     OK,           FORBID, FORBID,       FORBID, UNAUTH),
    "createAssignment":     (FORBID, FORBID,       OK,     NF,           OK,     UNAUTH),
    "publishAssignment":    (FORBID, FORBID,       OK,     NF,           OK,     UNAUTH),
    "startSession":         (OK,     NF,           OK,     NF,           OK,     UNAUTH),
    "sendMessage":          (OK,     NF,           FORBID, NF,           OK,     UNAUTH),
    "endSession":           (OK,     NF,           FORBID, NF,           OK,     UNAUTH),
    "rateSession":          (OK,     NF,           FORBID, NF,           OK,     UNAUTH),
    "stopReply":            (OK,     NF,           FORBID, NF,           OK,     UNAUTH),
    "previewSystemPrompt":  (FORBID, FORBID,       OK,     NF,           OK,     UNAUTH),
    "rubric":               (NF,     NF,           OK,     NF,           OK,     UNAUTH),
    "rubrics":              (OK,     OK,           OK,     OK,           OK,     UNAUTH),
    "session.feedback":     (OK,     NF,           OK,     NF,           OK,     UNAUTH),
    "createRubric":         (FORBID, FORBID,       OK,     OK,           OK,     UNAUTH),
    "updateRubric":         (FORBID, FORBID,       OK,     NF,           OK,     UNAUTH),
    "publishRubric":        (FORBID, FORBID,       OK,     NF,           OK,     UNAUTH),
    "setAssignmentRubric":  (FORBID, FORBID,       OK,     NF,           OK,     UNAUTH),
    "evaluateSession":      (FORBID, NF,           OK,     NF,           OK,     UNAUTH),
    "auditLog":             (FORBID, FORBID,       FORBID, FORBID,       OK,     UNAUTH),
    "users":                (FORBID, FORBID,       FORBID, FORBID,       OK,     UNAUTH),
    "user":                 (FORBID, FORBID,       FORBID, FORBID,       OK,     UNAUTH),
    "createUser":           (FORBID, FORBID,       FORBID, FORBID,       OK,     UNAUTH),
    "setUserRole":          (FORBID, FORBID,       FORBID, FORBID,       OK,     UNAUTH),
    "deactivateUser":       (FORBID, FORBID,       FORBID, FORBID,       OK,     UNAUTH),
    "reactivateUser":       (FORBID, FORBID,       FORBID, FORBID,       OK,     UNAUTH),
    "eraseStudent":         (FORBID, FORBID,       FORBID, FORBID,       OK,     UNAUTH),
    "apiKeys":              (FORBID, FORBID,       FORBID, FORBID,       OK,     UNAUTH),
    "createApiKey":         (FORBID, FORBID,       FORBID, FORBID,       OK,     UNAUTH),
    "revokeApiKey":         (FORBID, FORBID,       FORBID, FORBID,       OK,     UNAUTH),
    "adjustCriterionLevel": (FORBID, NF,           OK,     NF,           OK,     UNAUTH),
    "releaseFeedback":      (FORBID, NF,           OK,     NF,           OK,     UNAUTH),
    "addReviewComment":     (FORBID, NF,           OK,     NF,           OK,     UNAUTH),
    "deleteReviewComment":  (FORBID, NF,           OK,     NF,           OK,     UNAUTH),
    "setFeedbackReleaseOnCompletion":
                            (FORBID, FORBID,       OK,     NF,           OK,     UNAUTH),
    "exportSectionSessions":(FORBID, NF,           OK,     NF,           OK,     UNAUTH),
    "exportSession":        (OK,     NF,           OK,     NF,           OK,     UNAUTH),
    "progress":             (OK,     NF,           OK,     OK,           OK,     UNAUTH),
    "checkClient":          (FORBID, FORBID,       OK,     NF,           OK,     UNAUTH),
    "clientCheck":          (FORBID, FORBID,       OK,     NF,           OK,     UNAUTH),
    "clientProfile.lastCheck": (OK,  NF,           OK,     NF,           OK,     UNAUTH),
}
# The same operations with an API key an admin made (its account has the ADMIN role).
KEY_EXPECTED: dict[str, tuple[str, ...]] = {
    #                       key_full key_usage key_section
    "me":                   (OK,      OK,       OK),
    "clientProfile":        (OK,      FORBID,   FORBID),
    "clientProfiles":       (OK,      FORBID,   FORBID),
    "section":              (OK,      FORBID,   OK),
    "sections":             (OK,      FORBID,   OK),
    "section.students":     (OK,      FORBID,   OK),
    "assignment":           (OK,      FORBID,   OK),
    "assignments":          (OK,      FORBID,   OK),
    "session":              (OK,      FORBID,   OK),
    "sessions":             (OK,      FORBID,   OK),
    "activeSession":        (OK,      FORBID,   FORBID),
    "session.messages":     (OK,      FORBID,   OK),
    "createClientProfile":  (OK,      FORBID,   FORBID),
    "updateClientProfile":  (OK,      FORBID,   FORBID),
    "createSection":        (OK,      FORBID,   FORBID),
    "joinSection":          (FORBID,  FORBID,   FORBID),
    "createAssignment":     (OK,      FORBID,   FORBID),
    "publishAssignment":    (OK,      FORBID,   FORBID),
    "startSession":         (OK,      FORBID,   FORBID),
    "sendMessage":          (OK,      FORBID,   FORBID),
    "endSession":           (OK,      FORBID,   FORBID),
    "rateSession":          (OK,      FORBID,   FORBID),
    "stopReply":            (OK,      FORBID,   FORBID),
    "previewSystemPrompt":  (OK,      FORBID,   FORBID),
    "rubric":               (OK,      FORBID,   FORBID),
    "rubrics":              (OK,      FORBID,   FORBID),
    "session.feedback":     (OK,      FORBID,   OK),
    "createRubric":         (OK,      FORBID,   FORBID),
    "updateRubric":         (OK,      FORBID,   FORBID),
    "publishRubric":        (OK,      FORBID,   FORBID),
    "setAssignmentRubric":  (OK,      FORBID,   FORBID),
    "evaluateSession":      (OK,      FORBID,   FORBID),
    "auditLog":             (OK,      FORBID,   FORBID),
    "users":                (OK,      FORBID,   FORBID),
    "user":                 (OK,      FORBID,   FORBID),
    "createUser":           (OK,      FORBID,   FORBID),
    "setUserRole":          (OK,      FORBID,   FORBID),
    "deactivateUser":       (OK,      FORBID,   FORBID),
    "reactivateUser":       (OK,      FORBID,   FORBID),
    "eraseStudent":         (OK,      FORBID,   FORBID),
    "apiKeys":              (FORBID,  FORBID,   FORBID),
    "createApiKey":         (FORBID,  FORBID,   FORBID),
    "revokeApiKey":         (FORBID,  FORBID,   FORBID),
    "adjustCriterionLevel": (OK,      FORBID,   FORBID),
    "releaseFeedback":      (OK,      FORBID,   FORBID),
    "addReviewComment":     (OK,      FORBID,   FORBID),
    "deleteReviewComment":  (OK,      FORBID,   FORBID),
    "setFeedbackReleaseOnCompletion":
                            (OK,      FORBID,   FORBID),
    "exportSectionSessions":(OK,      FORBID,   FORBID),
    "exportSession":        (OK,      FORBID,   FORBID),
    "progress":             (OK,      FORBID,   FORBID),
    "checkClient":          (OK,      FORBID,   FORBID),
    "clientCheck":          (OK,      FORBID,   FORBID),
    "clientProfile.lastCheck": (OK,   FORBID,   FORBID),
}
# fmt: on

OPERATIONS: dict[str, Operation] = {
    # Queries
    "me": Operation("{ me { id role } }", no_variables, check_me),
    "clientProfile": Operation(
        "query($id: ID!) { clientProfile(id: $id) { id boundaries } }",
        lambda m: {"id": str(m.a.profile.id)},
        check_client_profile,
    ),
    "clientProfiles": Operation(
        "{ clientProfiles { nodes { id } } }", no_variables, check_client_profiles
    ),
    "section": Operation(
        "query($id: ID!) { section(id: $id) { id joinCode } }",
        lambda m: {"id": str(m.a.section.id)},
        check_section,
    ),
    "sections": Operation("{ sections { nodes { id } } }", no_variables, check_sections),
    "section.students": Operation(
        "query($id: ID!) { section(id: $id) { id students { nodes { id } } } }",
        lambda m: {"id": str(m.a.section.id)},
        check_section_students,
    ),
    "assignment": Operation(
        "query($id: ID!) { assignment(id: $id) { id clientProfiles { id boundaries } } }",
        lambda m: {"id": str(m.a.assignment.id)},
        check_assignment,
    ),
    "assignments": Operation("{ assignments { nodes { id } } }", no_variables, check_assignments),
    "session": Operation(
        "query($id: ID!) { session(id: $id) { id status student { id } } }",
        lambda m: {"id": str(m.a_sessions.active_id)},
        check_session,
    ),
    "sessions": Operation("{ sessions { nodes { id } } }", no_variables, check_sessions),
    "activeSession": Operation(
        "query($id: ID!) { activeSession(clientId: $id) { id } }",
        lambda m: {"id": str(m.a.profile.id)},
        check_active_session,
    ),
    "session.messages": Operation(
        "query($id: ID!) { session(id: $id) { messages { nodes { sequenceNumber content } } } }",
        lambda m: {"id": str(m.a_sessions.active_id)},
        check_session_messages,
    ),
    # Mutations
    "createClientProfile": Operation(
        """mutation { createClientProfile(input: {name: "Casey", presentingConcern: "Stress"})
           { clientProfile { id owner { id } } } }""",
        no_variables,
        check_create_client_profile,
        mutation=True,
    ),
    "updateClientProfile": Operation(
        """mutation($id: ID!) { updateClientProfile(id: $id, input: {name: "Renamed"})
           { clientProfile { name version } } }""",
        lambda m: {"id": str(m.a.profile.id)},
        check_update_client_profile,
        mutation=True,
    ),
    "createSection": Operation(
        """mutation { createSection(input: {name: "Evening group"})
           { section { id joinCode teacher { id } } } }""",
        no_variables,
        check_create_section,
        mutation=True,
    ),
    "joinSection": Operation(
        "mutation($code: String!) { joinSection(joinCode: $code) { section { id joinCode } } }",
        lambda m: {"code": m.a.section.join_code},
        check_join_section,
        mutation=True,
    ),
    "createAssignment": Operation(
        """mutation($section: ID!, $client: ID!) { createAssignment(input: {sectionId: $section,
             title: "Second practice", clientProfileIds: [$client]})
           { assignment { id status section { id } clientProfiles { id } } } }""",
        lambda m: {"section": str(m.a.section.id), "client": str(m.a.profile.id)},
        check_create_assignment,
        mutation=True,
    ),
    "publishAssignment": Operation(
        "mutation($id: ID!) { publishAssignment(id: $id) { assignment { id status } } }",
        lambda m: {"id": str(m.a_draft_id)},
        check_publish_assignment,
        mutation=True,
    ),
    "startSession": Operation(
        """mutation($id: ID!) { startSession(clientId: $id)
           { resumed session { id student { id } } } }""",
        lambda m: {"id": str(m.a.profile.id)},
        check_start_session,
        mutation=True,
    ),
    "sendMessage": Operation(
        """mutation($id: ID!) { sendMessage(sessionId: $id, content: "One more thing.")
           { userMessage { sequenceNumber content } } }""",
        lambda m: {"id": str(m.a_sessions.active_id)},
        check_send_message,
        mutation=True,
    ),
    "endSession": Operation(
        "mutation($id: ID!) { endSession(sessionId: $id) { session { id status } } }",
        lambda m: {"id": str(m.a_sessions.active_id)},
        check_end_session,
        mutation=True,
    ),
    "rateSession": Operation(
        "mutation($id: ID!) { rateSession(sessionId: $id, rating: 4) { feedback { rating } } }",
        lambda m: {"id": str(m.a_sessions.ended_id)},
        check_rate_session,
        mutation=True,
    ),
    "stopReply": Operation(
        "mutation($id: ID!) { stopReply(sessionId: $id) { message { id status } } }",
        lambda m: {"id": str(m.a_sessions.active_id)},
        check_stop_reply,
        mutation=True,
    ),
    "previewSystemPrompt": Operation(
        """mutation($id: ID!) { previewSystemPrompt(clientId: $id, input: {difficulty: 5})
           { systemPrompt templateVersion } }""",
        lambda m: {"id": str(m.a.profile.id)},
        check_preview_system_prompt,
        mutation=True,
    ),
    "rubric": Operation(
        "query($id: ID!) { rubric(id: $id) { id criteria { key } } }",
        lambda m: {"id": str(m.a_rubric_id)},
        check_rubric,
    ),
    "rubrics": Operation("{ rubrics { nodes { id } } }", no_variables, check_rubrics),
    "session.feedback": Operation(
        """query($id: ID!) { session(id: $id) { measures { studentMessages }
           evaluation { id } evaluations { id } } }""",
        lambda m: {"id": str(m.a_sessions.ended_id)},
        check_session_feedback,
    ),
    "createRubric": Operation(
        """mutation { createRubric(input: {name: "Mine", criteria: [{name: "Empathy",
             description: "Names feelings.", weight: "1", levels: [{level: 1, descriptor: "No"},
             {level: 2, descriptor: "Yes"}]}]}) { rubric { id status owner { id } } } }""",
        no_variables,
        check_create_rubric,
        mutation=True,
    ),
    "updateRubric": Operation(
        """mutation($id: ID!) { updateRubric(id: $id, input: {name: "Renamed rubric",
             criteria: [{name: "Open questions", description: "Asks open questions.",
             weight: "2", levels: [{level: 1, descriptor: "Rarely"},
             {level: 2, descriptor: "Often"}]}]}) { rubric { id name } } }""",
        lambda m: {"id": str(m.a_rubric_id)},
        check_update_rubric,
        mutation=True,
    ),
    "publishRubric": Operation(
        "mutation($id: ID!) { publishRubric(id: $id) { rubric { id status } } }",
        lambda m: {"id": str(m.a_draft_rubric_id)},
        check_publish_rubric,
        mutation=True,
    ),
    "setAssignmentRubric": Operation(
        """mutation($a: ID!, $r: ID!) { setAssignmentRubric(assignmentId: $a, rubricId: $r)
           { assignment { id rubric { id } } } }""",
        lambda m: {"a": str(m.a.assignment.id), "r": str(m.a_rubric_id)},
        check_set_assignment_rubric,
        mutation=True,
    ),
    "evaluateSession": Operation(
        """mutation($id: ID!, $r: ID!) { evaluateSession(sessionId: $id, rubricId: $r)
           { evaluation { id status advisory } } }""",
        lambda m: {"id": str(m.a_sessions.ended_id), "r": str(m.a_rubric_id)},
        check_evaluate_session,
        mutation=True,
    ),
    # Administration
    "auditLog": Operation(
        "{ auditLog(first: 5) { nodes { id action } } }", no_variables, check_audit_log
    ),
    "users": Operation(
        "query($t: String) { users(filter: {text: $t}) { nodes { id email } } }",
        lambda m: {"t": m.a.student.email},
        check_users,
    ),
    "user": Operation(
        "query($id: ID!) { user(id: $id) { id email } }",
        lambda m: {"id": str(m.a.student.id)},
        check_user,
    ),
    "createUser": Operation(
        """mutation($e: String!) { createUser(input: {email: $e, name: "Nova", role: TEACHER})
           { user { id role } } }""",
        lambda m: {"e": f"new-{uuid.uuid4().hex[:10]}@school.test"},
        check_create_user,
        mutation=True,
    ),
    "setUserRole": Operation(
        "mutation($id: ID!) { setUserRole(id: $id, role: TEACHER) { user { id role } } }",
        lambda m: {"id": str(m.a.student.id)},
        check_set_user_role,
        mutation=True,
    ),
    "deactivateUser": Operation(
        "mutation($id: ID!) { deactivateUser(id: $id) { user { id active } } }",
        lambda m: {"id": str(m.a.student.id)},
        check_deactivate_user,
        mutation=True,
    ),
    "reactivateUser": Operation(
        "mutation($id: ID!) { reactivateUser(id: $id) { user { id active } } }",
        lambda m: {"id": str(m.inactive_id)},
        check_reactivate_user,
        mutation=True,
    ),
    "eraseStudent": Operation(
        "mutation($id: ID!) { eraseStudent(id: $id) { user { id erased } messages } }",
        lambda m: {"id": str(m.a.student.id)},
        check_erase_student,
        mutation=True,
    ),
    "apiKeys": Operation("{ apiKeys(first: 100) { nodes { id } } }", no_variables, check_api_keys),
    "createApiKey": Operation(
        """mutation { createApiKey(input: {name: "Reports", role: ADMIN,
             scope: USAGE_ANALYTICS}) { secret apiKey { id scope } } }""",
        no_variables,
        check_create_api_key,
        mutation=True,
    ),
    "revokeApiKey": Operation(
        "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { id revokedAt } } }",
        lambda m: {"id": str(m.key_ids["key_usage"])},
        check_revoke_api_key,
        mutation=True,
    ),
    # Feedback review and exports
    "adjustCriterionLevel": Operation(
        """mutation($id: ID!) { adjustCriterionLevel(evaluationId: $id,
             criterionKey: "open_questions", level: 4)
           { evaluation { scores { level evaluatorLevel } } } }""",
        lambda m: {"id": str(m.a_evaluation_id)},
        check_adjust_criterion_level,
        mutation=True,
        prepare=with_feedback,
    ),
    "releaseFeedback": Operation(
        """mutation($id: ID!) { releaseFeedback(evaluationId: $id, released: true)
           { evaluation { releasedAt } } }""",
        lambda m: {"id": str(m.a_evaluation_id)},
        check_release_feedback,
        mutation=True,
        prepare=with_feedback,
    ),
    "addReviewComment": Operation(
        """mutation($id: ID!) { addReviewComment(input: {sessionId: $id, body: "Well paced."})
           { comment { body author { id } } } }""",
        lambda m: {"id": str(m.a_sessions.ended_id)},
        check_add_review_comment,
        mutation=True,
        prepare=with_feedback,
    ),
    "deleteReviewComment": Operation(
        "mutation($id: ID!) { deleteReviewComment(id: $id) { deletedId } }",
        lambda m: {"id": str(m.a_comment_id)},
        check_delete_review_comment,
        mutation=True,
        prepare=with_feedback,
    ),
    "setFeedbackReleaseOnCompletion": Operation(
        """mutation($id: ID!) { setFeedbackReleaseOnCompletion(assignmentId: $id,
             releaseOnCompletion: true) { releaseFeedbackOnCompletion } }""",
        lambda m: {"id": str(m.a.assignment.id)},
        check_set_release_on_completion,
        mutation=True,
    ),
    "exportSectionSessions": Operation(
        "query($id: ID!) { exportSectionSessions(sectionId: $id) { content } }",
        lambda m: {"id": str(m.a.section.id)},
        check_export_section_sessions,
    ),
    "exportSession": Operation(
        "query($id: ID!) { exportSession(sessionId: $id, format: JSON) { content } }",
        lambda m: {"id": str(m.a_sessions.ended_id)},
        check_export_session,
        prepare=with_feedback,
    ),
    "progress": Operation(
        """query($id: ID!) { progress(studentId: $id) { key points { sessionId level } } }""",
        lambda m: {"id": str(m.a.student.id)},
        check_progress,
        prepare=with_feedback,
    ),
    "checkClient": Operation(
        "mutation($id: ID!) { checkClient(clientId: $id) { check { id status provider } } }",
        lambda m: {"id": str(m.a.profile.id)},
        check_check_client,
        mutation=True,
    ),
    "clientCheck": Operation(
        "query($id: ID!) { clientCheck(id: $id) { id verdict } }",
        lambda m: {"id": str(m.a_check_id)},
        check_client_check,
    ),
    "clientProfile.lastCheck": Operation(
        "query($id: ID!) { clientProfile(id: $id) { id lastCheck { id verdict } } }",
        lambda m: {"id": str(m.a.profile.id)},
        check_last_check,
    ),
}
assert OPERATIONS.keys() == EXPECTED.keys() == KEY_EXPECTED.keys()

CASES = [
    pytest.param(name, role, outcome, id=f"{name}-{role}-{outcome.lower()}")
    for table, roles in ((EXPECTED, PEOPLE), (KEY_EXPECTED, KEYS))
    for name, outcomes in table.items()
    for role, outcome in zip(roles, outcomes, strict=True)
]


def private_to_a(m: Matrix) -> list[str]:
    """What a refused caller must never read in the response."""
    return [
        str(m.a.profile.id),
        str(m.a.section.id),
        m.a.section.join_code,
        str(m.a.assignment.id),
        str(m.a_draft_id),
        str(m.a_sessions.active_id),
        str(m.a_sessions.ended_id),
        m.a.student.email,
        BOUNDARIES,
        FIRST_WORDS,
    ]


@pytest.mark.parametrize(("name", "role", "outcome"), CASES)
async def test_role_against_someone_elses_objects(db, settings, gql, name, role, outcome):
    m = await build_matrix(db, settings)
    operation = OPERATIONS[name]
    if operation.prepare is not None:
        await operation.prepare(db, settings, m)
    before = await snapshot(db, m)

    body = await gql(operation.document, operation.variables(m), m.tokens[role])

    if outcome == ALLOWED:
        assert "errors" not in body, body["errors"]
        await operation.check(Case(m=m, role=role, data=body["data"], db=db, gql=gql))
    else:
        assert codes(body) == [outcome], body
        assert not (body.get("data") or {}).get(name.split(".")[0]), body["data"]
        text = json.dumps(body)
        leaked = [secret for secret in private_to_a(m) if secret in text]
        assert not leaked, f"{role} read {leaked} through a refused {name}"
        if outcome == NOT_FOUND:  # the same words whether the object exists or not
            assert "was not found, or you do not have access to it." in body["errors"][0]["message"]
    if not operation.mutation or outcome != ALLOWED:
        assert await snapshot(db, m) == before, f"{name} as {role} changed the database"


# A hidden object and a missing one look exactly alike


@dataclass
class Probe:
    """An operation on one of world A's objects that B's users may not see: `id` is the
    object's id, swapped for a random one to compare."""

    document: str
    id: Callable[[Matrix], uuid.UUID]
    roles: tuple[str, ...]
    variables: Callable[[Matrix], dict] = no_variables


async def a_failed_reply(db, m: Matrix) -> uuid.UUID:
    conversation = await db.get(Session, m.a_sessions.active_id)
    *_, reply = await say(db, conversation, "Again?", "Sorry, I", reply_status=MessageStatus.FAILED)
    return reply.id


async def a_section_budget(db, settings, m: Matrix) -> uuid.UUID:
    fields = budgets.BudgetFields(
        scope=BudgetScope.SECTION,
        period=BudgetPeriod.MONTHLY,
        limit_usd="5",
        section_id=m.a.section.id,
    )
    done = await budgets.set_budget(db, actor(m.a.teacher), settings, fields)
    await db.commit()
    return done.status.budget.id


STUDENTS, TEACHERS = ("other_student",), ("other_teacher",)
OTHERS = STUDENTS + TEACHERS
# Every operation taking the id of something that may be hidden.
PROBES: dict[str, Probe] = {
    "clientProfile": Probe(
        "query($id: ID!) { clientProfile(id: $id) { id } }", lambda m: m.a.profile.id, OTHERS
    ),
    "section": Probe(
        "query($id: ID!) { section(id: $id) { id } }", lambda m: m.a.section.id, OTHERS
    ),
    "section.students": Probe(
        "query($id: ID!) { section(id: $id) { students { nodes { id } } } }",
        lambda m: m.a.section.id,
        TEACHERS,
    ),
    "assignment": Probe(
        "query($id: ID!) { assignment(id: $id) { id } }", lambda m: m.a.assignment.id, OTHERS
    ),
    "session": Probe(
        "query($id: ID!) { session(id: $id) { id } }", lambda m: m.a_sessions.active_id, OTHERS
    ),
    "activeSession": Probe(
        "query($id: ID!) { activeSession(clientId: $id) { id } }",
        lambda m: m.a.profile.id,
        STUDENTS,
    ),
    "updateClientProfile": Probe(
        'mutation($id: ID!) { updateClientProfile(id: $id, input: {name: "X"}) { clientProfile '
        "{ id } } }",
        lambda m: m.a.profile.id,
        TEACHERS,
    ),
    "previewSystemPrompt": Probe(
        "mutation($id: ID!) { previewSystemPrompt(clientId: $id) { systemPrompt } }",
        lambda m: m.a.profile.id,
        TEACHERS,
    ),
    "checkClient": Probe(
        "mutation($id: ID!) { checkClient(clientId: $id) { check { id } } }",
        lambda m: m.a.profile.id,
        TEACHERS,
    ),
    "clientCheck": Probe(
        "query($id: ID!) { clientCheck(id: $id) { id } }", lambda m: m.a_check_id, TEACHERS
    ),
    "createAssignment.sectionId": Probe(
        """mutation($id: ID!, $client: ID!) { createAssignment(input: {sectionId: $id,
             title: "T", clientProfileIds: [$client]}) { assignment { id } } }""",
        lambda m: m.a.section.id,
        TEACHERS,
        lambda m: {"client": str(m.b.profile.id)},
    ),
    "createAssignment.clientProfileIds": Probe(
        """mutation($id: ID!, $section: ID!) { createAssignment(input: {sectionId: $section,
             title: "T", clientProfileIds: [$id]}) { assignment { id } } }""",
        lambda m: m.a.profile.id,
        TEACHERS,
        lambda m: {"section": str(m.b.section.id)},
    ),
    "publishAssignment": Probe(
        "mutation($id: ID!) { publishAssignment(id: $id) { assignment { id } } }",
        lambda m: m.a_draft_id,
        TEACHERS,
    ),
    "startSession.clientId": Probe(
        "mutation($id: ID!) { startSession(clientId: $id) { resumed } }",
        lambda m: m.a.profile.id,
        STUDENTS,
    ),
    "startSession.assignmentId": Probe(
        """mutation($id: ID!, $client: ID!) {
             startSession(clientId: $client, assignmentId: $id, new: true) { resumed } }""",
        lambda m: m.a.assignment.id,
        STUDENTS,
        lambda m: {"client": str(m.b.profile.id)},
    ),
    "sendMessage": Probe(
        'mutation($id: ID!) { sendMessage(sessionId: $id, content: "x") { userMessage { id } } }',
        lambda m: m.a_sessions.active_id,
        OTHERS,
    ),
    "endSession": Probe(
        "mutation($id: ID!) { endSession(sessionId: $id) { session { id } } }",
        lambda m: m.a_sessions.active_id,
        OTHERS,
    ),
    "rateSession": Probe(
        "mutation($id: ID!) { rateSession(sessionId: $id, rating: 3) { feedback { rating } } }",
        lambda m: m.a_sessions.ended_id,
        OTHERS,
    ),
    "stopReply": Probe(
        "mutation($id: ID!) { stopReply(sessionId: $id) { message { id } } }",
        lambda m: m.a_sessions.active_id,
        OTHERS,
    ),
    "retryReply": Probe(
        "mutation($id: ID!) { retryReply(messageId: $id) { assistantMessage { id } } }",
        lambda m: m.a_reply_id,
        OTHERS,
    ),
    "setBudget.sectionId": Probe(
        """mutation($id: ID!) { setBudget(input: {scope: SECTION, period: DAILY, limitUsd: "1",
             sectionId: $id}) { budget { id } } }""",
        lambda m: m.a.section.id,
        TEACHERS,
    ),
    "rubric": Probe("query($id: ID!) { rubric(id: $id) { id } }", lambda m: m.a_rubric_id, OTHERS),
    "updateRubric": Probe(
        """mutation($id: ID!) { updateRubric(id: $id, input: {name: "X", criteria: [{name: "A",
             description: "B", weight: "1", levels: [{level: 1, descriptor: "C"},
             {level: 2, descriptor: "D"}]}]}) { rubric { id } } }""",
        lambda m: m.a_rubric_id,
        TEACHERS,
    ),
    "publishRubric": Probe(
        "mutation($id: ID!) { publishRubric(id: $id) { rubric { id } } }",
        lambda m: m.a_draft_rubric_id,
        TEACHERS,
    ),
    "setAssignmentRubric.assignmentId": Probe(
        """mutation($id: ID!, $r: ID!) { setAssignmentRubric(assignmentId: $id, rubricId: $r)
           { assignment { id } } }""",
        lambda m: m.a.assignment.id,
        TEACHERS,
        lambda m: {"r": str(m.b_rubric_id)},
    ),
    "setAssignmentRubric.rubricId": Probe(
        """mutation($id: ID!, $a: ID!) { setAssignmentRubric(assignmentId: $a, rubricId: $id)
           { assignment { id } } }""",
        lambda m: m.a_rubric_id,
        TEACHERS,
        lambda m: {"a": str(m.b.assignment.id)},
    ),
    "evaluateSession": Probe(
        "mutation($id: ID!) { evaluateSession(sessionId: $id) { evaluation { id } } }",
        lambda m: m.a_sessions.ended_id,
        OTHERS,
    ),
    "deleteBudget": Probe(
        "mutation($id: ID!) { deleteBudget(id: $id) { deletedId } }",
        lambda m: m.a_budget_id,
        TEACHERS,
    ),
    "adjustCriterionLevel": Probe(
        """mutation($id: ID!) { adjustCriterionLevel(evaluationId: $id,
             criterionKey: "open_questions", level: 3) { evaluation { id } } }""",
        lambda m: m.a_evaluation_id,
        OTHERS,
    ),
    "releaseFeedback": Probe(
        """mutation($id: ID!) { releaseFeedback(evaluationId: $id, released: true)
             { evaluation { id } } }""",
        lambda m: m.a_evaluation_id,
        OTHERS,
    ),
    "addReviewComment": Probe(
        """mutation($id: ID!) { addReviewComment(input: {sessionId: $id, body: "x"})
             { comment { id } } }""",
        lambda m: m.a_sessions.ended_id,
        OTHERS,
    ),
    "deleteReviewComment": Probe(
        "mutation($id: ID!) { deleteReviewComment(id: $id) { deletedId } }",
        lambda m: m.a_comment_id,
        OTHERS,
    ),
    "setFeedbackReleaseOnCompletion": Probe(
        """mutation($id: ID!) { setFeedbackReleaseOnCompletion(assignmentId: $id,
             releaseOnCompletion: true) { releaseFeedbackOnCompletion } }""",
        lambda m: m.a.assignment.id,
        TEACHERS,
    ),
    "exportSectionSessions": Probe(
        "query($id: ID!) { exportSectionSessions(sectionId: $id) { content } }",
        lambda m: m.a.section.id,
        OTHERS,
    ),
    "exportSession": Probe(
        "query($id: ID!) { exportSession(sessionId: $id, format: MARKDOWN) { content } }",
        lambda m: m.a_sessions.ended_id,
        OTHERS,
    ),
    "progress": Probe(
        "query($id: ID!) { progress(studentId: $id) { key } }",
        lambda m: m.a.student.id,
        STUDENTS,
    ),
}


@pytest.mark.parametrize(
    ("name", "role"), [(name, role) for name, probe in PROBES.items() for role in probe.roles]
)
async def test_hidden_object_answers_like_a_missing_one(db, settings, gql, name, role):
    """The same code and words for someone else's object as for an id that was never used:
    nothing tells a caller that the object exists."""
    m = await build_matrix(db, settings)
    m.a_reply_id = await a_failed_reply(db, m)
    m.a_budget_id = await a_section_budget(db, settings, m)
    await with_feedback(db, settings, m)
    probe = PROBES[name]
    before = await snapshot(db, m)

    async def error_for(object_id: uuid.UUID) -> dict:
        variables = {**probe.variables(m), "id": str(object_id)}
        error = await gql.error(probe.document, variables, m.tokens[role])
        said = json.dumps({"message": error["message"], "extensions": error["extensions"]})
        return json.loads(said.replace(str(object_id), "<the id sent>"))

    hidden, missing = await error_for(probe.id(m)), await error_for(uuid.uuid4())

    assert hidden == missing
    assert await snapshot(db, m) == before


# Objects reached through others, and filters, stay inside what you may see


async def test_student_cannot_pull_another_students_sessions_by_filter(db, settings, gql):
    m = await build_matrix(db, settings)
    seen = await all_nodes(
        gql,
        m.tokens["other_student"],
        "sessions",
        "id",
        args=f', filter: {{studentId: "{m.a.student.id}"}}',
    )
    assert seen == []


async def test_teacher_cannot_pull_another_teachers_sessions_by_client_filter(db, settings, gql):
    m = await build_matrix(db, settings)
    seen = await all_nodes(
        gql,
        m.tokens["other_teacher"],
        "sessions",
        "id",
        args=f', filter: {{clientId: "{m.a.profile.id}"}}',
    )
    assert seen == []


async def test_teacher_cannot_assign_another_teachers_client(db, settings, gql):
    m = await build_matrix(db, settings)
    before = await snapshot(db, m)
    error = await gql.error(
        """mutation($section: ID!, $client: ID!) { createAssignment(input: {sectionId: $section,
             title: "Borrowed", clientProfileIds: [$client]}) { assignment { id } } }""",
        {"section": str(m.b.section.id), "client": str(m.a.profile.id)},
        m.tokens["other_teacher"],
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert [f["field"] for f in error["extensions"]["fields"]] == ["clientProfileIds"]
    assert await snapshot(db, m) == before


async def test_student_sees_client_only_through_a_published_assignment(db, settings, gql):
    """A client only in a draft is invisible to the section's students."""
    m = await build_matrix(db, settings)
    hidden = await make_profile(db, settings, m.a.teacher, name="Draft-only client")
    await make_assignment(db, settings, m.a.teacher, m.a.section, hidden, publish=False)
    token = m.tokens["student"]

    seen = ids(await all_nodes(gql, token, "clientProfiles", "id"))
    error = await gql.error(
        "query($id: ID!) { clientProfile(id: $id) { id } }", {"id": str(hidden.id)}, token
    )

    assert str(m.a.profile.id) in seen
    assert str(hidden.id) not in seen
    assert error["extensions"]["code"] == NOT_FOUND


async def test_archived_client_disappears_for_students_but_not_its_author(db, settings, gql):
    m = await build_matrix(db, settings)
    archive = """mutation($id: ID!) { updateClientProfile(id: $id, input: {archived: true})
                 { clientProfile { archived } } }"""
    await gql.ok(archive, {"id": str(m.a.profile.id)}, m.tokens["teacher"])
    lookup = "query($id: ID!) { clientProfile(id: $id) { id archived } }"

    student = await gql.error(lookup, {"id": str(m.a.profile.id)}, m.tokens["student"])
    author = await gql.ok(lookup, {"id": str(m.a.profile.id)}, m.tokens["teacher"])

    assert student["extensions"]["code"] == NOT_FOUND
    assert author["clientProfile"]["archived"] is True


async def test_student_reads_their_teacher_but_not_the_section_join_code_via_assignment(
    db, settings, gql
):
    m = await build_matrix(db, settings)
    data = await gql.ok(
        "query($id: ID!) { assignment(id: $id) { section { id joinCode teacher { id } } } }",
        {"id": str(m.a.assignment.id)},
        m.tokens["student"],
    )
    section = data["assignment"]["section"]
    assert section == {
        "id": str(m.a.section.id),
        "joinCode": None,
        "teacher": {"id": str(m.a.teacher.id)},
    }
