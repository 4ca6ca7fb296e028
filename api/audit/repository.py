from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.audit.models import AuditEntry
from api.pagination import Order

NEWEST_FIRST = Order((AuditEntry.at, AuditEntry.id), descending=True)


def entries() -> Select[tuple[AuditEntry]]:
    return select(AuditEntry)


async def add(session: AsyncSession, entry: AuditEntry) -> AuditEntry:
    session.add(entry)
    await session.flush()
    return entry
