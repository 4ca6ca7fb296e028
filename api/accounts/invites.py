"""One-time account links (invites for new accounts, password resets) and roster imports.

A link's secret is 32 random bytes, shown (or emailed) once; only its SHA-256 is stored.
A link works once, until it expires, for an active account; making a new link of the
same purpose for a user ends their earlier unused ones.
"""

from __future__ import annotations

import csv
import hashlib
import io
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts import repository
from api.accounts.errors import AccountError
from api.accounts.mail import Letter, invite_letter, mail_enabled, reset_letter
from api.accounts.models import AccountLink, LinkPurpose, Role, User
from api.accounts.security import Actor, hash_password
from api.accounts.service import (
    EMAIL,
    LoginResult,
    check_active,
    check_password,
    end_every_login,
    issue_login,
)
from api.audit import service as audit
from api.audit.service import Action
from api.classes import repository as classes_repository
from api.classes import service as classes
from api.classes.models import Enrollment, Section
from api.config import Settings
from api.db.base import utcnow

SET_PASSWORD_PATH = "/set-password"
MAX_ROSTER_ROWS = 500
LINK_GONE = "This link is not valid any more: it was used, it expired, or it was replaced."


@dataclass(frozen=True)
class IssuedLink:
    user: User
    purpose: LinkPurpose
    url: str
    expires_at: datetime
    letter: Letter | None = None  # what to email, when mail is on


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def link_url(settings: Settings, secret: str) -> str:
    return f"{settings.link_base_url}{SET_PASSWORD_PATH}?token={secret}"


async def issue_link(
    session: AsyncSession,
    settings: Settings,
    user: User,
    purpose: LinkPurpose,
    created_by: uuid.UUID | None,
    section_name: str | None = None,
) -> IssuedLink:
    await session.execute(
        delete(AccountLink).where(
            AccountLink.user_id == user.id,
            AccountLink.purpose == purpose,
            AccountLink.used_at.is_(None),
        )
    )
    secret = secrets.token_urlsafe(32)
    if purpose is LinkPurpose.INVITE:
        lifetime = timedelta(days=settings.invite_days)
    else:
        lifetime = timedelta(hours=settings.password_reset_hours)
    expires_at = utcnow() + lifetime
    session.add(
        AccountLink(
            user_id=user.id,
            purpose=purpose,
            secret_hash=_hash(secret),
            expires_at=expires_at,
            created_by_id=created_by,
        )
    )
    await session.flush()
    url = link_url(settings, secret)
    letter = None
    if mail_enabled(settings):
        if purpose is LinkPurpose.INVITE:
            letter = invite_letter(user.name, user.email, url, settings.invite_days, section_name)
        else:
            letter = reset_letter(user.name, user.email, url, settings.password_reset_hours)
    return IssuedLink(user=user, purpose=purpose, url=url, expires_at=expires_at, letter=letter)


async def _usable_link(session: AsyncSession, secret: str) -> tuple[AccountLink, User]:
    secret = (secret or "").strip()
    link = None
    if secret and len(secret) <= 200:
        link = await session.scalar(
            select(AccountLink).where(AccountLink.secret_hash == _hash(secret))
        )
    if link is None or link.used_at is not None or link.expires_at <= utcnow():
        raise AccountError.not_found("This link")
    user = await repository.get(session, link.user_id)
    if user is None or not user.active:
        raise AccountError.not_found("This link")
    return link, user


async def inspect_link(session: AsyncSession, secret: str) -> tuple[AccountLink, User]:
    """What a link is for and whose it is, while it can be used; NOT_FOUND otherwise (the
    same answer for an unknown, used, expired or replaced link)."""
    return await _usable_link(session, secret)


async def accept_link(
    session: AsyncSession, settings: Settings, secret: str, password: str
) -> LoginResult:
    """Set the password with a link, once. Every earlier login of the account ends; the
    answer is a new login."""
    check_password(password)
    link, user = await _usable_link(session, secret)
    link.used_at = utcnow()
    user.password_hash = hash_password(password)
    await end_every_login(session, user)
    return issue_login(check_active(user), settings)


async def issue_password_reset(
    session: AsyncSession, settings: Settings, actor: Actor, user_id: uuid.UUID
) -> IssuedLink:
    """Admins only: a link that lets the user set a new password."""
    if not actor.is_admin:
        raise AccountError.forbidden("Only admins can issue password-reset links.")
    user = await repository.get(session, user_id)
    if user is None or user.service_account:
        raise AccountError.not_found("User")
    if not user.active:
        raise AccountError.conflict("This account is deactivated; reactivate it first.")
    issued = await issue_link(session, settings, user, LinkPurpose.PASSWORD_RESET, actor.id)
    await audit.record(
        session,
        actor,
        Action.USER_PASSWORD_RESET,
        "user",
        user.id,
        {"expires_at": issued.expires_at},
    )
    return issued


# Roster imports


class RosterRowStatus(StrEnum):
    CREATED = "CREATED"  # a new account, enrolled, with an invite link
    ENROLLED = "ENROLLED"  # an existing account, now enrolled
    ALREADY_ENROLLED = "ALREADY_ENROLLED"
    REJECTED = "REJECTED"  # nothing done: see `message`


@dataclass
class RosterRow:
    line: int
    email: str
    name: str
    status: RosterRowStatus
    message: str = ""
    user: User | None = None
    invite: IssuedLink | None = None
    emailed: bool = False


