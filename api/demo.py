"""`practicum demo`: accounts, a section, three clients, starter rubrics and a published
assignment whose sessions get feedback against the counselling rubric."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts import repository as accounts_repo
from api.accounts import service as accounts
from api.accounts.models import Role, User
from api.classes import service as classes
from api.classes.models import Assignment, Section
from api.clients import service as clients
from api.clients.models import ClientProfile
from api.config import Settings
from api.teaching import service as teaching
from api.teaching.models import Rubric
from api.teaching.starters import COUNSELLING, STARTERS

DEMO_PASSWORD = "practicum-demo"
DEMO_SECTION = "Counselling Skills 101"
DEMO_ASSIGNMENT = "First sessions: building rapport"


@dataclass(frozen=True)
class DemoLogin:
    role: Role
    email: str
    name: str


USERS = (
    DemoLogin(Role.ADMIN, "admin@practicum.local", "Ada Admin"),
    DemoLogin(Role.TEACHER, "teacher@practicum.local", "Theo Teacher"),
    DemoLogin(Role.STUDENT, "student@practicum.local", "Sam Student"),
    DemoLogin(Role.STUDENT, "student2@practicum.local", "Riley Student"),
)

CLIENTS = (
    clients.ProfileFields(
        name="Maya Okafor",
        age=19,
        background="First-year university student who moved from a small town; lives in halls.",
        presenting_concern="Feels homesick and is struggling to make friends.",
        personality_traits=["friendly", "a little shy", "eager to please"],
        communication_style="Open once she feels heard; gives short answers at first.",
        difficulty=1,
        learning_goals="Practise open questions and reflective listening.",
        boundaries="Does not want to talk about her parents' divorce unless trust is built.",
        opening_line="Hi... my friend said it might help to talk to someone?",
    ),
    clients.ProfileFields(
        name="Daniel Reyes",
        age=42,
        background="Warehouse supervisor, recently passed over for promotion; two teenagers.",
        presenting_concern="Stress and irritability at work and at home; sleeping badly.",
        personality_traits=["guarded", "practical", "sceptical of counselling"],
        communication_style="Brief and matter-of-fact; deflects feelings with humour.",
        difficulty=3,
        learning_goals="Build rapport with a reluctant client; explore without pushing.",
        boundaries="Avoids talking about his drinking; changes the subject if pressed early.",
        opening_line="My wife booked this. I'm not really sure what we're supposed to do here.",
    ),
    clients.ProfileFields(
        name="Eleanor Whitfield",
        age=67,
        background="Retired teacher whose husband died eight months ago; lives alone.",
        presenting_concern="Grief, loneliness, and anger at her adult children for 'moving on'.",
        personality_traits=["articulate", "proud", "quick to feel judged"],
        communication_style="Long, detailed stories; tests whether the listener is patient.",
        difficulty=5,
        learning_goals="Stay with strong emotion; take criticism of the helper without defending.",
        boundaries="Will not discuss her own health worries until late in a conversation.",
        opening_line="I don't suppose someone your age knows much about losing a husband.",
    ),
)


async def _user(session: AsyncSession, login: DemoLogin) -> User:
    user = await accounts_repo.get_by_email(session, login.email)
    if user is None:
        user = await accounts.create_user(
            session, email=login.email, name=login.name, role=login.role, password=DEMO_PASSWORD
        )
    return user


async def seed(session: AsyncSession, settings: Settings) -> tuple[list[DemoLogin], str]:
    """Create whatever of the demo is missing; returns the logins and the section's join code."""
    users = {login.email: await _user(session, login) for login in USERS}
    teacher = accounts.actor_of(users["teacher@practicum.local"])

    profiles = []
    for fields in CLIENTS:
        profile = await session.scalar(
            select(ClientProfile).where(
                ClientProfile.owner_id == teacher.id, ClientProfile.name == fields.name
            )
        )
        profiles.append(profile or await clients.create_profile(session, teacher, settings, fields))

    section = await session.scalar(
        select(Section).where(Section.teacher_id == teacher.id, Section.name == DEMO_SECTION)
    )
    if section is None:
        section = await classes.create_section(session, teacher, settings, DEMO_SECTION)
    for login in USERS:
        if login.role is Role.STUDENT:
            await classes.join_section(
                session, accounts.actor_of(users[login.email]), section.join_code
            )

    assignment = await session.scalar(
        select(Assignment).where(
            Assignment.section_id == section.id, Assignment.title == DEMO_ASSIGNMENT
        )
    )
    if assignment is None:
        assignment = await classes.create_assignment(
            session,
            teacher,
            settings,
            section.id,
            classes.AssignmentFields(
                title=DEMO_ASSIGNMENT,
                instructions="Hold a 10-minute first session with each client. Focus on "
                "open questions and reflecting feelings; don't rush to advice.",
                client_profile_ids=[p.id for p in profiles],
            ),
        )
    await classes.publish_assignment(session, teacher, assignment.id)

    rubrics = {}
    for fields in STARTERS:
        rubric = await session.scalar(
            select(Rubric).where(Rubric.owner_id == teacher.id, Rubric.name == fields.name)
        )
        if rubric is None:
            rubric = await teaching.create_rubric(session, teacher, fields)
        rubrics[fields.name] = await teaching.publish_rubric(session, teacher, rubric.id)
    if assignment.rubric_id is None:
        await teaching.set_assignment_rubric(
            session, teacher, assignment.id, rubrics[COUNSELLING.name].id
        )
    return list(USERS), section.join_code
