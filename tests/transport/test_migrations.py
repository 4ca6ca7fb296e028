"""Alembic migrations on a throwaway database of each backend (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from api.db.engine import create_engine
from api.db.migrate import downgrade, head_revision, upgrade
from api.db.models import Base
from tests.conftest import PG_ADMIN_URL


@pytest.fixture
async def fresh_database_url(database_url: str, tmp_path) -> AsyncIterator[str]:
    """An empty database on the same backend as `database_url`, dropped afterwards."""
    if database_url.startswith("sqlite"):
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return

    import asyncpg

    name = f"practicum_migrations_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    finally:
        admin = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def _state(connection) -> tuple[str | None, set[str], list]:
    """The database's revision, its tables, and how it differs from the models."""
    context = MigrationContext.configure(connection)
    tables = set(inspect(connection).get_table_names()) - {"alembic_version"}
    return context.get_current_revision(), tables, compare_metadata(context, Base.metadata)


async def database_state(url: str) -> tuple[str | None, set[str], list]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_state)
    finally:
        await engine.dispose()


async def test_upgrade_downgrade_upgrade_matches_the_models(fresh_database_url):
    model_tables = set(Base.metadata.tables)

    await asyncio.to_thread(upgrade, fresh_database_url)
    revision, tables, differences = await database_state(fresh_database_url)
    assert revision == head_revision()
    assert tables == model_tables
    assert differences == [], "the migrations and the models disagree:\n" + "\n".join(
        map(str, differences)
    )

    await asyncio.to_thread(downgrade, fresh_database_url, "base")
    revision, tables, _ = await database_state(fresh_database_url)
    assert revision is None
    assert tables == set(), f"downgrade to base left tables behind: {sorted(tables)}"

    await asyncio.to_thread(upgrade, fresh_database_url)
    revision, tables, differences = await database_state(fresh_database_url)
    assert revision == head_revision()
    assert tables == model_tables
    assert differences == [], "after a round trip the database and models disagree:\n" + "\n".join(
        map(str, differences)
    )