@dataclass
class RosterImport:
    section: Section
    rows: list[RosterRow] = field(default_factory=list)

    def letters(self) -> list[Letter]:
        return [r.invite.letter for r in self.rows if r.invite and r.invite.letter]

    def count(self, *statuses: RosterRowStatus) -> int:
        return sum(1 for row in self.rows if row.status in statuses)


def parse_roster(text: str) -> list[tuple[int, str, str]]:
    """(line, email, name) of each non-empty row of a CSV of emails and names. A header
    row naming `email` (and `name`) says which column is which; without one, the cell
    with an @ is the email and the next non-empty cell the name."""
    reader = csv.reader(io.StringIO((text or "").lstrip("\ufeff")))
    rows = []
    email_at, name_at = None, None
    for cells in reader:
        cells = [cell.strip() for cell in cells]
        if not any(cells):
            continue
        line = reader.line_num
        lowered = [cell.lower() for cell in cells]
        if not rows and email_at is None and any(c in ("email", "e-mail") for c in lowered):
            email_at = lowered.index("email") if "email" in lowered else lowered.index("e-mail")
            name_at = next((i for i, c in enumerate(lowered) if "name" in c), None)
            continue
        if email_at is not None:
            email = cells[email_at] if email_at < len(cells) else ""
            name = cells[name_at] if name_at is not None and name_at < len(cells) else ""
        else:
            at = next((i for i, cell in enumerate(cells) if "@" in cell), 0)
            email = cells[at]
            name = next((cell for i, cell in enumerate(cells) if i != at and cell), "")
        rows.append((line, email, name))
    return rows


async def import_roster(
    session: AsyncSession,
    settings: Settings,
    actor: Actor,
    section_id: uuid.UUID,
    text: str,
) -> RosterImport:
    """Enrol a class list in a section the actor manages: each new email gets a student
    account without a password and an invite link; an existing student is enrolled (and
    gets a fresh invite while they have never set a password). A bad row is reported and
    skipped; the good rows go in."""
    if actor.is_student:
        raise AccountError.forbidden("Only teachers and admins can import rosters.")
    section = await classes.get_managed_section(session, actor, section_id)
    parsed = parse_roster(text)
    if not parsed:
        raise AccountError.invalid("csv", "The list is empty: one email and name per line.")
    if len(parsed) > MAX_ROSTER_ROWS:
        raise AccountError.invalid(
            "csv", f"At most {MAX_ROSTER_ROWS} people per import ({len(parsed)} given)."
        )
    result = RosterImport(section=section)
    seen: dict[str, int] = {}
    for line, raw_email, raw_name in parsed:
        email, name = raw_email.strip().lower(), raw_name.strip()
        row = RosterRow(line=line, email=email, name=name, status=RosterRowStatus.REJECTED)
        result.rows.append(row)
        if not EMAIL.match(email) or len(email) > 320 or "\x00" in email + name:
            row.message = "Not an email address."
        elif email in seen:
            row.message = f"The same email as line {seen[email]}."
        elif len(name) > settings.max_name_chars:
            row.message = f"The name is too long (at most {settings.max_name_chars} characters)."
        if row.message:
            continue
        seen[email] = line
        try:
            async with session.begin_nested():
                await _enrol_row(session, settings, actor, section, row)
        except IntegrityError:  # someone made the account at this moment: try once more
            async with session.begin_nested():
                await _enrol_row(session, settings, actor, section, row)
    await _audit_import(session, actor, result)
    return result


async def _audit_import(session: AsyncSession, actor: Actor, result: RosterImport) -> None:
    """One entry for the import (counts, no emails), and one per invite issued."""
    S = RosterRowStatus
    await audit.record(
        session,
        actor,
        Action.SECTION_ROSTER_IMPORT,
        "section",
        result.section.id,
        {
            "rows": len(result.rows),
            "created": result.count(S.CREATED),
            "enrolled": result.count(S.ENROLLED),
            "already_enrolled": result.count(S.ALREADY_ENROLLED),
            "rejected": result.count(S.REJECTED),
        },
    )
    for row in result.rows:
        if row.invite is not None:
            await audit.record(
                session,
                actor,
                Action.USER_INVITE,
                "user",
                row.invite.user.id,
                {"section_id": result.section.id, "expires_at": row.invite.expires_at},
            )


async def _enrol_row(
    session: AsyncSession, settings: Settings, actor: Actor, section: Section, row: RosterRow
) -> None:
    user = await repository.get_by_email(session, row.email)
    if user is not None and (user.service_account or user.erased_at is not None):
        row.message = "This address belongs to no person's account here."
        return
    if user is not None and user.role is not Role.STUDENT:
        row.message = f"This is a {user.role.value.lower()}'s account; only students are enrolled."
        return
    if user is None:
        if not row.name:
            row.message = "A name is needed for a new account."
            return
        user = User(email=row.email, name=row.name, role=Role.STUDENT, password_hash="")
        await repository.add(session, user)
        row.status = RosterRowStatus.CREATED
    elif await classes_repository.get_enrollment(session, section.id, user.id) is not None:
        row.status = RosterRowStatus.ALREADY_ENROLLED
    else:
        row.status = RosterRowStatus.ENROLLED
    row.user, row.name = user, user.name
    if row.status is not RosterRowStatus.ALREADY_ENROLLED:
        await classes_repository.add(session, Enrollment(section_id=section.id, student_id=user.id))
    if not user.password_hash and user.active:  # never set a password: (re)invite
        row.invite = await issue_link(
            session, settings, user, LinkPurpose.INVITE, actor.id, section.name
        )
    if not user.active:
        row.message = "This account is deactivated; it is enrolled but cannot sign in."
