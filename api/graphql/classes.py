from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from api.classes import models, service
from api.graphql.accounts import User
from api.graphql.clients import ClientProfile
from api.graphql.context import Info
from api.graphql.ids import parse_id, parse_optional_id, to_id
from api.graphql.permissions import IsAuthenticated
from api.graphql.relay import Connection
from api.graphql.teaching import Rubric, assignment_rubric
from api.teaching import service as teaching

AssignmentStatus = strawberry.enum(models.AssignmentStatus, name="AssignmentStatus")


@strawberry.type
class Section:
    id: strawberry.ID
    name: str
    join_code: str | None = strawberry.field(
        description="Students join with this code; only the section's teacher and admins see it."
    )
    created_at: datetime
    sign_up_open: bool = strawberry.field(
        description="New students can sign up with the join code (else it only enrols "
        "existing accounts)."
    )
    teacher_id: strawberry.Private[uuid.UUID]
    section_id: strawberry.Private[uuid.UUID]

    @strawberry.field
    async def teacher(self, info: Info) -> User | None:
        user = await info.context.loaders.users.load(self.teacher_id)
        return User.from_model(user) if user else None

    @strawberry.field(description="Enrolled students (the section's teacher and admins).")
    async def students(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[User]:
        ctx = info.context
        page = await service.list_students(
            ctx.session, ctx.actor, self.section_id, ctx.page(first, after)
        )
        return Connection.of(page, User.from_model)

    @strawberry.field
    async def assignments(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Assignment]:
        ctx = info.context
        page = await service.list_assignments(
            ctx.session, ctx.actor, ctx.page(first, after), section_id=self.section_id
        )
        return Connection.of(page, lambda a: Assignment.from_model(a, ctx))

    @classmethod
    def from_model(cls, section: models.Section, ctx) -> Section:
        return cls(
            id=to_id(section.id),
            name=section.name,
            join_code=section.join_code if service.can_manage(ctx.actor, section) else None,
            created_at=section.created_at,
            sign_up_open=section.signup_open,
            teacher_id=section.teacher_id,
            section_id=section.id,
        )


@strawberry.type
class Assignment:
    id: strawberry.ID
    title: str
    instructions: str
    due_at: datetime | None
    status: AssignmentStatus
    published_at: datetime | None
    created_at: datetime
    client_profiles: list[ClientProfile]
    section_id: strawberry.Private[uuid.UUID]
    rubric_id: strawberry.Private[uuid.UUID | None]
    release_feedback_on_completion: bool = strawberry.field(
        description="Feedback on its sessions reaches students as soon as it is ready; "
        "otherwise a teacher releases each one."
    )

    @strawberry.field(
        description="The rubric its sessions are evaluated against when they end (null: no "
        "feedback). Teachers and admins only."
    )
    async def rubric(self, info: Info) -> Rubric | None:
        return await assignment_rubric(info, self.rubric_id)

    @strawberry.field
    async def section(self, info: Info) -> Section | None:
        section = await info.context.loaders.sections.load(self.section_id)
        return Section.from_model(section, info.context) if section else None

    @classmethod
    def from_model(cls, assignment: models.Assignment, ctx) -> Assignment:
        return cls(
            id=to_id(assignment.id),
            title=assignment.title,
            instructions=assignment.instructions,
            due_at=assignment.due_at,
            status=assignment.status,
            published_at=assignment.published_at,
            created_at=assignment.created_at,
            client_profiles=[
                ClientProfile.from_model(p, ctx.actor) for p in assignment.client_profiles
            ],
            section_id=assignment.section_id,
            rubric_id=assignment.rubric_id,
            release_feedback_on_completion=assignment.release_feedback_on_completion,
        )


@strawberry.input
class CreateSectionInput:
    name: str


@strawberry.type
class CreateSectionPayload:
    section: Section


@strawberry.type
class SetSectionSignUpPayload:
    section: Section


@strawberry.type
class JoinSectionPayload:
    section: Section
    already_member: bool = strawberry.field(
        description="The student was in the section before: nothing changed."
    )


@strawberry.input
class CreateAssignmentInput:
    section_id: strawberry.ID
    title: str
    client_profile_ids: list[strawberry.ID]
    instructions: str = ""
    due_at: datetime | None = None


@strawberry.type
class CreateAssignmentPayload:
    assignment: Assignment


@strawberry.type
class PublishAssignmentPayload:
    assignment: Assignment


@strawberry.type
class SetAssignmentRubricPayload:
    assignment: Assignment


@strawberry.type
class ClassQueries:
    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="Teachers: sections they teach. Students: sections they joined.",
    )
    async def sections(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Section]:
        ctx = info.context
        page = await service.list_sections(ctx.session, ctx.actor, ctx.page(first, after))
        return Connection.of(page, lambda s: Section.from_model(s, ctx))

    @strawberry.field(permission_classes=[IsAuthenticated])
    async def section(self, info: Info, id: strawberry.ID) -> Section:
        ctx = info.context
        section = await service.get_section(ctx.session, ctx.actor, parse_id(id))
        return Section.from_model(section, ctx)

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="Students see published assignments of their sections, newest first.",
    )
    async def assignments(
        self,
        info: Info,
        section_id: strawberry.ID | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Assignment]:
        ctx = info.context
        page = await service.list_assignments(
            ctx.session,
            ctx.actor,
            ctx.page(first, after),
            section_id=parse_optional_id(section_id, "sectionId"),
        )
        return Connection.of(page, lambda a: Assignment.from_model(a, ctx))

    @strawberry.field(permission_classes=[IsAuthenticated])
    async def assignment(self, info: Info, id: strawberry.ID) -> Assignment:
        ctx = info.context
        assignment = await service.get_assignment(ctx.session, ctx.actor, parse_id(id))
        return Assignment.from_model(assignment, ctx)


