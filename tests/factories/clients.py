from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import User
from api.clients import service
from api.clients.models import ClientProfile
from api.config import Settings
from tests.factories.accounts import actor


def profile_values(**overrides) -> dict:
    """A complete profile, as a teacher would fill it in."""
    values = dict(
        name="Jordan Lee",
        age=34,
        background="Nurse working night shifts; recently moved cities.",
        presenting_concern="Trouble sleeping and feeling isolated.",
        personality_traits=["reserved", "thoughtful"],
        communication_style="Short answers until trust builds.",
        difficulty=2,
        learning_goals="Practise open questions.",
        boundaries="Avoids talking about family.",
        opening_line="I'm not sure where to start.",
    )
    values.update(overrides)
    return values


def profile_fields(**overrides) -> service.ProfileFields:
    return service.ProfileFields(**profile_values(**overrides))


async def make_profile(
    db: AsyncSession, settings: Settings, owner: User, **overrides
) -> ClientProfile:
    profile = await service.create_profile(db, actor(owner), settings, profile_fields(**overrides))
    await db.commit()
    return profile
