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
    read_engine: AsyncEngine
    read_sessions: async_sessionmaker[AsyncSession]
    """Sessions for operations that only read (GraphQL queries); on SQLite they never
    wait for writers. On PostgreSQL they are the same as `sessions`."""

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        url = settings.sqlalchemy_url
        engine = create_engine(url)
        read_engine = create_engine(url, read_only=True) if url.startswith("sqlite") else engine
        return cls(
            settings=settings,
            engine=engine,
            sessions=create_session_factory(engine),
            read_engine=read_engine,
            read_sessions=create_session_factory(read_engine),
        )

    async def close(self) -> None:
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()
