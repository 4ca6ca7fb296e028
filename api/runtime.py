"""What a running Practicum holds for its lifetime: settings, the database, shared helpers."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.config import Settings
from api.db.engine import create_engine, create_session_factory


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        engine = create_engine(settings.sqlalchemy_url)
        return cls(settings=settings, engine=engine, sessions=create_session_factory(engine))

    async def close(self) -> None:
        await self.engine.dispose()