@strawberry.type
class ClassMutations:
    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def create_section(self, info: Info, input: CreateSectionInput) -> CreateSectionPayload:
        ctx = info.context
        section = await service.create_section(ctx.session, ctx.actor, ctx.settings, input.name)
        return CreateSectionPayload(section=Section.from_model(section, ctx))

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Teachers (their sections) and admins: open or close sign-up with the "
        "section's join code.",
    )
    async def set_section_sign_up(
        self, info: Info, section_id: strawberry.ID, open: bool
    ) -> SetSectionSignUpPayload:
        ctx = info.context
        section = await service.set_signup_open(
            ctx.session, ctx.actor, parse_id(section_id, "sectionId"), open
        )
        return SetSectionSignUpPayload(section=Section.from_model(section, ctx))

    @strawberry.mutation(
        permission_classes=[IsAuthenticated], description="A student joins with a join code."
    )
    async def join_section(self, info: Info, join_code: str) -> JoinSectionPayload:
        ctx = info.context
        section, already_member = await service.join_section(ctx.session, ctx.actor, join_code)
        return JoinSectionPayload(
            section=Section.from_model(section, ctx), already_member=already_member
        )

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def create_assignment(
        self, info: Info, input: CreateAssignmentInput
    ) -> CreateAssignmentPayload:
        ctx = info.context
        data = service.AssignmentFields(
            title=input.title,
            instructions=input.instructions,
            client_profile_ids=[parse_id(i, "clientProfileIds") for i in input.client_profile_ids],
            due_at=input.due_at,
        )
        assignment = await service.create_assignment(
            ctx.session, ctx.actor, ctx.settings, parse_id(input.section_id, "sectionId"), data
        )
        return CreateAssignmentPayload(assignment=Assignment.from_model(assignment, ctx))

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Make an assignment visible to the section's students.",
    )
    async def publish_assignment(self, info: Info, id: strawberry.ID) -> PublishAssignmentPayload:
        ctx = info.context
        assignment = await service.publish_assignment(ctx.session, ctx.actor, parse_id(id))
        return PublishAssignmentPayload(assignment=Assignment.from_model(assignment, ctx))

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Attach a published rubric to an assignment (null detaches it): its "
        "sessions get feedback when they end. One rubric may serve many assignments.",
    )
    async def set_assignment_rubric(
        self, info: Info, assignment_id: strawberry.ID, rubric_id: strawberry.ID | None
    ) -> SetAssignmentRubricPayload:
        ctx = info.context
        assignment = await teaching.set_assignment_rubric(
            ctx.session,
            ctx.actor,
            parse_id(assignment_id, "assignmentId"),
            parse_optional_id(rubric_id, "rubricId"),
        )
        return SetAssignmentRubricPayload(assignment=Assignment.from_model(assignment, ctx))
