"""Client profiles: the personas teachers write and students practise with."""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.security import Actor
from api.audit import service as audit
from api.clients import repository
from api.clients.errors import ClientProfileError
from api.clients.models import ClientProfile
from api.clients.prompt import SystemPrompt, build_system_prompt
from api.config import Settings
from api.db.base import utcnow
from api.errors import FieldChecker
from api.pagination import Order, Page, PageRequest, paginate

MAX_TRAITS = 20
MAX_TRAIT_CHARS = 60
# A client's name is how the model is told to speak, so it is kept to what names are made of.
MAX_NAME_CHARS = 60
NAME_PUNCTUATION = frozenset(" -'’.")
NAME_CHARACTERS = "letters, digits, spaces, hyphens, apostrophes and periods"
NAME_RULE = f"Name may contain only {NAME_CHARACTERS}."
BY_NAME = Order((ClientProfile.name, ClientProfile.id))

# (field, label, required on create) for the free-text fields, in the order a form shows them
TEXT_FIELDS = (
    ("name", "Name", True),
    ("background", "Background", False),
    ("presenting_concern", "Presenting concern", True),
    ("communication_style", "Communication style", False),
    ("learning_goals", "Learning goals", False),
    ("boundaries", "Boundaries", False),
    ("opening_line", "Opening line", False),
)


@dataclass
class ProfileFields:
    """What a teacher may set on a profile; None means "leave as it is"."""

    name: str | None = None
    age: int | None = None
    background: str | None = None
    presenting_concern: str | None = None
    personality_traits: list[str] | None = None
    communication_style: str | None = None
    difficulty: int | None = None
    learning_goals: str | None = None
    boundaries: str | None = None
    opening_line: str | None = None
    model: str | None = None
    """One of `settings.allowed_models`; an empty string goes back to the default model."""
    archived: bool | None = None
    clear_age: bool = False
    """Forget the saved age (the client's age is not said)."""


def _checked(data: ProfileFields, settings: Settings, *, creating: bool) -> dict:
    check = FieldChecker()
    values: dict = {}
    for field, label, required in TEXT_FIELDS:
        raw = getattr(data, field)
        limit = MAX_NAME_CHARS if field == "name" else settings.max_text_chars
        if raw is not None or (creating and required):
            values[field] = check.text(field, raw, label=label, max_chars=limit, required=required)
    if values.get("name") and "name" not in check.problems and not _is_a_name(values["name"]):
        check.add("name", NAME_RULE)
    check.int_range("age", data.age, label="Age", low=1, high=120)
    check.int_range("difficulty", data.difficulty, label="Difficulty", low=1, high=5)
    if data.personality_traits is not None:
        traits = [t.strip() for t in data.personality_traits if t.strip()]
        if len(traits) > MAX_TRAITS:
            check.add("personality_traits", f"At most {MAX_TRAITS} personality traits.")
        elif any(len(t) > MAX_TRAIT_CHARS for t in traits):
            check.add(
                "personality_traits", f"Each trait must be at most {MAX_TRAIT_CHARS} characters."
            )
        values["personality_traits"] = traits
    if data.model is not None:
        values["model"] = _checked_model(check, data.model, settings)
    check.raise_if_any(ClientProfileError)
    for field in ("age", "difficulty", "archived"):
        if getattr(data, field) is not None:
            values[field] = getattr(data, field)
    # A model of None is kept: it means "back to the default model"; an age of None, no age.
    if data.clear_age and data.age is None:
        values["age"] = None
    return {k: v for k, v in values.items() if v is not None or k in ("model", "age")}


def _is_a_name(text: str) -> bool:
    return all(
        char.isalnum() or unicodedata.category(char).startswith("M") or char in NAME_PUNCTUATION
        for char in text
    )


def _checked_model(check: FieldChecker, model: str, settings: Settings) -> str | None:
    model = model.strip()
    if model and model not in settings.allowed_models:
        allowed = ", ".join(settings.allowed_models)
        check.add("model", f"Model must be one of {allowed} (or empty for the default model).")
    return model or None


def can_edit(actor: Actor, profile: ClientProfile) -> bool:
    return actor.is_admin or profile.owner_id == actor.id


def _require_author(actor: Actor) -> None:
    if actor.is_student:
        raise ClientProfileError.forbidden("Only teachers and admins can write client profiles.")


async def list_profiles(
    session: AsyncSession, actor: Actor, page: PageRequest, *, include_archived: bool = False
) -> Page[ClientProfile]:
    stmt = repository.visible_to(actor)
    if not include_archived:
        stmt = stmt.where(~ClientProfile.archived)
    return await paginate(session, stmt, BY_NAME, page)


async def get_profile(session: AsyncSession, actor: Actor, profile_id: uuid.UUID) -> ClientProfile:
    profile = await repository.get_visible(session, actor, profile_id)
    if profile is None:
        raise ClientProfileError.not_found("Client profile")
    return profile


async def create_profile(
    session: AsyncSession, actor: Actor, settings: Settings, data: ProfileFields
) -> ClientProfile:
    _require_author(actor)
    values = _checked(data, settings, creating=True)
    profile = ClientProfile(owner_id=actor.id, **values)
    return await repository.add(session, profile)


async def get_editable_profile(
    session: AsyncSession, actor: Actor, profile_id: uuid.UUID
) -> ClientProfile:
    """A profile the actor may change (and check): their own, or any for an admin.
    Students: FORBIDDEN; another teacher's profile: NOT_FOUND, as if it did not exist."""
    return await _editable_profile(session, actor, profile_id)


async def _editable_profile(
    session: AsyncSession, actor: Actor, profile_id: uuid.UUID
) -> ClientProfile:
    _require_author(actor)
    profile = await get_profile(session, actor, profile_id)
    if not can_edit(actor, profile):
        raise ClientProfileError.forbidden("Only the profile's author can change it.")
    return profile


async def update_profile(
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    profile_id: uuid.UUID,
    data: ProfileFields,
) -> ClientProfile:
    profile = await _editable_profile(session, actor, profile_id)
    values = _checked(data, settings, creating=False)
    changed = {k: v for k, v in values.items() if getattr(profile, k) != v}
    if changed:
        for key, value in changed.items():
            setattr(profile, key, value)
        profile.version += 1
        profile.updated_at = utcnow()
        await session.flush()
        if "archived" in changed:  # unpublished (archived) or published again
            action = (
                audit.Action.CLIENT_PROFILE_UNPUBLISH
                if profile.archived
                else audit.Action.CLIENT_PROFILE_PUBLISH
            )
            await audit.record(
                session, actor, action, "client_profile", profile.id, {"name": profile.name}
            )
    return profile


async def preview_system_prompt(
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    profile_id: uuid.UUID,
    changes: ProfileFields | None = None,
) -> SystemPrompt:
    """The system prompt the profile would give, with unsaved `changes` applied (checked like
    an update). Nothing is saved: the changes go to a copy the session never sees."""
    profile = await _editable_profile(session, actor, profile_id)
    values = _checked(changes or ProfileFields(), settings, creating=False)
    return build_system_prompt(_draft_of(profile, values))


def _draft_of(profile: ClientProfile, values: dict) -> ClientProfile:
    """A transient copy of `profile` with `values` applied."""
    columns = {
        column.key: getattr(profile, column.key) for column in inspect(ClientProfile).column_attrs
    }
    return ClientProfile(**{**columns, **values})
