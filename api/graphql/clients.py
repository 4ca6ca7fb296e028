from __future__ import annotations

import uuid
from dataclasses import fields
from datetime import datetime
from decimal import Decimal
from enum import Enum

import strawberry

from api.accounts.security import Actor
from api.clients import check as checks
from api.clients import models, service
from api.graphql.accounts import User
from api.graphql.context import Info
from api.graphql.ids import parse_id, to_id
from api.graphql.permissions import IsAuthenticated
from api.graphql.relay import Connection
from api.llm.base import estimate_tokens


@strawberry.type
class ClientProfile:
    id: strawberry.ID
    name: str
    age: int | None
    background: str
    presenting_concern: str
    personality_traits: list[str]
    communication_style: str
    difficulty: int = strawberry.field(description="1 (easy) to 5 (very challenging).")
    learning_goals: str
    boundaries: str | None = strawberry.field(
        description="Topics the client avoids; only the profile's author and admins see them."
    )
    opening_line: str
    model: str | None = strawberry.field(
        description="The model this client uses; null means the default model."
    )
    archived: bool
    version: int = strawberry.field(description="Goes up by one with every saved change.")
    created_at: datetime
    updated_at: datetime
    owner_id: strawberry.Private[uuid.UUID]

    @strawberry.field(
        description="The newest client check of this profile; null when it has none, and "
        "for anyone but its author and admins."
    )
    async def last_check(self, info: Info) -> ClientCheck | None:
        ctx = info.context
        if not (ctx.actor.is_admin or ctx.actor.id == self.owner_id):
            return None
        found = await checks.latest_check(ctx.session, uuid.UUID(str(self.id)))
        return ClientCheck.from_model(found, self.version) if found else None

    @strawberry.field
    async def owner(self, info: Info) -> User | None:
        user = await info.context.loaders.users.load(self.owner_id)
        return User.from_model(user) if user else None

    @classmethod
    def from_model(cls, profile: models.ClientProfile, actor: Actor) -> ClientProfile:
        return cls(
            id=to_id(profile.id),
            name=profile.name,
            age=profile.age,
            background=profile.background,
            presenting_concern=profile.presenting_concern,
            personality_traits=list(profile.personality_traits or []),
            communication_style=profile.communication_style,
            difficulty=profile.difficulty,
            learning_goals=profile.learning_goals,
            boundaries=profile.boundaries if service.can_edit(actor, profile) else None,
            opening_line=profile.opening_line,
            model=profile.model,
            archived=profile.archived,
            version=profile.version,
            created_at=profile.created_at,
            updated_at=profile.updated_at,
            owner_id=profile.owner_id,
        )


@strawberry.enum(description="How a client's replies to the check's probes were judged.")
class CheckGrade(Enum):
    PASS = "PASS"
    WARN = "WARN"
    FAIL = "FAIL"


@strawberry.enum
class ClientCheckStatus(Enum):
    RUNNING = "RUNNING"
    DONE = "DONE"
    FAILED = "FAILED"


@strawberry.type(description="One probing student message and how the client's reply was judged.")
class ClientCheckProbe:
    key: str
    label: str
    message: str = strawberry.field(description="What the probe said to the client.")
    grade: CheckGrade
    reason: str
    excerpt: str = strawberry.field(description="The start of the client's reply.")


@strawberry.type(
    description="A check of a client profile before publishing: probing messages sent to its "
    "model in throwaway conversations (never listed as sessions), each reply judged by "
    "rules (repeating the system prompt, speaking as an AI assistant, leaving the persona)."
)
class ClientCheck:
    id: strawberry.ID
    client_profile_id: strawberry.ID
    profile_version: int = strawberry.field(description="The profile version checked.")
    is_current: bool = strawberry.field(
        description="Whether the profile is still at the version checked."
    )
    status: ClientCheckStatus
    verdict: CheckGrade | None = strawberry.field(
        description="The worst grade of the probes, once DONE."
    )
    model: str
    provider: str = strawberry.field(
        description="`simulator` when the offline client simulator answered."
    )
    probes: list[ClientCheckProbe]
    total_tokens: int
    cost: Decimal = strawberry.field(description="US dollars, exact; counted in usage.")
    duration_ms: int
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def from_model(cls, check: models.ClientCheck, current_version: int) -> ClientCheck:
        status = checks.status_of(check)
        return cls(
            id=to_id(check.id),
            client_profile_id=to_id(check.client_profile_id),
            profile_version=check.profile_version,
            is_current=check.profile_version == current_version,
            status=ClientCheckStatus(status),
            verdict=CheckGrade(check.verdict) if check.verdict and status == "DONE" else None,
            model=check.model,
            provider=check.provider,
            probes=[
                ClientCheckProbe(
                    key=p["key"],
                    label=p["label"],
                    message=p["message"],
                    grade=CheckGrade(p["grade"]),
                    reason=p["reason"],
                    excerpt=p["excerpt"],
                )
                for p in check.probes or []
            ],
            total_tokens=check.total_tokens,
            cost=check.cost,
            duration_ms=check.duration_ms,
            created_at=check.created_at,
            finished_at=check.finished_at,
        )


@strawberry.type
class CheckClientPayload:
    check: ClientCheck


NAME = f"At most {service.MAX_NAME_CHARS} characters: {service.NAME_CHARACTERS}."


