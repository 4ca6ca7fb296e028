"""Roster imports: a class list in, accounts and invite links out."""

from __future__ import annotations

from datetime import datetime

import strawberry

from api.accounts import invites
from api.graphql.accounts import User, deliver
from api.graphql.classes import Section
from api.graphql.context import Info
from api.graphql.ids import parse_id
from api.graphql.permissions import IsAuthenticated

RosterRowStatus = strawberry.enum(invites.RosterRowStatus, name="RosterRowStatus")


@strawberry.input
class ImportRosterInput:
    section_id: strawberry.ID
    csv: str = strawberry.field(
        description="One person per line: email and name, comma-separated (a header row "
        "naming `email` and `name` may say which column is which)."
    )


@strawberry.type
class RosterRow:
    line: int = strawberry.field(description="The line of the CSV this row came from.")
    email: str
    name: str
    status: RosterRowStatus
    message: str = strawberry.field(description="Why the row was rejected, or a warning.")
    user: User | None
    invite_url: str | None = strawberry.field(
        description="A new account's one-time link to set its password (shown once)."
    )
    invite_expires_at: datetime | None
    emailed: bool = strawberry.field(description="The invite was sent (PRACTICUM_SMTP_URL).")


@strawberry.type
class ImportRosterPayload:
    section: Section
    rows: list[RosterRow]
    created: int
    enrolled: int = strawberry.field(description="Existing accounts newly enrolled.")
    rejected: int


@strawberry.type
class InviteMutations:
    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Teachers (their sections) and admins: enrol a class list. New emails get "
        "student accounts and one-time invite links (emailed when PRACTICUM_SMTP_URL is set); "
        "bad rows are reported and skipped.",
    )
    async def import_roster(self, info: Info, input: ImportRosterInput) -> ImportRosterPayload:
        ctx = info.context
        result = await invites.import_roster(
            ctx.session, ctx.settings, ctx.actor, parse_id(input.section_id, "sectionId"), input.csv
        )
        emailed = await deliver(info, result.letters())
        S = invites.RosterRowStatus
        return ImportRosterPayload(
            section=Section.from_model(result.section, ctx),
            rows=[
                RosterRow(
                    line=row.line,
                    email=row.email,
                    name=row.name,
                    status=row.status,
                    message=row.message,
                    user=User.from_model(row.user) if row.user else None,
                    invite_url=row.invite.url if row.invite else None,
                    invite_expires_at=row.invite.expires_at if row.invite else None,
                    emailed=bool(row.invite and emailed.get(row.email, False)),
                )
                for row in result.rows
            ],
            created=result.count(S.CREATED),
            enrolled=result.count(S.ENROLLED),
            rejected=result.count(S.REJECTED),
        )