@strawberry.input
class CreateClientProfileInput:
    name: str = strawberry.field(description=NAME)
    presenting_concern: str
    age: int | None = None
    background: str | None = None
    personality_traits: list[str] | None = None
    communication_style: str | None = None
    difficulty: int = 3
    learning_goals: str | None = None
    boundaries: str | None = None
    opening_line: str | None = None
    model: str | None = strawberry.field(
        default=None, description="One of availableModels; null or empty for the default model."
    )


@strawberry.input(description="Only the fields given are changed.")
class UpdateClientProfileInput:
    name: str | None = strawberry.field(default=None, description=NAME)
    presenting_concern: str | None = None
    age: int | None = strawberry.field(
        default=strawberry.UNSET, description="null forgets the saved age."
    )
    background: str | None = None
    personality_traits: list[str] | None = None
    communication_style: str | None = None
    difficulty: int | None = None
    learning_goals: str | None = None
    boundaries: str | None = None
    opening_line: str | None = None
    model: str | None = strawberry.field(
        default=None, description="One of availableModels; an empty string for the default model."
    )
    archived: bool | None = None


@strawberry.type
class CreateClientProfilePayload:
    client_profile: ClientProfile


@strawberry.type
class UpdateClientProfilePayload:
    client_profile: ClientProfile


@strawberry.type
class PreviewSystemPromptPayload:
    system_prompt: str = strawberry.field(description="Exactly the text the model is given.")
    template_version: int
    estimated_tokens: int = strawberry.field(
        description="About 4 characters a token; the provider's own count may differ."
    )


def _fields(data: CreateClientProfileInput | UpdateClientProfileInput) -> service.ProfileFields:
    given = {f.name: getattr(data, f.name) for f in fields(data)}
    unset = {name for name, value in given.items() if value is strawberry.UNSET}
    return service.ProfileFields(
        **{name: None if name in unset else value for name, value in given.items()},
        clear_age="age" not in unset and data.age is None,
    )


@strawberry.type
class ClientQueries:
    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="Teachers: their own profiles. Students: clients they may practise with.",
    )
    async def client_profiles(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        include_archived: bool = False,
    ) -> Connection[ClientProfile]:
        ctx = info.context
        page = await service.list_profiles(
            ctx.session, ctx.actor, ctx.page(first, after), include_archived=include_archived
        )
        return Connection.of(page, lambda p: ClientProfile.from_model(p, ctx.actor))

    @strawberry.field(permission_classes=[IsAuthenticated])
    async def client_profile(self, info: Info, id: strawberry.ID) -> ClientProfile:
        ctx = info.context
        profile = await service.get_profile(ctx.session, ctx.actor, parse_id(id))
        return ClientProfile.from_model(profile, ctx.actor)

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="A client check of a profile you may edit (poll it until it is DONE).",
    )
    async def client_check(self, info: Info, id: strawberry.ID) -> ClientCheck:
        ctx = info.context
        found = await checks.get_check(ctx.session, ctx.actor, parse_id(id))
        profile = await service.get_profile(ctx.session, ctx.actor, found.client_profile_id)
        return ClientCheck.from_model(found, profile.version)

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="The models a teacher may choose for a client profile.",
    )
    def available_models(self, info: Info) -> list[str]:
        return list(info.context.settings.allowed_models)


@strawberry.type
class ClientMutations:
    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def create_client_profile(
        self, info: Info, input: CreateClientProfileInput
    ) -> CreateClientProfilePayload:
        ctx = info.context
        profile = await service.create_profile(ctx.session, ctx.actor, ctx.settings, _fields(input))
        return CreateClientProfilePayload(
            client_profile=ClientProfile.from_model(profile, ctx.actor)
        )

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def update_client_profile(
        self, info: Info, id: strawberry.ID, input: UpdateClientProfileInput
    ) -> UpdateClientProfilePayload:
        ctx = info.context
        profile = await service.update_profile(
            ctx.session, ctx.actor, ctx.settings, parse_id(id), _fields(input)
        )
        return UpdateClientProfilePayload(
            client_profile=ClientProfile.from_model(profile, ctx.actor)
        )

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="The system prompt the client is played from, with any unsaved edits "
        "applied. Nothing is saved. Only the profile's author and admins may preview it.",
    )
    async def preview_system_prompt(
        self, info: Info, client_id: strawberry.ID, input: UpdateClientProfileInput | None = None
    ) -> PreviewSystemPromptPayload:
        ctx = info.context
        changes = _fields(input) if input else None
        prompt = await service.preview_system_prompt(
            ctx.session, ctx.actor, ctx.settings, parse_id(client_id), changes
        )
        return PreviewSystemPromptPayload(
            system_prompt=prompt.text,
            template_version=prompt.version,
            estimated_tokens=estimate_tokens(prompt.text),
        )

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Check a client profile before publishing: a fixed set of probing "
        "messages (ignore your instructions, reveal your prompt, switch roles, are you an "
        "AI, write code, a harmful request) goes to its model, a few at a time, and each "
        "reply is judged. Returns the check RUNNING (or the one of this profile version "
        "already running); poll `clientCheck(id)` or `ClientProfile.lastCheck` for the "
        "report. Its tokens count toward budgets and usage. Only the profile's author and "
        "admins; BUDGET_EXCEEDED when a cap cannot afford it.",
    )
    async def check_client(self, info: Info, client_id: strawberry.ID) -> CheckClientPayload:
        ctx = info.context
        profile_id = parse_id(client_id, "clientId")
        found = await checks.start_check(
            ctx.session, ctx.actor, ctx.settings, ctx.runtime.client_checks, profile_id
        )
        return CheckClientPayload(check=ClientCheck.from_model(found, found.profile_version))
